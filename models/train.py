"""Training: ``python -m models.train {tokenizer,sentiment,ner} [--epochs N] [--threads T]``.

Seeded and CPU-only. Trains on TRAIN minus the DEV slice (``i % 10 == 8``), keeps the epoch with the
best DEV score, and writes ``models/checkpoints/<task>.pt`` + ``<task>.json`` (the export input).
``ner --refit`` then trains on all of TRAIN (DEV included) for the epochs DEV picked, as the anchors are
fitted on all of TRAIN. TEST is never read here.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from tqdm import tqdm
from transformers import BertConfig

from models.batching import batches, pad
from models.calibration import fit_temperature, summary
from models.data import NerExample, ner_split, sentiment_split
from models.generate import Generator, LiveComment
from models.modeling import NER_LABELS, SENTIMENT_LABELS, NerModel, SentimentModel, bert_config
from models.pretrain import pretrain_encoder, windows
from models.serving import (
    CTX_BUCKETS,
    LEX_DIM,
    LEX_TYPES,
    NGRAM_BUCKETS,
    Lexicon,
    bigram_ids,
    bio_to_spans,
    clean_text,
    context_ids,
    ngram_counts,
    ngram_inputs,
    viterbi_bio,
)
from models.tokenizer import build_tokenizer

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"
CHECKPOINTS = HERE / "checkpoints"
TOKENIZER = ARTIFACTS / "tokenizer.json"
BIGRAMS = ARTIFACTS / "bigrams.npy"
LEXICON = ARTIFACTS / "ner_lexicon.json"
BIGRAM_MIN_COUNT = 3
BIGRAM_MAX = 40000
LEX_FOLDS = 5  # jackknife: a TRAIN paragraph sees the lexicon of the other folds only
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
    "ner": HParams(hidden=96, layers=1, heads=3, epochs=6, lr=1.5e-3, batch=32),
}
NER_WIDE_LR = 10.0  # DEV F1 after one epoch: 1x 0.900, 10x 0.928; 3 epochs: 10x 0.936, 30x 0.923
NER_CRF = True  # CRF loss + CRF decoding: DEV F1 after 3 epochs 0.936 -> 0.947
NER_CRF_EXPERT = True  # add an L-BFGS CRF over the same context features (product of experts): DEV PD F1 0.940 -> 0.957
CRF_EXPERT_SETTINGS = {"c1": 0.1, "c2": 0.1, "max_iterations": 100}  # the CRF anchor's settings, not tuned
NER_REFIT_EPOCHS = 4  # --refit: epochs of the 6-epoch schedule kept (the best DEV epoch of the v3 run)
SENTIMENT_MLM_STEPS = 1800  # MLM steps of the sentiment encoder before its supervised epochs (models.pretrain)
MLM_BATCH = 64
MLM_LR = 1e-3
MLM_CHECKPOINT = CHECKPOINTS / "sentiment_mlm.pt"


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


def load_or_build_bigrams(tok: Tokenizer) -> np.ndarray:
    """Sorted token-bigram keys (left * vocab + right) seen >= BIGRAM_MIN_COUNT times in TRAIN-only text
    (sentiment reviews, People's Daily paragraphs) and the generated training comments; the
    BIGRAM_MAX most frequent (ties by key). Built once and shipped like the tokenizer."""
    if BIGRAMS.exists():
        return np.load(BIGRAMS)
    texts = [e.text for e in sentiment_split("train_only")] + [e.text for e in ner_split("train_only")]
    texts += [c.text for c in Generator(GEN_SEEDS["sentiment"]).make(N_GENERATED)]
    texts += [c.text for c in Generator(GEN_SEEDS["ner"]).make(N_GENERATED)]
    tok.no_truncation()
    v = tok.get_vocab_size()
    counts: dict[int, int] = {}
    for enc in tok.encode_batch(texts):
        ids = enc.ids
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            k = a * v + b
            counts[k] = counts.get(k, 0) + 1
    keep = sorted((k for k, c in counts.items() if c >= BIGRAM_MIN_COUNT), key=lambda k: (-counts[k], k))[:BIGRAM_MAX]
    table = np.array(sorted(keep), dtype=np.int64)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    np.save(BIGRAMS, table)
    return table


def lexicon_entries(examples: Sequence[NerExample]) -> dict[str, int]:
    """Entity string -> bit mask over LEX_TYPES, from the gold spans of ``examples``."""
    out: dict[str, int] = {}
    for e in examples:
        for s, t, typ in e.spans:
            if typ in LEX_TYPES:
                out[e.text[s:t]] = out.get(e.text[s:t], 0) | 1 << LEX_TYPES.index(typ)
    return out


def write_lexicon(path: Path = LEXICON) -> Path:
    """The shipped lexicon: every PER/LOC/ORG string of the NER TRAIN split (DEV included, TEST never)."""
    entries = lexicon_entries(ner_split("train"))
    path.write_text(json.dumps({"types": list(LEX_TYPES), "source": "People's Daily 1998-01 TRAIN split (i % 10 != 9)",
                                "entries": dict(sorted(entries.items()))}, ensure_ascii=False, indent=0) + "\n",
                    encoding="utf-8")
    return path


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


def ner_windows(tok: Tokenizer, items: Sequence[tuple[str, Sequence[tuple[int, int, str]]]],
                lexicons: Sequence[Lexicon | None] | None = None
                ) -> tuple[list[list[int]], list[list[int]], list[np.ndarray]]:
    """Tokenise whole texts, then cut into windows of MAX_LEN-2 tokens each wrapped in [CLS] .. [SEP].
    Also returns each window's lexicon flags [len, LEX_DIM] (uint8) from ``lexicons[i]`` (None: zeros)."""
    tok.no_truncation()
    cls_id, sep_id, _ = special_ids(tok)
    xs: list[list[int]] = []
    ys: list[list[int]] = []
    lx: list[np.ndarray] = []
    for k, ((text, spans), enc) in enumerate(zip(items, tok.encode_batch([t for t, _ in items]), strict=True)):
        tags = token_tags(enc.offsets, enc.special_tokens_mask, spans, len(text))
        lex = lexicons[k] if lexicons is not None else None
        flags = (lex.token_flags(text, enc.offsets, enc.special_tokens_mask) if lex is not None
                 else np.zeros((len(enc.ids), LEX_DIM), dtype=np.float32)).astype(np.uint8)[1:-1]
        ids, tags = enc.ids[1:-1], tags[1:-1]
        w = MAX_LEN - 2
        zero = np.zeros((1, LEX_DIM), dtype=np.uint8)
        for s in range(0, max(len(ids), 1), w):
            xs.append([cls_id, *ids[s:s + w], sep_id])
            ys.append([-100, *tags[s:s + w], -100])
            lx.append(np.concatenate([zero, flags[s:s + w], zero]))
    return xs, ys, lx


def ner_batch(xs: Sequence[Sequence[int]], lx: Sequence[np.ndarray], table: np.ndarray, vocab: int
              ) -> tuple[torch.Tensor, ...]:
    """Padded (input_ids, attention_mask, bigram_ids, lexicon, ctx_ids) tensors of a batch of NER windows."""
    ids = pad(xs, 0)
    lex = np.zeros((*ids.shape, LEX_DIM), dtype=np.float32)
    for k, f in enumerate(lx):
        lex[k, :len(f)] = f
    big = torch.from_numpy(bigram_ids(ids.numpy(), table, vocab))
    return ids, (ids != 0).long(), big, torch.from_numpy(lex), torch.from_numpy(context_ids(ids.numpy()))


def ner_lexicons(train: Sequence[NerExample], n_generated: int) -> list[Lexicon | None]:
    """Jackknifed lexicons for TRAIN paragraphs (fold (index // 10) % LEX_FOLDS sees the other folds'
    entities only, so lexicon coverage in training resembles unseen text) and the full one for the
    generated comments."""
    fold = [(e.index // 10) % LEX_FOLDS for e in train]
    lex = [Lexicon(lexicon_entries([e for e, f in zip(train, fold, strict=True) if f != k])) for k in range(LEX_FOLDS)]
    full = Lexicon(lexicon_entries(train))
    out: list[Lexicon | None] = [lex[f] for f in fold]
    return out + [full] * n_generated


def ner_items(examples: Sequence[NerExample], comments: Sequence[LiveComment]
              ) -> Sequence[tuple[str, Sequence[tuple[int, int, str]]]]:
    return [(e.text, e.spans) for e in examples] + [(c.text, c.spans) for c in comments]


def _optimizer(model: nn.Module, hp: HParams, total: int, wide_lr: float = 1.0
               ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with linear warm-up and decay; a wide branch (``wide.*``) trains at ``wide_lr`` x lr, no decay."""
    params = [(n, p) for n, p in model.named_parameters() if not n.startswith("wide.")]
    wide = [p for n, p in model.named_parameters() if n.startswith("wide.")]
    decay = [p for n, p in params if p.ndim > 1 and "LayerNorm" not in n]
    no_decay = [p for n, p in params if not (p.ndim > 1 and "LayerNorm" not in n)]
    groups = [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}]
    if wide:
        groups.append({"params": wide, "weight_decay": 0.0, "lr": hp.lr * wide_lr})
    opt = torch.optim.AdamW(groups, lr=hp.lr)
    warm = max(1, int(0.05 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    return opt, sched


@torch.no_grad()
def sentiment_dev_logits(model: SentimentModel, xs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Deep-branch (sentiment, question) logits of ``xs`` in input order."""
    model.eval()
    s_logits: list[np.ndarray] = []
    q_logits: list[np.ndarray] = []
    order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
    for j in range(0, len(order), 128):
        b = order[j:j + 128]
        ids = pad([xs[i] for i in b], 0)
        s, q = model.deep(ids, (ids != 0).long(), {})
        s_logits.append(s.numpy())
        q_logits.append(q.numpy())
    inv = np.empty(len(order), dtype=int)
    inv[order] = np.arange(len(order))
    model.train()
    return np.concatenate(s_logits)[inv], np.concatenate(q_logits)[inv]


def sentiment_scores(s_all: np.ndarray, q_all: np.ndarray, ys: Sequence[int], qs: Sequence[int], n_reviews: int
                     ) -> dict[str, float]:
    """DEV accuracy: reviews restricted to pos/neg and served 3-way; generated comments 3-way; question."""
    y, q = np.array(ys), np.array(qs)
    pred3 = s_all.argmax(1)
    pred2 = np.where(s_all[:, 2] > s_all[:, 0], 2, 0)
    r, g = slice(0, n_reviews), slice(n_reviews, None)
    qm = q >= 0
    return {
        "review_acc_served": float((pred3[r] == y[r]).mean()),
        "review_acc_posneg": float((pred2[r] == y[r]).mean()),
        "generated_acc": float((pred3[g] == y[g]).mean()),
        "question_acc": float((q_all[qm].argmax(1) == q[qm]).mean()),
    }


def sentiment_dev_scores(model: SentimentModel, xs: Sequence[Sequence[int]], ys: Sequence[int], qs: Sequence[int],
                         n_reviews: int) -> dict[str, float]:
    return sentiment_scores(*sentiment_dev_logits(model, xs), ys, qs, n_reviews)


# ---------------------------------------------------------------- wide n-gram branch
WIDE_C = (4.0, 16.0, 64.0)  # logistic-regression C, picked on DEV
WIDE_SCALE = (0.5, 1.0, 1.5, 2.0, 3.0)  # weight of the wide logits against the deep ones, picked on DEV


def ngram_matrix(texts: Sequence[str]) -> Any:
    """CSR [texts, NGRAM_BUCKETS] of sublinear tf (1 + ln count), as ``serving.ngram_inputs`` feeds them."""
    from scipy import sparse

    rows, cols, vals = [], [], []
    for k, t in enumerate(texts):
        for b, c in ngram_counts(clean_text(t)).items():
            rows.append(k)
            cols.append(b)
            vals.append(1.0 + math.log(c))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), NGRAM_BUCKETS), dtype=np.float64)


def tfidf(tf: Any, idf: np.ndarray) -> Any:
    from sklearn.preprocessing import normalize

    return normalize(tf.multiply(idf[None, :]).tocsr(), norm="l2")


def fit_wide(tf: Any, ys: Sequence[int], c: float) -> tuple[np.ndarray, Any]:
    """Smoothed idf (as scikit-learn's TfidfVectorizer; 0 for buckets never seen) of the tf matrix
    (``ngram_matrix``) and the fitted multinomial logistic regression over neg/neu/pos."""
    from sklearn.linear_model import LogisticRegression

    df = np.bincount(tf.indices, minlength=NGRAM_BUCKETS)
    idf = np.where(df > 0, np.log((1 + tf.shape[0]) / (1 + df)) + 1.0, 0.0)
    lr = LogisticRegression(C=c, max_iter=3000).fit(tfidf(tf, idf), list(ys))
    return idf, lr


def wide_logits(idf: np.ndarray, lr: Any, tf: Any) -> np.ndarray:
    out = np.zeros((tf.shape[0], len(SENTIMENT_LABELS)))
    out[:, lr.classes_] = lr.decision_function(tfidf(tf, idf))
    return out


def attach_wide(model: SentimentModel, idf: np.ndarray, lr: Any, scale: float) -> SentimentModel:
    """A copy of ``model`` with the wide branch set to (idf, LR weights, scale)."""
    cfg = BertConfig(**{**model.config.to_dict(), "ngram_buckets": NGRAM_BUCKETS})
    wide = SentimentModel(cfg)
    wide.load_state_dict(model.state_dict(), strict=False)
    assert wide.wide is not None
    w = np.zeros((NGRAM_BUCKETS, len(SENTIMENT_LABELS)), dtype=np.float32)
    w[:, lr.classes_] = lr.coef_.T
    b = np.zeros(len(SENTIMENT_LABELS), dtype=np.float32)
    b[lr.classes_] = lr.intercept_
    with torch.no_grad():
        wide.wide.idf.weight.copy_(torch.from_numpy(idf.astype(np.float32))[:, None])
        wide.wide.weight.weight.copy_(torch.from_numpy(w))
        wide.wide.bias.copy_(torch.from_numpy(b))
        wide.wide.scale.fill_(scale)
    return wide.eval()


def train_wide(deep: SentimentModel, reviews: Sequence[tuple[str, str]], all_reviews: Sequence[tuple[str, str]],
               comments: Sequence[LiveComment], dev_texts: Sequence[str], dxs: Sequence[Sequence[int]],
               dys: Sequence[int], dqs: Sequence[int], n_dev_reviews: int) -> tuple[SentimentModel, dict[str, Any]]:
    """Stage 2: fit the wide branch on TRAIN-only reviews + generated comments for each C, pick C and the
    wide scale on DEV (deep logits + scale * wide logits), then refit with that C on all TRAIN reviews
    (DEV included, as the TF-IDF anchor is refit) + the same comments."""
    lab = {s: i for i, s in enumerate(SENTIMENT_LABELS)}
    texts = [t for t, _ in reviews] + [c.text for c in comments]
    ys = [lab[y] for _, y in reviews] + [lab[c.sentiment] for c in comments]
    s_dev, q_dev = sentiment_dev_logits(deep, dxs)
    tf, tf_dev = ngram_matrix(texts), ngram_matrix(dev_texts)
    grid: dict[str, dict[str, float]] = {}
    best: tuple[float, float, float] = (-1.0, 0.0, 0.0)
    w_devs: dict[float, np.ndarray] = {}
    for c in tqdm(WIDE_C, desc="wide C"):
        idf, lr = fit_wide(tf, ys, c)
        w_dev = w_devs[c] = wide_logits(idf, lr, tf_dev)
        for scale in WIDE_SCALE:
            sc = sentiment_scores(s_dev + scale * w_dev, q_dev, dys, dqs, n_dev_reviews)
            grid[f"C={c} scale={scale}"] = sc
            score = sc["review_acc_served"] + sc["generated_acc"]
            if score > best[0]:
                best = (score, c, scale)
    _, c, scale = best
    calibration = fit_sentiment_temperature(s_dev + scale * w_devs[c], dys)
    all_texts = [t for t, _ in all_reviews] + [c_.text for c_ in comments]
    all_ys = [lab[y] for _, y in all_reviews] + [lab[c_.sentiment] for c_ in comments]
    idf, lr = fit_wide(ngram_matrix(all_texts), all_ys, c)
    wide = attach_wide(deep, idf, lr, scale)
    check = sentiment_scores(*sentiment_torch_logits(wide, dxs, dev_texts), dys, dqs, n_dev_reviews)
    return wide, {"C": c, "scale": scale, "calibration": calibration, "dev": grid[f"C={c} scale={scale}"], "grid": grid,
                  "deep_only_dev": sentiment_scores(s_dev, q_dev, dys, dqs, n_dev_reviews),
                  "refit_on_train_dev_not_blind": check}


def fit_sentiment_temperature(logits: np.ndarray, labels: Sequence[int]) -> dict[str, float]:
    """Temperature of the served sentiment softmax (``models.calibration``), fitted on the DEV logits of the
    selection model (deep branch + the picked C and scale, wide branch fitted on TRAIN minus DEV), i.e.
    on data neither branch trained on; the refit on all TRAIN keeps it. DEV NLL and ECE before / after."""
    t = fit_temperature(logits, labels)
    before, after = summary(logits, labels, 1.0), summary(logits, labels, t)
    return {"temperature": t, "dev_nll_t1": before["nll"], "dev_nll": after["nll"],
            "dev_ece_t1": before["ece"], "dev_ece": after["ece"]}


@torch.no_grad()
def sentiment_torch_logits(model: SentimentModel, xs: Sequence[Sequence[int]], texts: Sequence[str]
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Full-model (deep + wide) logits through the torch graph with serving's n-gram inputs."""
    s_out, q_out = [], []
    for j in range(0, len(xs), 128):
        ids = pad(xs[j:j + 128], 0)
        g_ids, g_tf = ngram_inputs([clean_text(t) for t in texts[j:j + 128]])
        s, q = model(ids, (ids != 0).long(), torch.from_numpy(g_ids), torch.from_numpy(g_tf))
        s_out.append(s.numpy())
        q_out.append(q.numpy())
    return np.concatenate(s_out), np.concatenate(q_out)


def sentiment_mlm_corpus(tok: Tokenizer) -> list[list[int]]:
    """Unlabelled in-domain text for the encoder's MLM pretraining, from TRAIN minus DEV only: the reviews
    (in windows of MAX_LEN tokens) and the generated training comments (seed ``GEN_SEEDS["sentiment"]``)."""
    tok.no_truncation()
    cls_id, sep_id, _ = special_ids(tok)
    texts = [e.text for e in sentiment_split("train_only")]
    texts += [c.text for c in Generator(GEN_SEEDS["sentiment"]).make(N_GENERATED)]
    out = [w for enc in tok.encode_batch(texts) for w in windows(enc.ids[1:-1], MAX_LEN, cls_id, sep_id)]
    tok.enable_truncation(MAX_LEN)
    return out


def pretrain_sentiment(hp: HParams, steps: int = SENTIMENT_MLM_STEPS) -> dict[str, Any]:
    """MLM pretraining of a fresh sentiment encoder (``models.pretrain``); writes ``MLM_CHECKPOINT``."""
    tok = load_or_build_tokenizer()
    model = SentimentModel(bert_config(tok.get_vocab_size(), hp.hidden, hp.layers, hp.heads, MAX_LEN,
                                       len(SENTIMENT_LABELS)))
    corpus = sentiment_mlm_corpus(tok)
    losses = pretrain_encoder(model, corpus, steps=steps, batch=MLM_BATCH, lr=MLM_LR,
                              mask_id=special_ids(tok)[2], seed=SEED)
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), MLM_CHECKPOINT)
    return {"steps": steps, "corpus": len(corpus), "first_loss": losses[0],
            "last_100_loss": float(np.mean(losses[-100:])), "checkpoint": str(MLM_CHECKPOINT)}


def train_sentiment(hp: HParams, wide_only: bool = False, pretrained: bool = False) -> dict[str, Any]:
    """Stage 1 trains the deep model from random weights (the shipped recipe) or, with ``pretrained``, from
    the MLM-pretrained encoder (``MLM_CHECKPOINT``, written by ``pretrain_sentiment``; ``wide_only``: reuse
    the deep checkpoint), stage 2 the wide branch."""
    tok = load_or_build_tokenizer()
    reviews = [(e.text, e.label) for e in sentiment_split("train_only")]
    dev_reviews = [(e.text, e.label) for e in sentiment_split("dev")]
    comments, dev_comments = Generator(GEN_SEEDS["sentiment"]).make(N_GENERATED), Generator(GEN_SEEDS["sentiment_dev"]).make(1000)
    xs, ys, qs = sentiment_data(tok, reviews, comments)
    dxs, dys, dqs = sentiment_data(tok, dev_reviews, dev_comments)
    deep_path = CHECKPOINTS / "sentiment_deep.pt"
    if wide_only:
        meta = json.loads((CHECKPOINTS / "sentiment.json").read_text())
        cfg = BertConfig(**{**meta["bert"], "ngram_buckets": 0})
        model = SentimentModel(cfg)
        model.load_state_dict(torch.load(deep_path, map_location="cpu", weights_only=True))
        best: dict[str, Any] = {"deep": "reused " + str(deep_path.name)}
    else:
        model = SentimentModel(bert_config(tok.get_vocab_size(), hp.hidden, hp.layers, hp.heads, MAX_LEN,
                                           len(SENTIMENT_LABELS)))
        if pretrained:
            if not MLM_CHECKPOINT.exists():
                raise SystemExit(f"{MLM_CHECKPOINT} missing: run `python -m models.train sentiment-mlm` first "
                                 "(or leave out --pretrained)")
            model.load_state_dict(torch.load(MLM_CHECKPOINT, map_location="cpu", weights_only=True))
        model, best = train_deep_sentiment(hp, model, xs, ys, qs, dxs, dys, dqs, len(dev_reviews), deep_path)
        best["encoder"] = MLM_CHECKPOINT.name if pretrained else "from scratch"
    train_all = [(e.text, e.label) for e in sentiment_split("train")]
    dev_texts = [t for t, _ in dev_reviews] + [c.text for c in dev_comments]
    wide, info = train_wide(model, reviews, train_all, comments, dev_texts, dxs, dys, dqs, len(dev_reviews))
    save_checkpoint("sentiment", wide, hp, {"wide": {k: info[k] for k in ("C", "scale")}, **info["calibration"]})
    return {**best, "wide": info}


def train_deep_sentiment(hp: HParams, model: SentimentModel, xs: Sequence[Sequence[int]], ys: Sequence[int],
                         qs: Sequence[int], dxs: Sequence[Sequence[int]], dys: Sequence[int], dqs: Sequence[int],
                         n_dev_reviews: int, path: Path) -> tuple[SentimentModel, dict[str, Any]]:
    """Train the deep branch ``model`` (fresh or MLM-pretrained), epoch kept by DEV (served review accuracy
    + generated accuracy), saved at ``path``."""
    rng = random.Random(SEED)
    lengths = [len(x) for x in xs]
    total = hp.epochs * len(batches(lengths, hp.batch, random.Random(0)))
    opt, sched = _optimizer(model, hp, total)
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    best: dict[str, Any] = {}
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
        scores = sentiment_dev_scores(model, dxs, dys, dqs, n_dev_reviews)
        score = scores["review_acc_served"] + scores["generated_acc"]
        tqdm.write(f"epoch {epoch + 1} dev {json.dumps(scores)}")
        if not best or score > best["_score"]:
            best = {**scores, "_score": score, "epoch": epoch + 1}
            CHECKPOINTS.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), path)
    bar.close()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), best


def fit_crf_expert(xs: Sequence[Sequence[int]], ys: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The CRF expert of the NER model: a linear-chain CRF fitted by L-BFGS (sklearn-crfsuite, L1 + L2,
    ``CRF_EXPERT_SETTINGS``) on the training windows, over the wide tagger's own hashed context features
    (``serving.context_ids``, one attribute per feature id). Returns its state weights as a
    [CTX_BUCKETS, tags] table and its transitions [prev, cur], in ``NER_LABELS`` order; added to the
    network's wide table and CRF transitions they make one model whose scores are the sum of both."""
    import sklearn_crfsuite

    seqs, tags = [], []
    for x, y in zip(xs, ys, strict=True):
        ctx = context_ids(np.asarray([x], dtype=np.int64))[0]
        keep = [i for i, v in enumerate(y) if v >= 0]
        seqs.append([[str(int(b)) for b in ctx[i]] for i in keep])
        tags.append([NER_LABELS[y[i]] for i in keep])
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", **CRF_EXPERT_SETTINGS)
    crf.fit(seqs, tags)
    lab = {t: i for i, t in enumerate(NER_LABELS)}
    state = np.zeros((CTX_BUCKETS, len(NER_LABELS)), dtype=np.float32)
    for (attr, t), w in crf.state_features_.items():
        state[int(attr), lab[t]] = w
    trans = np.zeros((len(NER_LABELS), len(NER_LABELS)), dtype=np.float32)
    for (a, b), w in crf.transition_features_.items():
        trans[lab[a], lab[b]] = w
    return state, trans


def add_crf_expert(model: NerModel, state: np.ndarray, trans: np.ndarray) -> NerModel:
    """``model`` with the CRF expert's tables added to its wide tagger and CRF transitions (in place)."""
    if model.wide is None or model.crf is None:
        raise ValueError("the CRF expert needs a model with a wide tagger and CRF transitions")
    with torch.no_grad():
        model.wide.weight.weight.add_(torch.from_numpy(state))
        model.crf.trans.add_(torch.from_numpy(trans))
    return model


def train_ner(hp: HParams, limit: int = 0, stop_after: int = 0, wide_lr: float = 1.0, refit: bool = False,
              crf_expert: bool = NER_CRF_EXPERT) -> dict[str, float]:
    """Train on TRAIN minus DEV and keep the best DEV epoch; with ``refit``, train on all of TRAIN (DEV
    included, as the anchors are) with the same schedule and keep the model after ``stop_after`` epochs
    (default ``NER_REFIT_EPOCHS``, the epoch DEV picked): DEV scores are then printed but select nothing.
    With ``crf_expert`` the kept network is then summed with a CRF fitted on the same windows
    (``fit_crf_expert``)."""
    tok = load_or_build_tokenizer()
    table = load_or_build_bigrams(tok)
    vocab = tok.get_vocab_size()
    train, dev = ner_split("train" if refit else "train_only"), ner_split("dev")
    if refit:
        stop_after = stop_after or NER_REFIT_EPOCHS
    gen, gen_dev = Generator(GEN_SEEDS["ner"]).make(N_GENERATED), Generator(GEN_SEEDS["ner_dev"]).make(1000)
    if limit:  # prototyping on a subset (never for the shipped model)
        train, gen = train[:limit], gen[:limit * 12 // 15]
    xs, ys, lx = ner_windows(tok, ner_items(train, gen), ner_lexicons(train, len(gen)))
    dev_lex = Lexicon(lexicon_entries(train))
    dxs, dys, dlx = ner_windows(tok, ner_items(dev, gen_dev), [dev_lex] * (len(dev) + len(gen_dev)))
    cfg = bert_config(vocab, hp.hidden, hp.layers, hp.heads, MAX_LEN, len(NER_LABELS),
                      bigram_vocab=len(table), lexicon_dim=LEX_DIM, ctx_buckets=CTX_BUCKETS, crf=NER_CRF)
    model = NerModel(cfg)
    rng = random.Random(SEED)
    lengths = [len(x) for x in xs]
    total = hp.epochs * len(batches(lengths, hp.batch, random.Random(0)))
    opt, sched = _optimizer(model, hp, total, wide_lr)
    ce = nn.CrossEntropyLoss(ignore_index=-100)
    best: dict[str, float] = {}
    bar = tqdm(total=total, desc="ner", unit="step")
    for epoch in range(hp.epochs):
        model.train()
        for b in batches(lengths, hp.batch, rng):
            logits = model(*ner_batch([xs[i] for i in b], [lx[i] for i in b], table, vocab))
            tags = pad([ys[i] for i in b], -100)
            loss = ce(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1))
            if model.crf is not None:
                loss = loss + model.crf.nll(logits, tags) / max(1, int((tags >= 0).sum(1).float().mean()))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        f1 = ner_dev_f1(model, dxs, dys, dlx, table, vocab)
        tqdm.write(f"epoch {epoch + 1} dev entity F1 (windows, DEV paragraphs / generated"
                   f"{'; DEV is in the refit TRAIN, so this selects nothing' if refit else ''}) {json.dumps(f1)}")
        if refit:
            if epoch + 1 >= stop_after:
                best = {"refit_epochs": epoch + 1, "dev_f1_seen": f1["all"]}
                save_checkpoint("ner", model, hp)
        elif not best or f1["all"] > best["dev_f1"]:
            best = {"dev_f1": f1["all"], **{f"dev_f1_{k}": v for k, v in f1.items()}, "epoch": epoch + 1}
            save_checkpoint("ner", model, hp)
        if stop_after and epoch + 1 >= stop_after:
            break
    bar.close()
    if crf_expert:
        tqdm.write(f"fitting the CRF expert on {len(xs)} training windows ({CRF_EXPERT_SETTINGS})")
        t0 = time.time()
        state, trans = fit_crf_expert(xs, ys)
        model.load_state_dict(torch.load(CHECKPOINTS / "ner.pt", map_location="cpu", weights_only=True))
        add_crf_expert(model, state, trans)
        f1 = ner_dev_f1(model, dxs, dys, dlx, table, vocab)
        tqdm.write(f"with the CRF expert ({time.time() - t0:.0f} s): dev entity F1 {json.dumps(f1)}")
        best = {**best, "crf_expert_dev_f1_seen": f1["all"], "crf_expert_dev_f1_pd": f1["pd"]}
        save_checkpoint("ner", model, hp, {"crf_expert": CRF_EXPERT_SETTINGS})
    return best


@torch.no_grad()
def ner_dev_f1(model: NerModel, xs: Sequence[Sequence[int]], ys: Sequence[Sequence[int]], lx: Sequence[np.ndarray],
               table: np.ndarray, vocab: int) -> dict[str, float]:
    """Entity F1 with BIO-constrained Viterbi decoding (as served) on the DEV windows: all, pd (PER + LOC +
    ORG, the DEV paragraphs' types), each of them, and the commerce types (generated DEV comments)."""
    model.eval()
    counts: dict[str, list[int]] = {k: [0, 0, 0] for k in ("all", "pd", "PER", "LOC", "ORG", "commerce")}
    order = sorted(range(len(xs)), key=lambda i: len(xs[i]))
    for j in range(0, len(order), 64):
        b = order[j:j + 64]
        logits = model(*ner_batch([xs[i] for i in b], [lx[i] for i in b], table, vocab)).numpy()
        mask = np.zeros(logits.shape[:2], dtype=bool)
        for k, i in enumerate(b):
            mask[k, :len(ys[i])] = np.array(ys[i]) >= 0
        pred = viterbi_bio(logits, NER_LABELS, mask, None if model.crf is None else model.crf.tables())
        for k, i in enumerate(b):
            keep = [t for t, v in enumerate(ys[i]) if v >= 0]
            gold = set(bio_to_spans([NER_LABELS[ys[i][t]] for t in keep]))
            got = set(bio_to_spans([NER_LABELS[pred[k, t]] for t in keep]))
            for key in counts:
                def sel(spans: set[tuple[int, int, str]], key: str = key) -> set[tuple[int, int, str]]:
                    if key == "all":
                        return spans
                    if key == "commerce":
                        return {x for x in spans if x[2] not in LEX_TYPES}
                    if key == "pd":
                        return {x for x in spans if x[2] in LEX_TYPES}
                    return {x for x in spans if x[2] == key}
                g, p = sel(gold), sel(got)
                c = counts[key]
                c[0], c[1], c[2] = c[0] + len(g & p), c[1] + len(p - g), c[2] + len(g - p)
    model.train()
    return {k: round(2 * tp / max(1, 2 * tp + fp + fn), 4) for k, (tp, fp, fn) in counts.items()}


def special_ids(tok: Tokenizer) -> tuple[int, int, int]:
    """[CLS], [SEP], [MASK] ids (the tokenizer always defines them, see models/tokenizer.py)."""
    ids = [tok.token_to_id(t) for t in ("[CLS]", "[SEP]", "[MASK]")]
    if any(i is None for i in ids):
        raise ValueError(f"tokenizer lacks special tokens: {ids}")
    return int(ids[0] or 0), int(ids[1] or 0), int(ids[2] or 0)


def save_checkpoint(task: str, model: SentimentModel | NerModel, hp: HParams, extra: dict[str, Any] | None = None
                    ) -> None:
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), CHECKPOINTS / f"{task}.pt")
    meta = {"task": task, "hparams": hp.__dict__, "bert": model.config.to_dict(), "max_len": MAX_LEN,
            "labels": list(SENTIMENT_LABELS if task == "sentiment" else NER_LABELS), **(extra or {})}
    (CHECKPOINTS / f"{task}.json").write_text(json.dumps(meta, indent=1, default=str))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("task", choices=["tokenizer", "sentiment-mlm", "sentiment", "ner"])
    ap.add_argument("--epochs", type=int, default=0, help="override the default epochs of the task")
    ap.add_argument("--hidden", type=int, default=0, help="override the hidden size of the task (exploration)")
    ap.add_argument("--layers", type=int, default=0, help="override the transformer layers of the task (exploration)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    ap.add_argument("--limit", type=int, default=0, help="prototype on the first N paragraphs (NER only)")
    ap.add_argument("--stop-after-epoch", type=int, default=0,
                    help="NER: stop after this many epochs of the --epochs schedule (CPU budget)")
    ap.add_argument("--wide-lr", type=float, default=NER_WIDE_LR,
                    help=f"NER: learning-rate multiplier of the wide tagger (default {NER_WIDE_LR}, picked on DEV)")
    ap.add_argument("--refit", action="store_true",
                    help=f"NER: train on all TRAIN (DEV included) and keep the model after --stop-after-epoch "
                         f"(default {NER_REFIT_EPOCHS}, picked on DEV) instead of the best DEV epoch")
    ap.add_argument("--no-crf-expert", action="store_true",
                    help="NER: keep the network alone (no CRF expert summed into its tables; ablation)")
    ap.add_argument("--mlm-steps", type=int, default=SENTIMENT_MLM_STEPS,
                    help=f"sentiment-mlm: MLM pretraining steps (default {SENTIMENT_MLM_STEPS})")
    ap.add_argument("--pretrained", action="store_true",
                    help="sentiment: start the encoder from checkpoints/sentiment_mlm.pt (written by sentiment-mlm) "
                         "instead of random weights (an experiment that did not ship: models/README.md, round 8)")
    ap.add_argument("--lr", type=float, default=0.0, help="override the learning rate of the task (exploration)")
    ap.add_argument("--wide-only", action="store_true",
                    help="sentiment: keep checkpoints/sentiment_deep.pt and refit only the wide branch")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_all(SEED)
    t0 = time.time()
    if args.task == "tokenizer":
        print(f"vocab {load_or_build_tokenizer().get_vocab_size()} -> {TOKENIZER}")
        return
    hp = HPARAMS[args.task.removesuffix("-mlm")]
    over = {k: v for k, v in (("epochs", args.epochs), ("hidden", args.hidden), ("layers", args.layers), ("lr", args.lr))
            if v}
    hp = HParams(**{**hp.__dict__, **over})
    if args.task == "ner":
        write_lexicon()
    if args.task == "sentiment-mlm":
        best = pretrain_sentiment(hp, args.mlm_steps)
    elif args.task == "sentiment":
        best = train_sentiment(hp, args.wide_only, args.pretrained)
    else:
        best = train_ner(hp, args.limit, args.stop_after_epoch, args.wide_lr, args.refit, not args.no_crf_expert)
    print(json.dumps({"task": args.task, "best_dev": best, "minutes": round((time.time() - t0) / 60, 1)}))


if __name__ == "__main__":
    main()

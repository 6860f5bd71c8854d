"""Export parity on tiny random models: ONNX (dynamic axes) vs PyTorch, several batch/sequence shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from export.onnx import SPECS, export_model, quantize_int8
from export.parity import Feed, compare, id_feeds, padded_batches
from models.modeling import NER_LABELS, NerModel, SentimentModel, bert_config
from models.serving import CTX_BUCKETS, LEX_DIM, NGRAM_BUCKETS, Features, Lexicon


def _tiny(task: str, extras: bool = False) -> SentimentModel | NerModel:
    torch.manual_seed(0)
    kw = {"bigram_vocab": 30, "lexicon_dim": LEX_DIM * (task == "ner"), "ngram_buckets": NGRAM_BUCKETS * (task == "sentiment"),
          "ctx_buckets": CTX_BUCKETS * (task == "ner"), "crf": task == "ner"}
    cfg = bert_config(vocab_size=50, hidden=16, layers=1, heads=2, max_len=32, num_labels=len(NER_LABELS),
                      **(kw if extras else {}))
    model = SentimentModel(cfg) if task == "sentiment" else NerModel(cfg)
    with torch.no_grad():  # the wide branch starts at zero; give it weights so that parity means something
        for p in model.parameters():
            if not p.abs().sum():
                p.normal_()
    return model.eval()


def _extra_feeds(seqs: list[list[int]], sizes: tuple[int, ...], names: list[str]) -> list[Feed]:
    """Feeds built by the serving feature code: bigram table, a small lexicon and text n-grams."""
    chars = "北京上海人民中国政府会议"
    texts = ["".join(chars[i % len(chars)] for i in s) for s in seqs]
    table = np.array(sorted({a * 50 + b for s in seqs for a, b in zip(s[:-1], s[1:], strict=False)})[:30], dtype=np.int64)
    feats = Features(table, 50, Lexicon({"北京": 2, "中国": 2, "人民": 1, "政府": 4}))
    out: list[Feed] = []
    i = k = 0
    while i < len(seqs):
        part = list(range(i, min(len(seqs), i + sizes[k % len(sizes)])))
        encs = [(seqs[j], [(t, t + 1) for t in range(len(seqs[j]))], [0] * len(seqs[j])) for j in part]
        out.append(feats.feed(encs, [texts[j] for j in part], names))
        i, k = i + len(part), k + 1
    return out


@pytest.mark.parametrize("extras", [False, True])
@pytest.mark.parametrize("task", ["sentiment", "ner"])
def test_tiny_model_export_parity(task: str, extras: bool, tmp_path: Path) -> None:
    model, spec = _tiny(task, extras), SPECS[task]
    path = export_model(model, spec, tmp_path / f"{task}.onnx")
    rng = np.random.default_rng(0)
    # lengths 1..30 in batches of 1, 7 and 64: exercises both dynamic axes and right padding
    seqs = [[int(x) for x in rng.integers(5, 50, size=int(n))] for n in rng.integers(1, 31, size=80)]
    feeds = (_extra_feeds(seqs, (1, 7, 64), list(model.input_names())) if extras
             else id_feeds(padded_batches(seqs, (1, 7, 64))))
    res = compare(model, spec, path, feeds)
    assert res["problems"] == []
    assert all(d < spec.atol for d in res["max_abs_diff"].values()), res
    assert all(s == 1.0 for s in res["identical_predictions"].values()), res
    assert res["compared"][spec.outputs[0]] > 0


def test_int8_quantisation_runs_and_stays_close(tmp_path: Path) -> None:
    model, spec = _tiny("sentiment"), SPECS["sentiment"]
    q = quantize_int8(export_model(model, spec, tmp_path / "s.onnx"), tmp_path / "s.int8.onnx")
    seqs = [[5, 6, 7, 8], [9, 10], [11] * 20]
    res = compare(model, spec, q, id_feeds(padded_batches(seqs, (3,))))
    assert res["problems"] == []
    assert res["max_abs_diff"]["sentiment_logits"] < 0.5

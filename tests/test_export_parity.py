"""Export parity on tiny random models: ONNX (dynamic axes) vs PyTorch, several batch/sequence shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from export.onnx import SPECS, export_model, quantize_int8
from export.parity import compare, padded_batches
from models.modeling import NER_LABELS, NerModel, SentimentModel, bert_config


def _tiny(task: str) -> SentimentModel | NerModel:
    torch.manual_seed(0)
    cfg = bert_config(vocab_size=50, hidden=16, layers=1, heads=2, max_len=32, num_labels=len(NER_LABELS))
    return (SentimentModel(cfg) if task == "sentiment" else NerModel(cfg)).eval()


@pytest.mark.parametrize("task", ["sentiment", "ner"])
def test_tiny_model_export_parity(task: str, tmp_path: Path) -> None:
    model, spec = _tiny(task), SPECS[task]
    path = export_model(model, spec, tmp_path / f"{task}.onnx")
    rng = np.random.default_rng(0)
    # lengths 1..30 in batches of 1, 7 and 64: exercises both dynamic axes and right padding
    seqs = [list(rng.integers(5, 50, size=int(n))) for n in rng.integers(1, 31, size=80)]
    res = compare(model, spec, path, padded_batches(seqs, (1, 7, 64)))
    assert res["problems"] == []
    assert all(d < spec.atol for d in res["max_abs_diff"].values()), res
    assert all(s == 1.0 for s in res["identical_predictions"].values()), res
    assert res["compared"][spec.outputs[0]] > 0


def test_int8_quantisation_runs_and_stays_close(tmp_path: Path) -> None:
    model, spec = _tiny("sentiment"), SPECS["sentiment"]
    q = quantize_int8(export_model(model, spec, tmp_path / "s.onnx"), tmp_path / "s.int8.onnx")
    seqs = [[5, 6, 7, 8], [9, 10], [11] * 20]
    res = compare(model, spec, q, padded_batches(seqs, (3,)))
    assert res["problems"] == []
    assert res["max_abs_diff"]["sentiment_logits"] < 0.5

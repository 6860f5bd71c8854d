"""Temperature scaling of the sentiment scores: the fit recovers a known temperature, ECE reads
miscalibration, and serving applies the manifest's temperature to scores without changing labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from models.calibration import expected_calibration_error, fit_temperature, nll, softmax
from models.serving import ARTIFACTS, CommentModel


def sample(t0: float, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / t0): t0 is the true temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, size=(n, 3))
    p = softmax(logits, t0)
    labels = (rng.random(n)[:, None] > p.cumsum(1)).sum(1)
    return logits, labels


@pytest.mark.parametrize("t0", [0.5, 1.0, 3.0])
def test_fit_recovers_the_true_temperature(t0: float) -> None:
    logits, labels = sample(t0)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(t0, rel=0.08)
    assert nll(logits, labels, t) <= nll(logits, labels, t0) + 1e-9
    assert nll(logits, labels, t) < nll(logits, labels, t * 2) and nll(logits, labels, t) < nll(logits, labels, t / 2)


def test_ece_is_small_when_calibrated_and_large_when_overconfident() -> None:
    logits, labels = sample(3.0)
    ok = logits.argmax(1) == labels
    assert expected_calibration_error(softmax(logits, 3.0).max(1), ok) < 0.02
    assert expected_calibration_error(softmax(logits, 0.3).max(1), ok) > 0.15
    assert expected_calibration_error([0.99] * 10, [True] * 7 + [False] * 3) == pytest.approx(0.29)
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((0, 3)), [])


def model_with_temperature(tmp_path: Path, t: float) -> CommentModel:
    """The shipped model folder (files linked, not copied) with the manifest's temperature set to ``t``."""
    folder = tmp_path / f"t{t}"
    folder.mkdir()
    for f in ARTIFACTS.iterdir():
        if f.name != "manifest.json":
            os.symlink(f, folder / f.name)
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "sentiment_temperature": t}))
    return CommentModel.load(str(folder), device="cpu", threads=1)


def test_serving_scales_scores_by_the_manifest_temperature_and_keeps_labels(tmp_path: Path) -> None:
    texts = ["主播yyds", "还行吧", "3号链接还有红色吗", "上次买的起球了", "发货好慢啊，等了一周", "质量一般般"]
    sharp, soft = model_with_temperature(tmp_path, 1.0).predict(texts), model_with_temperature(tmp_path, 8.0).predict(texts)
    assert [a.sentiment for a in sharp] == [a.sentiment for a in soft]
    assert all(b.sentiment_score <= a.sentiment_score + 1e-6 for a, b in zip(sharp, soft, strict=True))
    assert any(b.sentiment_score < a.sentiment_score - 0.05 for a, b in zip(sharp, soft, strict=True))
    assert all(1 / 3 - 1e-6 <= b.sentiment_score <= 1.0 for b in soft)


def test_shipped_manifest_carries_a_fitted_temperature() -> None:
    t = json.loads((ARTIFACTS / "manifest.json").read_text()).get("sentiment_temperature")
    assert isinstance(t, float) and 1.0 < t < 50.0  # the wide branch's x3 logits are overconfident at T = 1

"""The serving benchmark's PyTorch side runs the shipped checkpoints on the inputs serving builds."""

from __future__ import annotations

import pytest

from bench.serving import _time_batches, _torch_predict

pytest.importorskip("torch")


@pytest.mark.parametrize(("threads", "lanes"), [(1, 1), (2, 2)])
def test_torch_eager_predict_runs_both_shipped_checkpoints(threads: int, lanes: int) -> None:
    predict = _torch_predict(threads, lanes)
    assert predict is not None
    row = _time_batches(predict, ["3号链接还有红色吗", "主播yyds", "上次买的起球了", ""], 4, 0.01)
    assert row["batch"] == 4 and row["batches"] >= 3 and row["texts_per_s"] > 0

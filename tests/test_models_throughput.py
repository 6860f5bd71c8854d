"""The throughput measurement of ``models.evaluate``: both engines in both core layouts, each engine's better one on top."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from models.evaluate import throughput  # noqa: E402


def test_throughput_reports_each_engine_in_both_layouts_and_keeps_the_better() -> None:
    texts = ["3号链接还有红色吗", "主播yyds", "上次买的起球了", "发货好慢啊，等了一周", "这个口红的颜色真的太好看了"] * 30
    r = throughput(texts, threads=2, rounds=1, seconds=0.05)
    assert r["onnx_gpu_b64"] is None
    assert r["method"]["layouts"] == {"intra": {"lanes": 1, "onnx_intra_op_threads": 2, "torch_threads": 2},
                                      "lanes": {"lanes": 2, "onnx_intra_op_threads": 1, "torch_threads": 1}}
    for key in ("onnx_cpu_b1", "onnx_cpu_b64", "torch_cpu_b1", "torch_cpu_b64"):
        per = r["layouts"][key]
        assert set(per) == {"intra", "lanes"} and all(v > 0 for v in per.values())
        assert r[key] == max(per.values()) == per[r["layout_of"][key]]
    assert set(r["graphs_only"]) == {"onnx_cpu_b1", "onnx_cpu_b64", "torch_cpu_b1", "torch_cpu_b64"}

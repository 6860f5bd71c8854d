"""Smoke version of the performance benchmark (``python -m bench --smoke``), so the benchmark does not rot.

A few seconds at a low rate against real Kafka + Redis (the benchmark starts its own, like the full
command), the cost model at two sizes and a short serving run; asserts the report's structure and
that the worker published suggestions. No performance thresholds: timings depend on the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import run_bench

pytestmark = pytest.mark.integration


def test_bench_smoke(tmp_path: Path) -> None:
    res = run_bench(loads=(100,), duration_s=3.0, out=str(tmp_path), smoke=True, profile=False, scaling=False)
    data = json.loads((tmp_path / "perf.json").read_text())
    for key in ("loads", "max_sustained_eps", "p99_ms_at_2000_eps", "passthrough_max_eps", "ratio_to_passthrough",
                "catalog_scaling", "gpu"):
        assert key in data, key
    assert data["gpu"] is None
    (row,) = data["loads"]
    assert set(row) >= {"offered_eps", "achieved_eps", "p50_ms", "p95_ms", "p99_ms", "max_lag"}
    lc = res["livecart"][0]
    assert lc["outputs"] > 0 and lc["output_fraction"] > 0.5, lc  # the worker published suggestions
    assert lc["p50_ms"] is not None and lc["p50_ms"] >= 0
    assert res["passthrough"][0]["outputs"] > 0
    assert [r["items"] for r in data["catalog_scaling"]] == [100, 1_000]
    assert data["serving"]["rows"] and all(r["texts_per_s"] > 0 for r in data["serving"]["rows"])
    md = (tmp_path / "perf.md").read_text()
    assert "max sustained throughput" in md and "perf_latency_cdf.png" in md
    for png in ("perf_latency_cdf.png", "perf_throughput.png", "perf_lag.png"):
        assert (tmp_path / png).stat().st_size > 1_000


def test_a_failing_step_still_writes_the_steps_measured_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.serving

    def broken(**_: object) -> dict[str, object]:
        raise ValueError("serving exploded")

    monkeypatch.setattr(bench.serving, "run_serving", broken)
    with pytest.raises(RuntimeError, match="partial report"):
        run_bench(loads=(), duration_s=1.0, out=str(tmp_path), smoke=True, profile=False, scaling=False,
                  passthrough=False, serving=True)
    data = json.loads((tmp_path / "perf.json").read_text())
    assert data["error"] == "ValueError: serving exploded"
    assert data["cost_model"]["catalog"] and "serving" not in data  # the step before the failure is kept
    assert "Incomplete: a step failed (ValueError: serving exploded)" in (tmp_path / "perf.md").read_text()

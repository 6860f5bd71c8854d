"""The benchmark command: ``python -m bench [--loads 500,1000,...] [--duration 20] [--out reports]``.

Starts Kafka (KRaft) and Redis on free loopback ports (scripts/services.py), then for each offered
load runs the livecart worker and the pass-through worker as real processes (bench/load.py), a
py-spy profile of the livecart worker, one vs two workers, the in-process cost model
(bench/costmodel.py) and the model-serving numbers (bench/serving.py); writes ``perf.json``,
``perf.md`` and ``perf_*.png`` to ``--out``. ``--smoke`` is the few-seconds version the test suite runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import report
from bench.load import run_load

DEFAULT_LOADS = (500, 1_000, 2_000, 5_000, 10_000)
BASELINE = Path(__file__).with_name("baseline_before.json")


NOTES = [
    "No GPU is lent to this task (the device tool's status says so), so `gpu` is null: no CUDA/TensorRT figures.",
    "Latency includes everything after the producer's send: Kafka, faust's fetch and micro-batching "
    "(LIVECART_BATCH_WITHIN_MS), for comments the ONNX stage and a second Kafka hop (live.comments.enriched), "
    "Redis, ranking and the suggestion's produce.",
    "Redis round trips come from a probe (bench/probe/sitecustomize.py) that only benchmark workers load.",
    "The cost model isolates the rooms stage (no Kafka, no model): it is the per-room work a worker does.",
]


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem_kb = int(next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 2**20, 1), "python": platform.python_version(),
            "platform": platform.platform(), "gpu": None}


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def profile_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Leaf ("self") and inclusive shares of py-spy's raw collapsed stacks, livecart/onnx/redis/faust frames."""
    leaf: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"samples": 0, "self": [], "inclusive": []}
    for line in path.read_text().splitlines():
        stack, _, n_raw = line.rpartition(" ")
        n = int(n_raw)
        total += n
        frames = stack.split(";")
        leaf[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    keep = ("streams/", "models/", "onnxruntime", "redis/", "aiokafka", "faust/", "json/")
    inc = [(f, c) for f, c in incl.most_common() if any(k in f for k in keep)][:top]
    return {"samples": total,
            "self": [{"frame": f, "share": round(c / total, 3)} for f, c in leaf.most_common(top)],
            "inclusive": [{"frame": f, "share": round(c / total, 3)} for f, c in inc]}


def max_sustained(rows: Sequence[dict[str, Any]]) -> float | None:
    ok = [r["offered_eps"] for r in rows if r["sustained"]]
    return max(ok) if ok else None


def run_bench(*, loads: Sequence[float] = DEFAULT_LOADS, duration_s: float = 20.0, out: str = "reports",
              smoke: bool = False, profile: bool = True, scaling: bool = True, costmodel: bool = True,
              serving: bool = True, passthrough: bool = True, keep_going: int = 1,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the report dict (also written to ``out``/perf.json and perf.md).

    ``loads``: offered events/s; ``duration_s``: seconds of load each; ``keep_going``: livecart loads still
    run after the first unsustained one (higher ones are skipped: they only pile up lag);
    ``env``: extra LIVECART_* variables for the livecart worker (e.g. LIVECART_ORT_THREADS).
    """
    from scripts.services import KafkaServer, RedisServer

    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="livecart-bench-"))
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]) if not smoke else "smoke",
        "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": duration_s, "loadavg_start": loadavg(), "worker_env": env or {},
    }
    t_start = time.time()
    steps = len(loads) * (2 if passthrough else 1) + int(scaling) + int(costmodel) + int(serving)
    bar = tqdm(total=steps, desc="bench", unit="step")
    rows: list[dict[str, Any]] = []
    pt_rows: list[dict[str, Any]] = []
    result["livecart"], result["passthrough"] = rows, pt_rows  # filled as the runs finish
    failure: Exception | None = None
    try:
        with KafkaServer() as kafka, RedisServer() as redis_srv:
            misses = 0
            profiled = False
            for eps in loads:
                if misses > keep_going:
                    bar.update(1)
                    continue
                want_profile = profile and not profiled and (eps >= 1_000 or eps == loads[-1])
                prof = outdir / "perf_profile.txt" if want_profile else None
                bar.set_postfix_str(f"livecart {eps:g}/s")
                r = run_load(kafka.bootstrap, redis_srv.url, work, app="livecart", offered_eps=eps,
                             duration_s=duration_s, env_extra=env, profile=prof)
                r["loadavg"] = loadavg()
                if prof is not None:
                    profiled = True
                    r["profiled"] = True
                rows.append(r)
                misses += 0 if r["sustained"] else 1
                redis_srv.client().flushall()
                bar.update(1)
            if passthrough:
                for eps in loads:
                    bar.set_postfix_str(f"passthrough {eps:g}/s")
                    r = run_load(kafka.bootstrap, redis_srv.url, work, app="passthrough", offered_eps=eps,
                                 duration_s=duration_s)
                    r["loadavg"] = loadavg()
                    pt_rows.append(r)
                    bar.update(1)
            if scaling:
                eps = max_sustained(rows) or loads[0]
                bar.set_postfix_str(f"2 workers {eps:g}/s")
                two = run_load(kafka.bootstrap, redis_srv.url, work, app="livecart", offered_eps=eps,
                               duration_s=duration_s, workers=2, env_extra=env)
                two["loadavg"] = loadavg()
                one = next(r for r in rows if r["offered_eps"] == eps)
                result["workers"] = [_strip(one), _strip(two)]
                redis_srv.client().flushall()
                bar.update(1)
            if costmodel:
                from bench.costmodel import run_costmodel, run_fix_checks

                bar.set_postfix_str("cost model")
                result["cost_model"] = run_costmodel(redis_srv.url, events=500 if smoke else 2_000,
                                                     catalog_sizes=(100, 1_000) if smoke else (100, 1_000, 10_000),
                                                     viewer_counts=(1_000, 10_000) if smoke else (1_000, 100_000))
                result["cost_model"]["loadavg"] = loadavg()
                result["fix_checks"] = run_fix_checks(items=1_000 if smoke else 10_000, clickers=2_000 if smoke else 20_000)
                result["fix_checks"]["loadavg"] = loadavg()
                bar.update(1)
        if serving:
            from bench.serving import run_serving

            bar.set_postfix_str("model serving")
            result["serving"] = run_serving(batches=(1, 8) if smoke else (1, 4, 16, 64), budget_s=0.5 if smoke else 2.0,
                                            threads=(1,) if smoke else (1, 2), torch_eager=not smoke)
            result["serving"]["loadavg"] = loadavg()
            bar.update(1)
    except Exception as exc:  # a failed step still leaves the report of the steps measured before it
        failure = exc
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    result["elapsed_s"] = round(time.time() - t_start, 1)
    result["loadavg_end"] = loadavg()
    if profile and (outdir / "perf_profile.txt").exists():
        result["profile"] = profile_summary(outdir / "perf_profile.txt")
    summarise(result)
    if BASELINE.exists() and not smoke:
        result["before"] = json.loads(BASELINE.read_text())
    report.write(result, outdir)
    if failure is not None:
        raise RuntimeError(f"benchmark step failed after writing the partial report to {outdir}: {result['error']}") from failure
    return result


def _strip(r: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in r.items() if k not in ("latencies", "lag")}


def summarise(result: dict[str, Any]) -> None:
    """The headline fields the issue asks for, at the top level of perf.json."""
    rows, pt = result.get("livecart", []), result.get("passthrough", [])
    result["loads"] = [{k: r[k] for k in ("offered_eps", "achieved_eps", "p50_ms", "p95_ms", "p99_ms", "max_ms", "max_lag",
                                          "sustained", "worker_cpu_pct", "peak_rss_mb", "redis_round_trips_per_event",
                                          "redis_commands_per_event", "loadavg")} for r in rows]
    result["max_sustained_eps"] = max_sustained(rows)
    at2000 = next((r for r in rows if r["offered_eps"] == 2_000), None)
    result["p99_ms_at_2000_eps"] = at2000["p99_ms"] if at2000 else None
    result["passthrough_max_eps"] = max_sustained(pt)
    ms, pm = result["max_sustained_eps"], result["passthrough_max_eps"]
    result["ratio_to_passthrough"] = round(ms / pm, 3) if ms and pm else None
    cm = result.get("cost_model", {})
    result["catalog_scaling"] = [{"items": r["items"], "p99_ms": r["p99_ms"], "p50_ms": r["p50_ms"],
                                  "events_per_s": r["events_per_s"]} for r in cm.get("catalog", [])]
    result["gpu"] = None  # no GPU is lent to this task; see perf.md
    result["notes"] = NOTES


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--loads", default=",".join(str(x) for x in DEFAULT_LOADS), help="offered loads, events/s, comma-separated")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of load per run")
    ap.add_argument("--out", default="reports", help="folder for perf.json, perf.md, perf_*.png")
    ap.add_argument("--smoke", action="store_true", help="a few seconds at a low rate, no profile/scaling/torch")
    ap.add_argument("--no-passthrough", action="store_true")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--no-costmodel", action="store_true")
    ap.add_argument("--no-serving", action="store_true")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--keep-going", type=int, default=1, help="livecart loads still run after the first unsustained one")
    ap.add_argument("--env", action="append", default=[], help="KEY=VALUE for the livecart worker (repeatable)")
    a = ap.parse_args(argv)
    loads = [float(x) for x in a.loads.split(",") if x]
    env = dict(kv.split("=", 1) for kv in a.env)
    res = run_bench(loads=loads, duration_s=a.duration, out=a.out, smoke=a.smoke, profile=not a.no_profile and not a.smoke,
                    scaling=not a.no_scaling and not a.smoke, costmodel=not a.no_costmodel, serving=not a.no_serving,
                    passthrough=not a.no_passthrough, keep_going=a.keep_going, env=env or None)
    print(json.dumps({k: res[k] for k in ("max_sustained_eps", "p99_ms_at_2000_eps", "passthrough_max_eps",
                                          "ratio_to_passthrough", "catalog_scaling")}, indent=2))

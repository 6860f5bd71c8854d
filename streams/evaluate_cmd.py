"""``livecart evaluate LOG``: replay a log in-process with top-k lists and score them against next clicks/purchases."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from streams.config import Settings
from streams.embedded import run_embedded


def run_evaluate(log: str, *, k: int = 10, out: str = "out/evaluate", report: str | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Replay ``log`` with ``LIVECART_TOP_K=k``; returns (and optionally writes ``report``.json/.md) the metrics."""
    settings = dataclasses.replace(Settings.from_env(), top_k=k)
    summary = run_embedded(log, out=out, settings=settings, progress=progress)
    result = {"command": f"livecart evaluate {log} --k {k}" + (f" --report {report}" if report else ""),
              "log": log, "events": summary["events"], "seconds": summary["seconds"], **summary["evaluation"]}
    if report:
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{report}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        Path(f"{report}.md").write_text(markdown(result), encoding="utf-8")
    return result


def markdown(r: dict[str, Any]) -> str:
    k = r["k"]
    rows = [("livecart", r["livecart"]), *r["baselines"].items()]
    lines = [
        "# Offline evaluation of live suggestions", "",
        f"Command: `{r['command']}` ({r['events']} events replayed in-process in {r['seconds']} s).", "",
        f"Each click or purchase in the log is a target; the ranking under test is the viewer's latest suggestion "
        f"published for an earlier event. {r['targets']} targets. Baselines are computed online from the same events, "
        "at the same information time as livecart's list (fair) and, as a reference, recomputed at the target itself "
        "(fresher than any published list can be).", "",
        f"| method | HR@{k} | NDCG@{k} | MRR | NDCG@{k} recomputed at target |", "|---|---|---|---|---|",
    ]
    for name, m in rows:
        ref = r["baselines_at_target"].get(name)
        lines.append(f"| {name} | {m[f'hr@{k}']:.4f} | {m[f'ndcg@{k}']:.4f} | {m['mrr']:.4f} | "
                     f"{ref[f'ndcg@{k}']:.4f} |" if ref else f"| {name} | {m[f'hr@{k}']:.4f} | {m[f'ndcg@{k}']:.4f} | {m['mrr']:.4f} | — |")
    cov = r["livecart"].get("coverage")
    lat = r["processing_ms"]
    lines += ["", f"Catalog coverage of livecart's suggestions: {cov:.3f}." if cov is not None else "",
              f"In-process processing time per suggestion (receive → publish, ms): p50 {lat['p50']}, p95 {lat['p95']}, "
              f"p99 {lat['p99']}, max {lat['max']} (embedded replay; Kafka latencies are in reports/perf.md).", ""]
    return "\n".join(lines)

"""Regenerates reports/reliability.{json,md}: each fault scenario of tests/test_reliability*.py run once, with exact counts.

    python -m bench.reliability                     # all scenarios (~5 min on 2 cores)
    python -m bench.reliability --only worker_crash redis_outage

Starts its own Kafka (KRaft) and Redis on loopback ports (scripts/services.py); the Redis outage,
broker restart and bad-input scenarios use private servers as the tests do. Numbers come from
``tests/faults.py``: sent, processed (rooms-stage dedupe markers), dead-lettered (matched by bytes or
event_id), sent duplicates, lost = sent - processed - dead_lettered - duplicates, double_applied (lifetime
counts above the faultless embedded run), recovery_s (fault over -> next committed event).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `scripts` and `tests` are folders of the repo, not installed packages
    sys.path.insert(0, str(REPO))

from scripts.services import KafkaServer, RedisServer  # noqa: E402
from tests import faults  # noqa: E402

COMMAND = "python -m bench.reliability"
KEEP = ("sent", "processed", "dead_lettered", "duplicates", "lost", "double_applied", "recovery_s", "wall_s")
EXTRA = ("applied_at_fault", "expected_applied", "expected_dead_letters", "dead_letter_messages", "rss_before_mb",
         "rss_outage_peak_mb", "rss_end_mb", "offsets_moved_during_outage", "warnings_logged", "same_worker_pid",
         "broker_down_s", "applied_with_two", "totals")
DESCRIPTIONS = {
    "baseline": "no fault: one worker, paced load",
    "worker_crash": "SIGKILL the worker at 35 % of the stream, start a new one at once",
    "redis_outage": f"stop Redis (AOF on) for {faults.REDIS_OUTAGE_S:g} s at 35 %, then start it again",
    "broker_restart": "restart the Kafka broker at 35 % (the producer holds while it is down)",
    "rebalance": "second worker joins at 20 %, leaves (SIGTERM) after 30 % more",
    "bad_input": "hand-written + hypothesis-generated bad values on every input topic; Redis with AUTH",
}


def _summary(name: str, r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: r[k] for k in KEEP}
    out.update({k: r[k] for k in EXTRA if k in r})
    for field, exp, got in (("state_equal", r["_expected"], r["_state"]),
                            ("state_equal_without_dashboards", faults.without_dashboards(r["_expected"]),
                             faults.without_dashboards(r["_state"]))):
        try:
            faults.assert_equivalent_state(exp, got)
            out[field] = True
        except AssertionError as exc:
            out[field] = False
            out[field + "_diff"] = str(exc)[:300]
    got = Counter((d["topic"], d["reason"]) for d in r["_deadletters"])
    want = Counter((d["topic"], d["reason"]) for d in r["_expected_deadletters"])
    out["dead_letters_match_embedded"] = got == want
    out["workers_alive_at_end"] = all(r["workers_alive"])
    out["description"] = DESCRIPTIONS[name]
    out["command"] = f"{COMMAND} --only {name}"
    return out


def run(only: Sequence[str], workdir: Path) -> dict[str, Any]:
    """Run the chosen scenarios against fresh servers; returns the report dict."""
    from tests.test_reliability_input import bad_input_log

    lines = faults.make_log()
    expected = faults.expected_run(lines, "emb-bench")
    scenarios: dict[str, Any] = {}
    with KafkaServer() as kafka, RedisServer() as rds:

        def go(name: str, fault: faults.Fault, bootstrap: str, url: str, **kw: Any) -> None:
            if name not in only:
                return
            print(f"[reliability] {name} ...", file=sys.stderr, flush=True)
            uid = f"{name[:4]}{int(time.time()) % 100000}"
            d = workdir / name
            d.mkdir(parents=True, exist_ok=True)
            kw.setdefault("lines", lines)
            kw.setdefault("expected", expected if kw["lines"] is lines else None)
            r = faults.run_scenario(fault, bootstrap=bootstrap, redis_url=url, uid=uid, workdir=d, **kw)
            scenarios[name] = _summary(name, r)
            print(f"[reliability] {name}: {json.dumps({k: scenarios[name][k] for k in KEEP})}", file=sys.stderr, flush=True)

        go("baseline", faults.no_fault, kafka.bootstrap, rds.url)
        go("worker_crash", faults.kill_worker, kafka.bootstrap, rds.url)
        if "redis_outage" in only:
            with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as private:
                go("redis_outage", faults.redis_outage(private), kafka.bootstrap, private.url)
        if "broker_restart" in only:
            with KafkaServer() as private_kafka:
                go("broker_restart", faults.broker_restart(private_kafka), private_kafka.bootstrap, rds.url)
        go("rebalance", faults.add_and_remove_worker, kafka.bootstrap, rds.url, fault_at=0.2)
        if "bad_input" in only:
            bad_lines, _ = bad_input_log()
            with RedisServer(password=f"pw-{os.getpid()}") as auth:
                go("bad_input", faults.no_fault, kafka.bootstrap, auth.url, lines=bad_lines, fault_at=0.5)
    return {
        "generated_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": COMMAND,
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load": {"events": len(lines), "rate_per_s": faults.LOAD_RATE, "rooms": faults.ROOMS, "fault_at": faults.FAULT_AT},
        "scenarios": scenarios,
    }


def markdown(report: dict[str, Any]) -> str:
    rows = [
        "| scenario | sent | processed | dead-lettered | duplicates | lost | double-applied | recovery s | state = embedded | dashboards = embedded |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, s in report["scenarios"].items():
        rows.append(f"| {name} | {s['sent']} | {s['processed']} | {s['dead_lettered']} | {s['duplicates']} | {s['lost']} | "
                    f"{s['double_applied']} | {s['recovery_s']} | {'yes' if s['state_equal_without_dashboards'] else 'NO'} | "
                    f"{'yes' if s['state_equal'] else 'NO'} |")
    notes = []
    for name, s in report["scenarios"].items():
        extra = {k: s[k] for k in EXTRA if k in s and k != "totals"}
        notes.append(f"- **{name}** — {s['description']}. `{s['command']}`; wall {s['wall_s']} s; {json.dumps(extra)}")
    return "\n".join([
        "# Reliability",
        "",
        f"Generated {report['generated_at']} by `{report['command']}` on {report['host']['cpus']} CPUs "
        f"(Python {report['host']['python']}). Real Kafka (KRaft) and redis-server, real `faust` worker processes; "
        f"{report['load']['events']} log lines (simulated show in {', '.join(report['load']['rooms'])} plus resent "
        f"duplicates and undecodable values) produced at {report['load']['rate_per_s']:g} events/s.",
        "",
        *rows,
        "",
        "Definitions (tests/faults.py): *processed* = the rooms stage's dedupe marker exists; *dead-lettered* = a "
        "dead letter carries the event's bytes or event_id; *lost* = sent − processed − dead-lettered − duplicates; "
        "*double-applied* = item lifetime counts (clicks, purchases, mentions, units) above the faultless in-process "
        "replay of the same log; *recovery* = from the end of the fault to the next committed event; *state = embedded*: "
        "the order-independent Redis state (rooms stage) equals the in-process replay's; *dashboards*: the dashboard "
        "blobs too (before 2026-11-23 a rebalance handover could lose a dashboard update: commits were not conditional "
        "on the version; docs/reliability.md).",
        "",
        *notes,
        "",
    ])


def main(argv: Sequence[str] | None = None, *, printer: Callable[[str], None] = print) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--only", nargs="*", default=list(DESCRIPTIONS), choices=list(DESCRIPTIONS))
    ap.add_argument("--out", default=str(REPO / "reports"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="livecart-reliability-") as tmp:
        report = run(args.only, Path(tmp))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reliability.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "reliability.md").write_text(markdown(report), encoding="utf-8")
    bad = [n for n, s in report["scenarios"].items()
           if s["lost"] or s["double_applied"] or not s["state_equal_without_dashboards"]]
    printer(f"wrote {out / 'reliability.json'} and reliability.md; failing scenarios: {bad or 'none'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

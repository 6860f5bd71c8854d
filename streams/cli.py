"""The ``livecart`` command line: a thin layer over entry-point functions whose keyword arguments are its flags."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _worker(args: argparse.Namespace) -> int:
    from streams.app import app

    sys.argv = ["livecart", "worker", "-l", args.loglevel]
    app.main()
    return 0


def _replay(args: argparse.Namespace) -> int:
    from streams.config import Settings

    settings = Settings.from_env()
    embedded = args.embedded or (not args.kafka and "LIVECART_BROKER" not in __import__("os").environ)
    if embedded:
        from streams.embedded import run_embedded

        try:
            summary = run_embedded(args.log, out=args.out, settings=settings, progress=not args.quiet, limit=args.limit,
                                   serve=args.serve, host=args.host, port=args.port, pace=args.pace)
        except KeyboardInterrupt:
            return 130
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    from streams.kafka_replay import replay_to_kafka

    counts = replay_to_kafka(args.log, settings=settings, speed=args.speed, limit=args.limit, progress=not args.quiet)
    print(json.dumps(counts, ensure_ascii=False, indent=2))
    return 0


def _record(args: argparse.Namespace) -> int:
    from streams.config import Settings
    from streams.kafka_replay import record_from_kafka

    counts = record_from_kafka(args.out, settings=Settings.from_env(), max_events=args.max_events, seconds=args.seconds,
                               idle_s=args.idle, progress=not args.quiet)
    print(json.dumps(counts, ensure_ascii=False, indent=2))
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from models.analyze import run_analyze

    run_analyze(sys.stdin, sys.stdout, catalog_path=args.catalog, room_id=args.room, model_dir=args.model_dir,
                device=args.device, batch_size=args.batch_size, threads=args.threads, lanes=args.lanes)
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from streams.simulate import run_simulate

    counts = run_simulate(args.out, seed=args.seed, duration_s=args.duration, viewers_per_room=args.viewers,
                          rooms=args.rooms, catalog_path=args.catalog, events_per_s=args.rate)
    print(json.dumps(counts, ensure_ascii=False, indent=2))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from streams.evaluate_cmd import run_evaluate

    result = run_evaluate(args.log, k=args.k, out=args.out, report=args.report, progress=not args.quiet)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from streams.web.server import run_dashboard

    run_dashboard(host=args.host, port=args.port, broker=args.broker, topic_prefix=args.topic_prefix,
                  cors_origins=tuple(args.cors_origin) if args.cors_origin else None)
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bench.run import main as bench_main

    bench_main(args.bench_args)
    return 0


def _config(args: argparse.Namespace) -> int:
    from streams.config import describe

    for var, default, doc in describe():
        print(f"{var:34} {default:28} {doc}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="livecart", description="Real-time stream processing for live-stream commerce.")
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run the Faust worker (same as: faust -A streams.app worker)")
    w.add_argument("-l", "--loglevel", default="info")
    w.set_defaults(fn=_worker)

    r = sub.add_parser("replay", help="replay an event log in-process (--embedded) or into Kafka")
    r.add_argument("log", help="JSONL event log, optionally .gz: one {topic, key, value} per line")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--embedded", action="store_true", help="run the agents in-process, no servers (default when LIVECART_BROKER is unset)")
    mode.add_argument("--kafka", action="store_true", help="produce into Kafka at LIVECART_BROKER")
    r.add_argument("--out", default="out/embedded", help="embedded: folder for <topic>.jsonl and summary.json")
    r.add_argument("--speed", type=float, default=0.0, help="kafka: original pace x SPEED; 0 = as fast as possible")
    r.add_argument("--limit", type=int, default=None, help="replay only the first N lines")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument("--serve", action="store_true", help="embedded: serve the host dashboard while replaying")
    r.add_argument("--host", default=None, help="dashboard host (default LIVECART_DASHBOARD_HOST or 127.0.0.1)")
    r.add_argument("--port", type=int, default=None, help="dashboard port (default LIVECART_DASHBOARD_PORT or 8080)")
    r.add_argument("--pace", type=float, default=1.0, help="embedded --serve: event time x PACE on the wall clock; 0 = no pacing")
    r.set_defaults(fn=_replay)

    rec = sub.add_parser("record", help="consume the input topics from LIVECART_BROKER into an event log")
    rec.add_argument("out", help="log path (.jsonl or .jsonl.gz)")
    rec.add_argument("--max-events", type=int, default=None)
    rec.add_argument("--seconds", type=float, default=None, help="stop after this many seconds")
    rec.add_argument("--idle", type=float, default=5.0, help="stop when nothing arrived for this many seconds")
    rec.add_argument("-q", "--quiet", action="store_true")
    rec.set_defaults(fn=_record)

    a = sub.add_parser("analyze", help="comments on stdin (one per line) -> JSON lines with sentiment, entities, question flag")
    a.add_argument("--catalog", default=None, help="catalog JSONL to link mentions to item_ids")
    a.add_argument("--room", default=None, help="room whose catalog to link against")
    a.add_argument("--model-dir", default=None)
    a.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    a.add_argument("--batch-size", type=int, default=64)
    a.add_argument("--threads", type=int, default=0, help="cores the models may use (0: all)")
    a.add_argument("--lanes", type=int, default=1, help="runs of a batch executed at once, threads // lanes each")
    a.set_defaults(fn=_analyze)

    s = sub.add_parser("simulate", help="generate a realistic live-session event log from a seed")
    s.add_argument("out", help="output log path (.jsonl or .jsonl.gz)")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--duration", type=float, default=600.0, help="seconds of show")
    s.add_argument("--viewers", type=int, default=200, help="viewers per room")
    s.add_argument("--rooms", nargs="*", default=None)
    s.add_argument("--catalog", default=None)
    s.add_argument("--rate", type=float, default=None, help="target events/s (load tests)")
    s.set_defaults(fn=_simulate)

    e = sub.add_parser("evaluate", help="replay a log in-process and score suggestions against next clicks/purchases")
    e.add_argument("log")
    e.add_argument("--k", type=int, default=10, help="list length and cut-off of HR/NDCG")
    e.add_argument("--out", default="out/evaluate")
    e.add_argument("--report", default=None, help="write REPORT.json and REPORT.md (e.g. reports/evaluation)")
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(fn=_evaluate)

    d = sub.add_parser("dashboard", help="serve the host dashboard page fed by the live.dashboard topic")
    d.add_argument("--host", default=None, help="default LIVECART_DASHBOARD_HOST or 127.0.0.1")
    d.add_argument("--port", type=int, default=None, help="default LIVECART_DASHBOARD_PORT or 8080")
    d.add_argument("--broker", default=None, help="default LIVECART_BROKER")
    d.add_argument("--topic-prefix", default=None, help="default LIVECART_TOPIC_PREFIX")
    d.add_argument("--cors-origin", action="append", default=None, help="allowed origin (repeatable); CORS is closed by default")
    d.set_defaults(fn=_dashboard)

    b = sub.add_parser("bench", help="performance benchmark against real Kafka + Redis (python -m bench; from a repo checkout)")
    b.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments for python -m bench (see --help there)")
    b.set_defaults(fn=_bench)

    c = sub.add_parser("config", help="list every environment variable with its default")
    c.set_defaults(fn=_config)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())

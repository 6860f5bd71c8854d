"""One load run: real Kafka + Redis, the worker as a process, a paced producer process, suggestions read back.

``run_load`` pre-generates events with the simulator, starts ``faust -A <app> worker`` (livecart or the
pass-through), warms it up, then a separate process produces the events at a fixed rate with each
event's ``ts`` rewritten to its wall-clock send time. The parent reads the output topic, samples the
consumer group's lag once a second and the worker's CPU time, peak RSS and Redis round trips.

Latency: livecart suggestions carry ``latency_ms`` = publish wall time - event ts (both ms, this
machine's clock); the pass-through's is the output record's Kafka timestamp (the producer's
CreateTime, set when the worker sends) - event ts.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streams import topics
from streams.catalog import Catalog
from streams.simulate import simulate

REPO = Path(__file__).resolve().parent.parent
PROBE_DIR = REPO / "bench" / "probe"
PASSTHROUGH_OUTPUT = "bench.passthrough"
# Output-producing event kinds: the rooms stage refreshes the viewer of each of these.
TRIGGERS = {"live.clicks", "live.purchases", "live.comments"}
# A cold worker: Python + onnxruntime import, model load, consumer-group join; generous on a loaded 2-core box.
WARMUP_DEADLINE_S = 180.0
# After the last send, how long a backlog may take to drain before the run counts as not sustained.
DRAIN_S = 15.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

_RE_TRIGGER = re.compile(rb'"trigger_event_id":"([^"]*)"')
_RE_LATENCY = re.compile(rb'"latency_ms":(-?\d+)')
_RE_PROCESSING = re.compile(rb'"processing_ms":(-?\d+)')
_RE_EVENT_ID = re.compile(rb'"event_id":"([^"]*)"')
_RE_TS = re.compile(rb'"ts":(\d+)')


@dataclass
class Events:
    """Pre-encoded events: (topic, key, value without its leading ``{"ts":N,``), ids that produce output."""

    lines: list[tuple[str, bytes, bytes]]
    expected: set[str]
    mix: dict[str, int]


def make_events(offered_eps: float, duration_s: float, *, seed: int = 7, app: str = "livecart") -> Events:
    """``offered_eps * duration_s`` simulated events over the demo catalog's rooms.

    Audience: ``max(200, offered_eps)`` viewers per room, so the simulator reaches high rates with
    plausible per-viewer activity (a 10,000 events/s peak is 10,000 viewers in each of 3 rooms).
    """
    catalog = Catalog.load(None)
    want = int(round(offered_eps * duration_s))
    viewers = max(200, int(offered_eps))
    gen = simulate(catalog, seed=seed, rooms=None, duration_s=duration_s * 1.3 + 5, viewers_per_room=viewers,
                   events_per_s=offered_eps)
    lines: list[tuple[str, bytes, bytes]] = []
    expected: set[str] = set()
    mix: dict[str, int] = {}
    for line in gen:
        if line["topic"] == topics.CATALOG.name:
            continue
        v = dict(line["value"])
        v.pop("ts")
        rest = json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()
        lines.append((line["topic"], str(line["key"] or v["room_id"]).encode(), rest[1:]))
        mix[line["topic"]] = mix.get(line["topic"], 0) + 1
        if app == "passthrough" or line["topic"] in TRIGGERS or v.get("action") == "join":
            expected.add(v["event_id"])
        if len(lines) >= want:
            break
    return Events(lines, expected, mix)


def _value(ts_ms: int, rest: bytes) -> bytes:
    return b'{"ts":%d,%s' % (ts_ms, rest)


def _produce(bootstrap: str, prefix: str, lines: list[tuple[str, bytes, bytes]], rate: float, q: Any) -> None:
    """Child process: send ``lines`` at ``rate`` events/s (ts = wall-clock send time); report timings on ``q``."""
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    p = KafkaProducer(bootstrap_servers=[bootstrap], acks=1, linger_ms=2, batch_size=262_144,
                      max_in_flight_requests_per_connection=5)
    names = {t: prefix + t for t in {t for t, _, _ in lines}}
    start = time.perf_counter()
    t_start = time.time()
    behind_max = 0.0
    for i, (topic, key, rest) in enumerate(lines):
        target = start + i / rate
        now = time.perf_counter()
        if now < target:
            time.sleep(target - now)
        else:
            behind_max = max(behind_max, now - target)
        p.send(names[topic], key=key, value=_value(int(time.time() * 1000), rest))
    t_end = time.time()
    p.flush(timeout=60)
    q.put({"t_start": t_start, "t_end": t_end, "n": len(lines), "behind_max_s": behind_max})
    p.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_topics(bootstrap: str, prefix: str, partitions: int = 4) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    names = [t.name for t in topics.ALL] + [PASSTHROUGH_OUTPUT]
    admin.create_topics([NewTopic(prefix + n, partitions, 1) for n in names])
    admin.close()


class WorkerProc:
    """``faust -A <module> worker`` as a process (its own session), with its log in ``workdir``."""

    def __init__(self, module: str, env: dict[str, str], workdir: Path, name: str) -> None:
        faust = str(Path(sys.executable).with_name("faust"))
        argv = [faust, "-A", module, "worker", "-l", "warn", "--web-port", str(free_port()), "--web-host", "127.0.0.1"]
        self.log = workdir / f"{name}.log"
        self.fh = open(self.log, "ab")
        pythonpath = os.pathsep.join([str(PROBE_DIR), str(REPO)])
        self.proc = subprocess.Popen(argv, cwd=workdir, env={**env, "PYTHONPATH": pythonpath}, stdout=self.fh,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far."""
        parts = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / CLK_TCK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.fh.close()

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@dataclass
class Output:
    """What the parent read from the output topic."""

    latencies: list[int] = field(default_factory=list)
    processing: list[int] = field(default_factory=list)  # livecart: publish - worker receive, ms
    seen: set[str] = field(default_factory=set)
    last_new: float = 0.0
    count: int = 0


def _read(consumer: Any, out: Output, app: str, expected: set[str]) -> None:
    for batch in consumer.poll(timeout_ms=100, max_records=20_000).values():
        for rec in batch:
            v = rec.value
            if app == "livecart":
                m, lat = _RE_TRIGGER.search(v), _RE_LATENCY.search(v)
                if m is None or lat is None:
                    continue
                eid, latency = m.group(1).decode(), int(lat.group(1))
            else:
                m, ts = _RE_EVENT_ID.search(v), _RE_TS.search(v)
                if m is None or ts is None:
                    continue
                eid, latency = m.group(1).decode(), rec.timestamp - int(ts.group(1))
            out.count += 1
            if eid in expected:
                out.latencies.append(latency)
                proc = _RE_PROCESSING.search(v) if app == "livecart" else None
                if proc is not None:
                    out.processing.append(int(proc.group(1)))
                if eid not in out.seen:
                    out.seen.add(eid)
                    out.last_new = time.time()


class LagSampler:
    """Consumer-group lag (end offset - committed offset, summed over the input partitions)."""

    def __init__(self, bootstrap: str, group: str, names: Sequence[str], partitions: int = 4) -> None:
        from kafka import KafkaConsumer, TopicPartition
        from kafka.admin import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
        self.consumer = KafkaConsumer(bootstrap_servers=[bootstrap], group_id=None, enable_auto_commit=False)
        self.group = group
        self.tps = [TopicPartition(n, p) for n in names for p in range(partitions)]

    def sample(self) -> int:
        ends = self.consumer.end_offsets(self.tps)
        committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
        return int(sum(max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
                       for tp in self.tps))

    def close(self) -> None:
        self.consumer.close()
        self.admin.close()


def _redis_probe(path: Path) -> dict[str, int]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"round_trips": 0, "commands": 0, "pipelines": 0}


def pct(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def run_load(bootstrap: str, redis_url: str, workdir: Path, *, app: str, offered_eps: float, duration_s: float,
             workers: int = 1, seed: int = 7, env_extra: dict[str, str] | None = None, profile: Path | None = None,
             events: Events | None = None, profile_idle: bool = False) -> dict[str, Any]:
    """Drive one worker group (``app``: "livecart" or "passthrough") at ``offered_eps`` for ``duration_s``.

    Returns offered/sent/achieved rates, latency percentiles (ms), lag samples, worker CPU and peak RSS,
    Redis round trips and commands per event, and ``latencies`` (all samples, for the CDF).
    ``profile``: also record the first worker with ``py-spy`` (raw collapsed stacks to that path);
    ``profile_idle``: include waiting threads in it (where the worker waits, not only where it computes).
    """
    from kafka import KafkaConsumer

    uid = uuid.uuid4().hex[:8]
    prefix = f"b{uid}."
    workdir.mkdir(parents=True, exist_ok=True)
    ev = events or make_events(offered_eps, duration_s, seed=seed, app=app)
    create_topics(bootstrap, prefix)
    probe = workdir / f"redis-{uid}.json"
    env = dict(os.environ)
    env.update({
        "LIVECART_BROKER": f"kafka://{bootstrap}", "LIVECART_REDIS_URL": redis_url, "LIVECART_APP_ID": f"bench-{uid}",
        "LIVECART_TOPIC_PREFIX": prefix, "LIVECART_KEY_PREFIX": f"lc{uid}", "LIVECART_PARTITIONS": "4",
        "PYTHONUNBUFFERED": "1", "LIVECART_BENCH_PROBE": str(probe),
    })
    env.update(env_extra or {})
    module = "streams.app" if app == "livecart" else "bench.passthrough_app"
    out_topic = topics.SUGGESTIONS.name if app == "livecart" else PASSTHROUGH_OUTPUT
    procs = [WorkerProc(module, {**env, "LIVECART_BENCH_PROBE": f"{probe}.{i}"}, workdir, f"{app}-{uid}-w{i}")
             for i in range(workers)]
    consumer = KafkaConsumer(prefix + out_topic, bootstrap_servers=[bootstrap], auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, metadata_max_age_ms=500,
                             fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    input_names = [prefix + t.name for t in topics.INPUTS if t is not topics.CATALOG]
    if app == "livecart":
        input_names.append(prefix + topics.ENRICHED.name)
    lag = LagSampler(bootstrap, f"bench-{uid}", input_names)
    spy: subprocess.Popen[bytes] | None = None
    try:
        _warm_up(bootstrap, prefix, consumer, app, procs)
        out = Output()
        rt0 = [_redis_probe(Path(f"{probe}.{i}")) for i in range(workers)]
        cpu0 = [w.cpu_s() for w in procs]
        if profile is not None:
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(procs[0].pid),
                                    "-o", str(profile), "--format", "raw", "-r", "50", "-d", str(int(duration_s)),
                                    "--nonblocking", *(["--idle"] if profile_idle else [])], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        q: Any = mp.get_context("fork").Queue()
        sender = mp.get_context("fork").Process(target=_produce, args=(bootstrap, prefix, ev.lines, offered_eps, q))
        wall0 = time.time()
        sender.start()
        lag_samples: list[tuple[float, int]] = []
        next_lag = time.time()
        sent: dict[str, Any] | None = None
        while True:
            _read(consumer, out, app, ev.expected)
            now = time.time()
            if now >= next_lag:
                lag_samples.append((round(now - wall0, 2), lag.sample()))
                next_lag = now + 1.0
            if sent is None and not q.empty():
                sent = q.get()
            if not all(w.alive() for w in procs):
                raise RuntimeError(f"{app} worker died:\n{procs[0].tail()}")
            if sent is not None:
                done = len(out.seen) >= len(ev.expected)
                quiet = now - max(out.last_new, sent["t_end"]) > 2.0
                if done or quiet or now > sent["t_end"] + DRAIN_S:
                    break
        sender.join(30)
        wall = time.time() - wall0
        cpu = sum(w.cpu_s() - c for w, c in zip(procs, cpu0, strict=True))
        rss = max(w.peak_rss_mb() for w in procs)
        rt1 = [_redis_probe(Path(f"{probe}.{i}")) for i in range(workers)]
        if spy is not None:
            spy.wait(60)
    finally:
        consumer.close()
        lag.close()
        for w in procs:
            w.stop()
        if spy is not None and spy.poll() is None:
            spy.kill()
    assert sent is not None
    n = sent["n"]
    send_s = sent["t_end"] - sent["t_start"]
    frac = len(out.seen) / max(1, len(ev.expected))
    span = max(out.last_new, sent["t_end"]) - sent["t_start"]
    achieved = n * frac / span if span > 0 else 0.0
    lags = [v for _, v in lag_samples]
    end_lag = lags[-1] if lags else 0
    trips = sum(b["round_trips"] - a["round_trips"] for a, b in zip(rt0, rt1, strict=True))
    cmds = sum(b["commands"] - a["commands"] for a, b in zip(rt0, rt1, strict=True))
    processed = n * frac
    drained = frac >= 0.99
    result = {
        "app": app, "workers": workers, "offered_eps": offered_eps, "duration_s": duration_s, "events": n,
        "sent_eps": round(n / send_s, 1) if send_s > 0 else None, "producer_behind_max_s": round(sent["behind_max_s"], 3),
        "achieved_eps": round(achieved, 1), "output_fraction": round(frac, 4), "outputs": out.count,
        "p50_ms": pct(out.latencies, 50), "p95_ms": pct(out.latencies, 95), "p99_ms": pct(out.latencies, 99),
        "max_ms": float(max(out.latencies)) if out.latencies else None,
        "processing_p50_ms": pct(out.processing, 50), "processing_p99_ms": pct(out.processing, 99),
        "max_lag": max(lags) if lags else 0, "end_lag": end_lag, "lag": lag_samples,
        "drained": drained, "sustained": bool(drained and achieved >= 0.95 * offered_eps),
        "worker_cpu_s": round(cpu, 2), "worker_cpu_pct": round(100 * cpu / wall, 1), "peak_rss_mb": round(rss, 1),
        "redis_round_trips_per_event": round(trips / processed, 3) if processed and app == "livecart" else None,
        "redis_commands_per_event": round(cmds / processed, 3) if processed and app == "livecart" else None,
        "mix": {k: round(v / n, 3) for k, v in sorted(ev.mix.items())},
        "latencies": out.latencies,
    }
    return result


def _warm_up(bootstrap: str, prefix: str, consumer: Any, app: str, procs: list[WorkerProc]) -> None:
    """Send a join and a comment per room until each worker answers, so the run starts with a ready group."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=[bootstrap], acks=1)
    rooms = list(Catalog.load(None).rooms)
    end = time.time() + WARMUP_DEADLINE_S
    n = 0
    while time.time() < end:
        ids: set[str] = set()
        for room in rooms:
            n += 1
            ts = int(time.time() * 1000)
            join: dict[str, Any] = {"ts": ts, "event_id": f"warmup-join-{n}", "room_id": room, "viewer_id": "warmup", "action": "join"}
            com: dict[str, Any] = {"ts": ts, "event_id": f"warmup-comment-{n}", "room_id": room, "viewer_id": "warmup", "text": "1号链接有货吗"}
            p.send(prefix + topics.PRESENCE.name, key=room.encode(), value=json.dumps(join, separators=(",", ":")).encode())
            p.send(prefix + topics.COMMENTS.name, key=room.encode(), value=json.dumps(com, ensure_ascii=False, separators=(",", ":")).encode())
            ids |= {join["event_id"], com["event_id"]}
        p.flush()
        out = Output()
        until = time.time() + 5.0
        while time.time() < until and not ids <= out.seen:
            _read(consumer, out, app, ids)
            if not all(w.alive() for w in procs):
                raise RuntimeError(f"{app} worker died during warm-up:\n{procs[0].tail()}")
        if ids <= out.seen:
            # Drain whatever else the warm-up produced so it does not count in the run.
            for _ in range(5):
                _read(consumer, Output(), app, set())
            p.close()
            return
    p.close()
    raise RuntimeError(f"{app} worker not ready after {WARMUP_DEADLINE_S}s:\n{procs[0].tail()}")

"""Fault-injection harness for the reliability scenarios: paced load, fault hooks, accounting against an embedded run.

A scenario simulates a show, computes the expected Redis state by replaying the same log in-process
(``streams.embedded``), then streams the log through a real broker into real ``faust`` worker
processes while a fault (worker SIGKILL, Redis outage, broker restart, rebalance) hits at a fixed
fraction of the applied events. At the end every input event is accounted for (applied, dead-lettered
or a sent duplicate), lifetime totals per item are compared exactly and the whole order-independent
state with ``tests.statecmp``. ``tests/test_reliability.py`` asserts on the result; ``bench/reliability.py``
writes it to ``reports/reliability.{json,md}``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer  # type: ignore[import-untyped]

from streams import topics
from streams.catalog import Catalog
from streams.config import Settings
from streams.embedded import Recorder, embedded_store, replay_lines
from streams.eventlog import value_bytes
from streams.logic.room import RECENT_MAX
from streams.runtime import build
from streams.simulate import simulate
from tests.kafkakit import WORKER_DEADLINE_S, Worker, worker_env
from tests.statecmp import assert_same_state, normalise

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "data" / "demo_catalog.jsonl"
ROOMS = ["beauty-01", "food-02"]
# Paced production, events per second: the worker keeps up (it drains thousands per second), so a fault
# lands on a stream that is still flowing, and a restarted worker meets a backlog (the "under load" part).
LOAD_RATE = 150.0
# The worker drains a few thousand events in seconds once up; 180 s also covers a cold restart
# (model load + group join, ~5-15 s) and a loaded 2-core CI machine.
DRAIN_DEADLINE_S = 180.0
# Once the rooms stage has applied everything, the dashboard stage (same topics, its own pace) catches up
# within a few seconds; past this the states really differ and the test reports the difference.
STATE_SETTLE_S = 45.0
# The fault fires once this fraction of the expected events is applied: clearly mid-stream.
FAULT_AT = 0.35
VIEWER_ITEM_TOPICS = {topics.CLICKS.name, topics.PURCHASES.name, topics.COMMENTS.name}
TOTALS = ("n_clicks", "n_purchases", "n_mentions", "units", "gmv")
ROOM_TOPICS = {t.name for t in topics.ROOM_INPUTS}


# ---------------------------------------------------------------- input


def make_log(seed: int = 11, duration_s: float = 200, viewers: int = 60, rooms: Sequence[str] = ROOMS,
             duplicates_every: int = 40, junk_every: int = 97) -> list[dict[str, Any]]:
    """Simulated show lines (catalog entries dropped: the worker loads the catalog file) plus a resent duplicate
    every ``duplicates_every`` events and an undecodable value every ``junk_every`` events, so a run exercises
    all three outcomes."""
    lines = [x for x in simulate(Catalog.load(), seed=seed, rooms=list(rooms), duration_s=duration_s,
                                 viewers_per_room=viewers) if x["topic"] != topics.CATALOG.name]
    # A viewer's item context pairs are order-independent only while their events in the 10-min pair window fit
    # in RECENT_MAX (streams/logic/room.py); busier viewers would make the expected state depend on the
    # interleaving across topics (docs/reliability.md, known limits), so their extra events are dropped.
    per_viewer: Counter[tuple[str, str]] = Counter()
    kept = []
    for x in lines:
        v = x["value"]
        if x["topic"] in VIEWER_ITEM_TOPICS:
            per_viewer[(v["room_id"], v["viewer_id"])] += 1
            if per_viewer[(v["room_id"], v["viewer_id"])] > RECENT_MAX - 5:
                continue
        kept.append(x)
    out: list[dict[str, Any]] = []
    for i, line in enumerate(kept, 1):
        out.append(line)
        if duplicates_every and i % duplicates_every == 0:
            out.append(line)
        if junk_every and i % junk_every == 0:
            raw = f"junk #{i}: not JSON {{".encode()
            out.append({"topic": line["topic"], "key": line["key"], "value": {"$raw_b64": base64.b64encode(raw).decode()}})
    return out


def expected_run(lines: list[dict[str, Any]], key_prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(normalised state, dead letters) of the in-process replay of ``lines``: what a faultless worker must reach."""
    settings = Settings(key_prefix=key_prefix, catalog_path=str(CATALOG))
    rt = build(settings, store=embedded_store(settings))
    rec = Recorder(None)

    async def go() -> dict[str, Any]:
        await replay_lines(lines, rt, rec)
        return await rt.store.dump()

    dump = asyncio.run(go())
    return normalise(dump, key_prefix), [x["value"] for x in rec.keep.get(topics.DEADLETTER.name, [])]


# ---------------------------------------------------------------- load


class PacedProducer(threading.Thread):
    """Produces log lines at ``rate`` events/s in log order; ``paused`` (an Event) holds it while set.

    kafka-python retries sends for up to ``delivery_timeout_ms`` (here 120 s), so a broker restart
    delays messages instead of dropping them; every future is checked at the end.
    """

    def __init__(self, bootstrap: str, prefix: str, lines: list[dict[str, Any]], rate: float = LOAD_RATE) -> None:
        super().__init__(daemon=True)
        self.p = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", linger_ms=5, retries=1_000_000,
                               delivery_timeout_ms=120_000, request_timeout_ms=10_000, max_request_size=2_000_000,
                               max_in_flight_requests_per_connection=1, reconnect_backoff_max_ms=1000)
        self.prefix, self.lines, self.rate = prefix, lines, rate
        self.paused = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            futures = []
            t0 = time.monotonic()
            for i, line in enumerate(self.lines):
                while self.paused.is_set():
                    time.sleep(0.05)
                    t0 = time.monotonic() - i / self.rate  # resume at the pace, not in a burst
                wait = t0 + i / self.rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                key = line.get("key")
                futures.append(self.p.send(self.prefix + line["topic"], key=key.encode() if isinstance(key, str) else None,
                                           value=value_bytes(line["value"])))
                self.sent += 1
            self.p.flush()
            for f in futures:
                f.get(timeout=120)
        except BaseException as exc:  # noqa: BLE001 - reported by finish()
            self.error = exc
        finally:
            self.p.close()

    def finish(self, timeout: float = DRAIN_DEADLINE_S) -> None:
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"producer still running after {timeout}s ({self.sent}/{len(self.lines)} sent)")
        if self.error is not None:
            raise AssertionError(f"producer failed after {self.sent} sends: {self.error!r}") from self.error


# ---------------------------------------------------------------- observation


def applied_count(url: str, key_prefix: str) -> int:
    """How many events the rooms stage has committed: its dedupe markers in Redis (-1 while Redis is down)."""
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1) as r:
            return sum(1 for _ in r.scan_iter(match=f"{key_prefix}:*:seen:rooms:*", count=5000))
    except redis.RedisError:
        return -1


def dump_state(url: str, key_prefix: str) -> dict[str, Any]:
    """The normalised state under ``key_prefix`` (tests/statecmp.py)."""
    from streams.store import RedisStore, connect

    async def go() -> dict[str, Any]:
        store = RedisStore(connect(url), key_prefix)
        try:
            return await store.dump()
        finally:
            await store.close()

    return normalise(asyncio.run(go()), key_prefix)


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def committed_offsets(bootstrap: str, group: str, prefix: str, names: set[str]) -> dict[tuple[str, int], int]:
    """The group's committed offset per (topic, partition) of the default topic ``names``."""
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=10_000)
    try:
        offs = admin.list_group_offsets(group)[group]
    finally:
        admin.close()
    return {(tp.topic[len(prefix):], tp.partition): meta.offset for tp, meta in offs.items()
            if tp.topic[len(prefix):] in names}


def read_deadletters(bootstrap: str, prefix: str, idle_ms: int = 3000) -> list[dict[str, Any]]:
    """Every message on ``<prefix>live.deadletter`` so far (stops after ``idle_ms`` without a new one)."""
    c = KafkaConsumer(prefix + topics.DEADLETTER.name, bootstrap_servers=[bootstrap], auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id=None, consumer_timeout_ms=idle_ms)
    try:
        return [json.loads(m.value) for m in c]
    finally:
        c.close()


# ---------------------------------------------------------------- accounting


def _event_id(raw: bytes) -> str | None:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    eid = obj.get("event_id") if isinstance(obj, dict) else None
    return eid if isinstance(eid, str) else None


def unique_deadletters(dls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dead letter per source message: a redelivered batch may dead-letter the same message again."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for d in dls:
        seen.setdefault((d["stage"], d["topic"], d["partition"], d["offset"]), d)
    return list(seen.values())


def account(lines: list[dict[str, Any]], state: dict[str, Any], expected: dict[str, Any],
            dls: list[dict[str, Any]]) -> dict[str, Any]:
    """sent / processed / dead_lettered / duplicates / lost / double_applied of a run (see the module docstring).

    An input line is a sent duplicate when its event_id appeared before on the same topic; otherwise it is
    processed when the rooms stage's dedupe marker for it exists, dead-lettered when a dead letter carries
    its bytes (or, for a comment rejected after enrichment, its event_id), else lost. ``double_applied`` sums,
    over items, how far the lifetime counts (clicks, purchases, mentions, units) exceed the faultless run's.
    """
    applied = {k.rsplit(":seen:rooms:", 1)[1] for k in state if ":seen:rooms:" in k}
    uniq = unique_deadletters(dls)
    dl_raw = Counter((d["topic"], base64.b64decode(d["raw_b64"])) for d in uniq)
    dl_ids = {eid for d in uniq if (eid := _event_id(base64.b64decode(d["raw_b64"])))}
    sent_ids: set[tuple[str, str]] = set()
    n = processed = dead = dups = lost = 0
    lost_examples: list[str] = []
    for line in lines:
        n += 1
        raw = value_bytes(line["value"])
        eid = _event_id(raw)
        if eid is not None and (line["topic"], eid) in sent_ids:
            dups += 1
            continue
        if eid is not None:
            sent_ids.add((line["topic"], eid))
        if eid is not None and eid in applied:
            processed += 1
        elif dl_raw[(line["topic"], raw)] > 0:
            dl_raw[(line["topic"], raw)] -= 1
            dead += 1
        elif eid is not None and eid in dl_ids:
            dead += 1
        else:
            lost += 1
            lost_examples.append(f"{line['topic']}:{eid or raw[:40]!r}")
    double = 0
    for k, exp in expected.items():
        if ":item:" in k:
            got = state.get(k, {})
            double += sum(max(0, round(got.get(f, 0.0) - exp.get(f, 0.0))) for f in TOTALS if f != "gmv")
    return {"sent": n, "processed": processed, "dead_lettered": dead, "duplicates": dups, "lost": lost,
            "double_applied": double, "dead_letter_messages": len(dls), "lost_examples": lost_examples[:5]}


def totals(state: dict[str, Any]) -> dict[str, float]:
    """Lifetime totals summed over every item: an exact cross-check of the per-event counts."""
    out = dict.fromkeys(TOTALS, 0.0)
    for k, h in state.items():
        if ":item:" in k:
            for f in TOTALS:
                out[f] += float(h.get(f, 0.0))
    return {f: round(v, 2) for f, v in out.items()}


def without_dashboards(state: dict[str, Any]) -> dict[str, Any]:
    """The state less the dashboard blobs (their dedupe markers stay)."""
    return {k: v for k, v in state.items() if not k.endswith(":dashboard")}


def assert_equivalent_state(expected: dict[str, Any], got: dict[str, Any]) -> None:
    """``statecmp.assert_same_state`` (vectors compared relative to their length)."""
    assert_same_state(expected, got)


# ---------------------------------------------------------------- a scenario


@dataclass
class Run:
    """What a fault hook gets: the live workers, the environment and a scratch dict for measurements."""

    bootstrap: str
    redis_url: str
    uid: str
    workdir: Path
    env: dict[str, str]
    workers: list[Worker]
    producer: PacedProducer
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.uid}."

    @property
    def key_prefix(self) -> str:
        return f"lc{self.uid}"

    def applied(self) -> int:
        return applied_count(self.redis_url, self.key_prefix)


# A hook injects the fault and returns when it is over (the monotonic instant recovery is measured from).
Fault = Callable[[Run], float]


def no_fault(run: Run) -> float:
    return time.monotonic()


def wait_until(what: str, cond: Callable[[], Any], deadline_s: float, run: Run | None = None, step_s: float = 0.2) -> Any:
    end = time.monotonic() + deadline_s
    while True:
        got = cond()
        if got:
            return got
        if run is not None:
            dead = [w for w in run.workers if not w.alive()]
            assert not dead, f"worker died while waiting for {what}:\n{dead[0].tail()}"
        assert time.monotonic() < end, f"timed out after {deadline_s}s waiting for {what}" + (
            f" (test producer: {run.producer.sent}/{len(run.producer.lines)} sent, error {run.producer.error!r},"
            f" applied now {run.applied()})\n" + "\n".join(w.tail(40) for w in run.workers) if run else "")
        time.sleep(step_s)


def run_scenario(fault: Fault, *, bootstrap: str, redis_url: str, uid: str, workdir: Path,
                 lines: list[dict[str, Any]] | None = None, expected: tuple[dict[str, Any], list[dict[str, Any]]] | None = None,
                 env_extra: dict[str, str] | None = None, fault_at: float = FAULT_AT) -> dict[str, Any]:
    """Stream ``lines`` through one worker (more if ``fault`` adds them), fire ``fault`` at ``fault_at`` of the
    expected applied events, drain, and return the accounting plus ``recovery_s``, ``wall_s`` and the states.

    ``recovery_s``: from the end of the fault until the rooms stage commits its next new event. Raises
    AssertionError when a deadline passes or a worker dies unasked.
    """
    lines = make_log() if lines is None else lines
    exp_state, exp_dls = expected if expected is not None else expected_run(lines, f"emb{uid}")
    n_applied = sum(1 for k in exp_state if ":seen:rooms:" in k)
    env = worker_env(bootstrap, redis_url, uid, CATALOG, **(env_extra or {}))
    run = Run(bootstrap, redis_url, uid, workdir, env, [], PacedProducer(bootstrap, f"{uid}.", lines))
    t0 = time.monotonic()
    try:
        run.workers.append(Worker(env, workdir, "w0").start())
        run.producer.start()
        trigger = max(1, int(n_applied * fault_at))
        wait_until(f"{trigger} applied events before the fault", lambda: run.applied() >= trigger,
                   DRAIN_DEADLINE_S + WORKER_DEADLINE_S, run)
        run.notes["applied_at_fault"] = run.applied()
        run.notes["expected_applied"] = n_applied
        fault_end = fault(run)
        before = max(run.applied(), 0)

        def progressed() -> bool:
            now = run.applied()
            return now > before or now >= n_applied

        wait_until("progress after the fault", progressed, DRAIN_DEADLINE_S + WORKER_DEADLINE_S, run, 0.05)
        recovery_s = time.monotonic() - fault_end
        run.producer.finish()
        wait_until(f"all {n_applied} events applied", lambda: run.applied() >= n_applied, DRAIN_DEADLINE_S, run, 0.5)

        # The dashboard stage reads the same topics at its own pace: poll until the whole state matches.
        def same() -> bool:
            try:
                assert_equivalent_state(exp_state, dump_state(redis_url, run.key_prefix))
                return True
            except AssertionError:
                return False

        end = time.monotonic() + STATE_SETTLE_S
        while not same() and time.monotonic() < end:
            time.sleep(1)
        run.notes["rss_end_mb"] = round(max(rss_mb(w.proc.pid) for w in run.workers if w.alive() and w.proc), 1)
        state = dump_state(redis_url, run.key_prefix)
        wall = time.monotonic() - t0
        dls = read_deadletters(bootstrap, run.prefix)
        result = account(lines, state, exp_state, dls)
        result.update(recovery_s=round(recovery_s, 2), wall_s=round(wall, 1),
                      expected_dead_letters=len(exp_dls), totals=totals(state), expected_totals=totals(exp_state),
                      **run.notes)
        result["_state"], result["_expected"] = state, exp_state
        result["_deadletters"], result["_expected_deadletters"] = unique_deadletters(dls), exp_dls
        result["workers_alive"] = [w.alive() for w in run.workers]
        return result
    finally:
        for w in run.workers:
            w.stop()
        if run.producer.is_alive():
            run.producer.paused.clear()
            run.producer.join(5)


# ---------------------------------------------------------------- the faults

# How long Redis stays down: several backoff rounds (0.1 s doubling to 5 s) and more than one faust commit interval.
REDIS_OUTAGE_S = 8.0
# faust commits acked offsets every 2.8 s (commit_interval); after this long into an outage every offset
# whose state was written before it is committed, so the committed offsets must stay put until Redis returns.
COMMIT_SETTLE_S = 4.0


def kill_worker(run: Run) -> float:
    """SIGKILL the worker mid-batch (no clean shutdown, no final commit) and start a fresh one."""
    victim = run.workers.pop()
    victim.stop(signal.SIGKILL)
    run.notes["killed_pid"] = victim.proc.pid if victim.proc else None
    run.workers.append(Worker(run.env, run.workdir, "w-restarted").start())
    return time.monotonic()


def redis_outage(server: Any) -> Fault:
    """Stop ``server`` (a private RedisServer with AOF persistence) for REDIS_OUTAGE_S, watching the worker."""

    def hook(run: Run) -> float:
        w = run.workers[0]
        assert w.proc is not None
        pid = w.proc.pid
        run.notes["rss_before_mb"] = round(rss_mb(pid), 1)
        server.stop()
        start = time.monotonic()
        peak, frozen_at = 0.0, None
        while time.monotonic() - start < REDIS_OUTAGE_S:
            assert w.alive(), f"worker died during the Redis outage:\n{w.tail()}"
            peak = max(peak, rss_mb(pid))
            if frozen_at is None and time.monotonic() - start >= COMMIT_SETTLE_S:
                frozen_at = committed_offsets(run.bootstrap, f"lc-{run.uid}", run.prefix, ROOM_TOPICS)
            time.sleep(0.25)
        at_end = committed_offsets(run.bootstrap, f"lc-{run.uid}", run.prefix, ROOM_TOPICS)
        run.notes["rss_outage_peak_mb"] = round(peak, 1)
        run.notes["offsets_moved_during_outage"] = sorted(
            f"{t}[{p}] {frozen_at.get((t, p)) if frozen_at else None}->{o}" for (t, p), o in at_end.items()
            if frozen_at is None or frozen_at.get((t, p)) != o)
        run.notes["warnings_logged"] = w.log.read_text(errors="replace").count("retrying in")
        server.start()
        run.notes["same_worker_pid"] = w.alive() and w.proc.pid == pid
        return time.monotonic()

    return hook


def broker_restart(server: Any) -> Fault:
    """Restart ``server`` (a private KafkaServer) while the worker consumes; the producer holds meanwhile."""

    def hook(run: Run) -> float:
        pid = run.workers[0].proc.pid if run.workers[0].proc else None
        run.producer.paused.set()
        try:
            started = time.monotonic()
            server.restart()
            run.notes["broker_down_s"] = round(time.monotonic() - started, 2)
        finally:
            run.producer.paused.clear()
        run.notes["same_worker_pid"] = run.workers[0].alive() and run.workers[0].proc is not None and run.workers[0].proc.pid == pid
        return time.monotonic()

    return hook


# The second worker stays until this many more events are applied: long enough that both own partitions.
REBALANCE_SPAN = 0.3


def add_and_remove_worker(run: Run) -> float:
    """Start a second worker in the group, let both work, then stop it (two rebalances)."""
    extra = Worker(run.env, run.workdir, "w-extra").start()
    run.workers.append(extra)
    target = run.applied() + int(run.notes["expected_applied"] * REBALANCE_SPAN)
    wait_until("progress with two workers", lambda: run.applied() >= target, DRAIN_DEADLINE_S + WORKER_DEADLINE_S, run)
    run.notes["applied_with_two"] = run.applied()
    run.workers.remove(extra)
    extra.stop()
    return time.monotonic()

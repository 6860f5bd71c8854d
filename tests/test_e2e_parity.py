"""The same log gives the same state and suggestions embedded (in-process) and through real Kafka + Redis with 1 or 2 workers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from streams.catalog import Catalog
from streams.config import Settings
from streams.embedded import embedded_store, replay_lines
from streams.eventlog import read_log, write_log
from streams.kafka_replay import replay_to_kafka
from streams.runtime import build
from streams.simulate import simulate
from streams.store import RedisStore, connect
from tests.kafkakit import WORKER_DEADLINE_S, Reader, Worker, worker_env
from tests.statecmp import assert_same_state, assert_same_suggestions, normalise

pytestmark = pytest.mark.integration

ROOMS = ["beauty-01", "food-02"]
SETTLE_GAP_MS = 30_000  # after the room-refresh throttle (2 s) for sure
# The worker drains a few thousand events in seconds; 180 s covers model warm-up and a slow CI machine.
DRAIN_DEADLINE_S = 180.0


def make_log(path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A simulated 120 s show in two rooms, then one on-stage host event per room that refreshes every active viewer."""
    catalog = Catalog.load()
    lines = list(simulate(catalog, seed=11, rooms=ROOMS, duration_s=120, viewers_per_room=40))
    end = max(x["value"]["ts"] for x in lines if x["topic"] != "live.catalog")
    settle = []
    for i, room in enumerate(ROOMS):
        item = next(iter(catalog.rooms[room].products))
        settle.append({"topic": "live.host", "key": room, "value": {"event_id": f"settle-{room}", "ts": end + SETTLE_GAP_MS + i,
                                                                    "room_id": room, "action": "on_stage", "item_id": item}})
    write_log(lines, path / "main.jsonl")
    write_log(settle, path / "settle.jsonl")
    return path / "main.jsonl", settle


def settle_suggestions(sugs: list[dict[str, Any]]) -> dict[str, Any]:
    return {s["viewer_id"]: (s["products"], s["knowledge"]) for s in sugs if s["trigger_event_id"].startswith("settle-")}


def run_embedded(main: Path, settle: list[dict[str, Any]], settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    rt = build(settings, store=embedded_store(settings))
    sugs: list[dict[str, Any]] = []

    def record(outs: Any) -> None:
        sugs.extend(json.loads(o.value) for o in outs if o.topic == "live.suggestions")

    async def go() -> dict[str, Any]:
        await replay_lines([*read_log(main), *settle], rt, record)
        return await rt.store.dump()

    dump = asyncio.run(go())
    return normalise(dump, settings.key_prefix), settle_suggestions(sugs)


async def _dump(url: str, prefix: str) -> dict[str, Any]:
    store = RedisStore(connect(url), prefix)
    try:
        return await store.dump()
    finally:
        await store.close()


@pytest.mark.parametrize("workers", [1, 2])
def test_embedded_equals_kafka(workers: int, kafka: Any, redis_server: Any, uid: str, tmp_path: Path) -> None:
    main, settle = make_log(tmp_path)
    emb_settings = Settings(key_prefix=f"emb{uid}")
    expected_state, expected_sugs = run_embedded(main, settle, emb_settings)
    n_seen = sum(1 for k in expected_state if ":seen:rooms:" in k)
    assert n_seen > 300 and len(expected_sugs) > 10

    prefix = f"{uid}."
    env = worker_env(kafka.bootstrap, redis_server.url, uid, Path(Settings().catalog_path or "data/demo_catalog.jsonl").resolve())
    settings = Settings(broker=f"kafka://{kafka.bootstrap}", topic_prefix=prefix, partitions=4)
    replay_to_kafka(str(main), settings=settings, progress=False)
    reader = Reader(kafka.bootstrap, prefix, ["live.suggestions"])
    procs = [Worker(env, tmp_path, f"w{i}").start() for i in range(workers)]
    try:
        key_prefix = f"lc{uid}"

        def drain(n: int) -> None:
            deadline = time.monotonic() + DRAIN_DEADLINE_S + WORKER_DEADLINE_S
            while True:
                state = normalise(asyncio.run(_dump(redis_server.url, key_prefix)), key_prefix)
                done = sum(1 for k in state if ":seen:rooms:" in k)
                if done >= n:
                    return
                assert all(p.alive() for p in procs), "\n".join(p.tail() for p in procs)
                assert time.monotonic() < deadline, f"drained {done} of {n}"
                time.sleep(1)

        drain(n_seen - len(settle))
        replay_to_kafka(str(tmp_path / "settle.jsonl"), settings=settings, progress=False)
        got = reader.wait("settle suggestions", lambda s: len(settle_suggestions(s["live.suggestions"])) >= len(expected_sugs)
                          and settle_suggestions(s["live.suggestions"]), DRAIN_DEADLINE_S, procs[0])
        drain(n_seen)
        # The dashboard stage reads the same topics at its own pace: poll until it has caught up too.
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        while True:
            try:
                assert_same_state(expected_state, normalise(asyncio.run(_dump(redis_server.url, key_prefix)), key_prefix))
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert_same_suggestions(got, expected_sugs)
    finally:
        for p in procs:
            p.stop()
        reader.close()

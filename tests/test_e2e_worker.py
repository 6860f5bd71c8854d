"""End to end: kafka-python producer -> real broker -> `faust -A streams.app worker` process -> topics and Redis.

The scripted mini session of the agents issue: the host puts a lipstick on stage, a viewer clicks it,
asks "3号链接有没有豆沙色", buys it; plus a malformed event and a redelivered purchase.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from streams.store import Keys
from tests import roomkit as k
from tests.kafkakit import WORKER_DEADLINE_S, Producer, Reader, Worker, worker_env

pytestmark = pytest.mark.integration

# Once the worker is up, each step's output arrives within a second; 60 s absorbs a loaded CI machine.
STEP_DEADLINE_S = 60.0
OUT = ["live.suggestions", "live.dashboard", "live.deadletter", "live.comments.enriched"]


def ev(kind: str, dt: int, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{kind}-{dt}", "ts": k.T0 + dt, "room_id": k.ROOM, **fields}


def write_catalog(folder: Path) -> Path:
    catalog = folder / "catalog.jsonl"
    catalog.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in k.ENTRIES), encoding="utf-8")
    return catalog


def last_for(seen: dict[str, list[dict[str, Any]]], viewer: str, trigger: str) -> dict[str, Any] | None:
    hits = [s for s in seen["live.suggestions"] if s["viewer_id"] == viewer and s["trigger_event_id"] == trigger]
    return hits[-1] if hits else None


def test_mini_session(kafka: Any, redis_server: Any, uid: str, tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path)
    prefix = f"{uid}."
    producer = Producer(kafka.bootstrap, prefix)
    # Topics exist before the worker subscribes, with the partition count the design uses.
    for t in ("live.comments", "live.clicks", "live.purchases", "live.host", "live.presence", "live.comments.enriched"):
        producer.send(t, b"warm-up: not an event", key="warmup")
    reader = Reader(kafka.bootstrap, prefix, OUT)
    worker = Worker(worker_env(kafka.bootstrap, redis_server.url, uid, catalog), tmp_path).start()
    try:
        # The warm-up values are malformed: each comes back as a dead letter once the worker runs.
        # Six warm-ups (the enriched one too), read in no fixed order: wait for the five input topics' letters.
        inputs = {"live.clicks", "live.purchases", "live.host", "live.presence", "live.comments"}
        dls = reader.wait("warm-up dead letters", lambda s: {d["topic"] for d in s["live.deadletter"]} >= inputs
                          and s["live.deadletter"], WORKER_DEADLINE_S, worker)
        assert all("not JSON" in d["reason"] and d["offset"] == 0 and d["partition"] is not None for d in dls)

        producer.send("live.presence", ev("join", 0, viewer_id="v1", action="join"))
        reader.wait("join suggestion", lambda s: last_for(s, "v1", "join-0"), STEP_DEADLINE_S, worker)

        producer.send("live.host", ev("host", 1_000, action="on_stage", item_id="lip-3"))
        s1 = reader.wait("on-stage refresh", lambda s: last_for(s, "v1", "host-1000"), STEP_DEADLINE_S, worker)
        assert s1["trigger"] == "on_stage"
        assert s1["products"][0]["id"] == "lip-3" and s1["products"][0]["reasons"][0]["code"] == "on_stage_now"

        producer.send("live.clicks", ev("click", 2_000, viewer_id="v1", item_id="lip-3"))
        s2 = reader.wait("click suggestion", lambda s: last_for(s, "v1", "click-2000"), STEP_DEADLINE_S, worker)
        assert s2["latency_ms"] >= 0 and s2["version"].startswith("rank-")

        producer.send("live.comments", ev("comment", 3_000, viewer_id="v1", text="3号链接有没有豆沙色"))
        enriched = reader.wait("enriched comment", lambda s: [e for e in s["live.comments.enriched"] if "event_id" in e],
                               STEP_DEADLINE_S, worker)[0]
        assert enriched["is_question"] is True
        link = [e for e in enriched["entities"] if e["type"] == "LINK"]
        assert link and link[0]["item_id"] == "lip-3" and link[0]["text"].startswith("3号")
        s3 = reader.wait("comment suggestion", lambda s: last_for(s, "v1", "comment-3000"), STEP_DEADLINE_S, worker)
        course = next(x for x in s3["knowledge"] if x["id"] == "makeup-course")
        assert any(r["code"] == "answers_your_question" for r in course["reasons"])

        buy = ev("purchase", 4_000, viewer_id="v1", item_id="lip-3", quantity=1, price=129.0)
        producer.send("live.purchases", buy)
        s4 = reader.wait("purchase suggestion", lambda s: last_for(s, "v1", "purchase-4000"), STEP_DEADLINE_S, worker)
        assert "lip-3" not in [p["id"] for p in s4["products"]]
        assert s4["knowledge"][0]["id"] == "makeup-course"
        assert s4["knowledge"][0]["reasons"][0] == {"code": "related_to_your_purchase", "weight": 1.2, "item_id": "lip-3"}
        assert [p["id"] for p in s4["products"]] != [p["id"] for p in s2["products"]]

        # Bad event, redelivered purchase, then a good event: the bad one is dead-lettered, the duplicate ignored.
        producer.send("live.clicks", {"event_id": "bad-1", "ts": "soon", "room_id": k.ROOM})
        producer.send("live.purchases", buy)
        producer.send("live.clicks", ev("click", 12_000, viewer_id="v2", item_id="brush-6"))
        reader.wait("click after bad event", lambda s: last_for(s, "v2", "click-12000"), STEP_DEADLINE_S, worker)
        bad = [d for d in reader.seen["live.deadletter"] if d["topic"] == "live.clicks" and "'ts'" in d["reason"]]
        assert bad and bad[0]["stage"] == "rooms"
        assert json.loads(__import__("base64").b64decode(bad[0]["raw_b64"]))["event_id"] == "bad-1"

        snap = reader.wait("dashboard snapshot after the purchase",
                           lambda s: [d for d in s["live.dashboard"] if d["totals"]["purchases"] >= 1], STEP_DEADLINE_S, worker)[-1]
        lip = next(p for p in snap["hot_products"] if p["item_id"] == "lip-3")
        assert (lip["clicks"], lip["purchases"], lip["gmv"]) == (1, 1, 129.0)
        assert snap["totals"]["gmv"] == 129.0
        assert snap["open_questions"][0]["text"] == "3号链接有没有豆沙色" and snap["open_questions"][0]["count"] == 1
        assert snap["on_stage"]["item_id"] == "lip-3"

        r = redis.Redis.from_url(redis_server.url)
        keys = Keys(f"lc{uid}")
        item = r.hgetall(keys.item(k.ROOM, "lip-3"))
        assert float(item[b"n_purchases"]) == 1.0 and float(item[b"units"]) == 1.0  # the redelivery counted once
        assert float(item[b"n_clicks"]) == 1.0 and item[b"on_stage"] == b"1"
        assert 0 < r.ttl(keys.item(k.ROOM, "lip-3")) <= 86_400
        viewer = r.hgetall(keys.viewer(k.ROOM, "v1"))
        assert json.loads(viewer[b"purchased"]) == {"lip-3": k.T0 + 4_000}
        assert r.exists(keys.seen(k.ROOM, "rooms", "purchase-4000"))
        assert worker.alive()
    finally:
        worker.stop()
        reader.close()
        producer.close()


def test_partitions_added_after_the_worker_joined_are_consumed(kafka: Any, redis_server: Any, uid: str,
                                                              tmp_path: Path) -> None:
    """Partitions (or topics) that appear after the consumer group formed are consumed within the metadata refresh.

    CI once lost a run to this: ``live.comments.enriched`` reached the broker's metadata a moment after the
    worker's first join, the group leader assigned everything else, and the comments waited for faust's default
    metadata refresh (5 min). A topic's partition count growing after the join is the same change to the
    leader's metadata snapshot, and one a test can make happen at a chosen moment.
    """
    from kafka import KafkaProducer  # type: ignore[import-untyped]
    from kafka.admin import KafkaAdminClient, NewPartitions  # type: ignore[import-untyped]

    from bench.load import create_topics

    catalog = write_catalog(tmp_path)
    prefix = f"{uid}."
    create_topics(kafka.bootstrap, prefix)
    producer, reader = Producer(kafka.bootstrap, prefix), Reader(kafka.bootstrap, prefix, OUT)
    worker = Worker(worker_env(kafka.bootstrap, redis_server.url, uid, catalog), tmp_path).start()
    try:
        producer.send("live.presence", ev("join", 0, viewer_id="v1", action="join"))
        reader.wait("join suggestion", lambda s: last_for(s, "v1", "join-0"), WORKER_DEADLINE_S, worker)
        admin = KafkaAdminClient(bootstrap_servers=[kafka.bootstrap])
        admin.create_partitions({prefix + "live.presence": NewPartitions(total_count=8)})
        admin.close()
        fresh = KafkaProducer(bootstrap_servers=[kafka.bootstrap], acks="all", metadata_max_age_ms=200)
        try:
            end = time.monotonic() + STEP_DEADLINE_S
            while len(fresh.partitions_for(prefix + "live.presence") or ()) < 8:
                assert time.monotonic() < end, "the test producer never saw the 8 partitions"
                time.sleep(0.2)
            join = json.dumps(ev("join", 1_000, viewer_id="v2", action="join")).encode()
            fresh.send(prefix + "live.presence", key=k.ROOM.encode(), value=join, partition=6).get(timeout=30)
        finally:
            fresh.close()
        got = reader.wait("suggestion for a join on a partition added after the join",
                          lambda s: last_for(s, "v2", "join-1000"), STEP_DEADLINE_S, worker)
        assert got["trigger"] == "presence" and worker.alive()
    finally:
        worker.stop()
        reader.close()
        producer.close()

"""Cost model: how the rooms stage's latency and Redis work grow with catalog size and active viewers per room.

In-process, against a real Redis: ``RoomsStage.process`` (decode, dedupe check, apply, ranking,
publish callback, MULTI commit) on micro-batches of 64 synthetic events (60 % clicks, 30 % enriched
comments mentioning one item, 10 % purchases, a host on-stage change every 2 s of event time, which
refreshes up to LIVECART_MAX_ROOM_REFRESH_VIEWERS viewers). An event's latency here is the time from
its batch's start to the batch's suggestions being handed to ``send`` (no Kafka, no batching wait).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from streams.catalog import Catalog
from streams.config import Settings
from streams.pipeline import Incoming, Outgoing, RoomsStage
from streams.store import RedisStore, connect

ROOM = "cost-room"
T0 = 1_700_000_000_000
BATCH = 64


def synthetic_catalog(items: int, seed: int = 1) -> Catalog:
    rng = random.Random(seed)
    cats = [f"cat{i}" for i in range(max(4, min(50, items // 20)))]
    brands = [f"brand{i}" for i in range(30)]
    entries: list[dict[str, Any]] = []
    for i in range(items):
        cat = rng.choice(cats)
        entries.append({"kind": "product", "room_id": ROOM, "item_id": f"it-{i}", "title": f"{cat} 商品{i} {rng.choice(brands)}",
                        "brand": rng.choice(brands), "category": cat, "price": round(rng.uniform(10, 500), 1), "slot": i + 1,
                        "attributes": {"色号": [f"c{rng.randrange(9)}"]}, "aliases": [], "repeatable": rng.random() < 0.3,
                        "complements": rng.sample(cats, 2)})
    for j in range(8):
        entries.append({"kind": "content", "room_id": ROOM, "content_id": f"ct-{j}", "title": f"guide {j}", "price": 0.0,
                        "content_kind": "guide", "paid": j % 2 == 0, "related_items": [f"it-{rng.randrange(items)}"],
                        "categories": [rng.choice(cats)]})
    return Catalog.from_entries(entries)


def _events(items: int, viewers: int, n: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    ts = T0 + 60_000
    for k in range(n):
        ts += 1  # 1,000 events per event-time second
        v = f"v{rng.randrange(viewers)}"
        item = f"it-{rng.randrange(items)}"
        base = {"event_id": f"e{seed}-{k}", "ts": ts, "room_id": ROOM}
        if k % 2000 == 0:
            yield "live.host", {**base, "action": "on_stage", "item_id": item}
            continue
        r = rng.random()
        if r < 0.6:
            yield "live.clicks", {**base, "viewer_id": v, "item_id": item}
        elif r < 0.9:
            yield "live.comments.enriched", {
                **base, "viewer_id": v, "text": "这个有货吗", "sentiment": {"label": "pos", "score": 0.9}, "is_question": True,
                "entities": [{"start": 0, "end": 2, "type": "PRODUCT", "text": "这个", "item_id": item}], "model_version": "bench"}
        else:
            yield "live.purchases", {**base, "viewer_id": v, "item_id": item, "quantity": 1, "price": 99.0}


@contextmanager
def count_round_trips() -> Iterator[dict[str, int]]:
    """Count redis.asyncio pipeline executions (round trips) and their commands while inside the block."""
    from redis.asyncio.client import Pipeline

    counts = {"round_trips": 0, "commands": 0}
    orig = Pipeline.execute

    async def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        counts["round_trips"] += 1
        counts["commands"] += len(self.command_stack)
        return await orig(self, *args, **kwargs)

    Pipeline.execute = execute  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        Pipeline.execute = orig  # type: ignore[method-assign]


async def _one(redis_url: str, items: int, viewers: int, events: int, seed: int) -> dict[str, Any]:
    settings = Settings()
    prefix = f"cost{seed}"
    store = RedisStore(connect(redis_url), prefix)
    # Active viewers: present and seen in the last minute, as the room's active set holds them.
    rng = random.Random(seed)
    members = {f"v{i}": T0 + rng.randrange(60_000) for i in range(viewers)}
    for chunk in range(0, viewers, 10_000):
        part = dict(list(members.items())[chunk:chunk + 10_000])
        await store.r.zadd(store.k.active(ROOM), part)  # type: ignore[arg-type]
    stage = RoomsStage(synthetic_catalog(items, seed), store, settings)
    lines = list(_events(items, viewers, events, seed))
    lat: list[float] = []
    published = 0
    t_send = 0.0

    async def send(outs: list[Outgoing]) -> None:
        nonlocal t_send, published
        t_send = time.perf_counter()
        published += len(outs)

    # Warm the room cache (first batch loads the room and its active set), then measure.
    warm = [Incoming(t, json.dumps(v, ensure_ascii=False).encode()) for t, v in lines[:BATCH]]
    t = time.perf_counter()
    await stage.process(warm, send)
    cold_ms = (time.perf_counter() - t) * 1000
    with count_round_trips() as counts:
        start = time.perf_counter()
        for i in range(BATCH, len(lines), BATCH):
            batch = [Incoming(t, json.dumps(v, ensure_ascii=False).encode()) for t, v in lines[i:i + BATCH]]
            t0 = time.perf_counter()
            await stage.process(batch, send)
            lat.extend([(t_send - t0) * 1000] * len(batch))
        elapsed = time.perf_counter() - start
    n = len(lines) - BATCH
    await store.r.flushdb()
    await store.close()
    return {"items": items, "viewers": viewers, "events": n, "events_per_s": round(n / elapsed, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(max(lat), 2), "cold_batch_ms": round(cold_ms, 1),
            "redis_round_trips_per_event": round(counts["round_trips"] / n, 3),
            "redis_commands_per_event": round(counts["commands"] / n, 3), "suggestions": published}


def run_costmodel(redis_url: str, *, catalog_sizes: tuple[int, ...] = (100, 1_000, 10_000),
                  viewer_counts: tuple[int, ...] = (1_000, 100_000), events: int = 2_000) -> dict[str, Any]:
    """``catalog``: one row per catalog size (1,000 viewers); ``viewers``: one per audience (1,000 items)."""
    cat = [asyncio.run(_one(redis_url, n, viewer_counts[0], events, seed=i + 1)) for i, n in enumerate(catalog_sizes)]
    view = [asyncio.run(_one(redis_url, 1_000, v, events, seed=10 + i)) for i, v in enumerate(viewer_counts)]
    return {"catalog": cat, "viewers": view}


def run_fix_checks(items: int = 10_000, viewers: int = 200, clickers: int = 20_000) -> dict[str, Any]:
    """Same-process before/after of the two pure-logic fixes, on one room.

    * room refresh: rank ``viewers`` viewers at one event time on an ``items``-item room, with the
      per-ts caches of decayed counters and context weights (after) and with them dropped before
      every ranking (before: what each ranking computed until the caches existed);
    * dashboard: ``clickers`` distinct viewers clicking one item, membership by list scan (before)
      and by the set index (after).
    """
    from streams.logic import ranking
    from streams.logic.dashboard import DashboardState
    from streams.logic.room import Params, RoomState, apply
    from streams.records import Click

    cat = synthetic_catalog(items).room(ROOM)
    assert cat is not None
    room = RoomState(cat)
    p = Params()
    rng = random.Random(3)
    for k in range(2_000):
        apply(room, Click(f"e{k}", T0 + k, ROOM, f"v{rng.randrange(viewers)}", f"it-{rng.randrange(items)}"), p)
    rp = ranking.RankParams()
    ts = T0 + 3_000
    ids = sorted(room.viewers)[:viewers]

    def refresh(drop: bool) -> tuple[float, list[Any]]:
        t = time.perf_counter()
        out = []
        for v in ids:
            if drop:
                room.invalidate()
            out.append(ranking.rank(room, room.viewers[v], ts, rp))
        return (time.perf_counter() - t) * 1000, out

    refresh(False)
    before_ms, before = refresh(True)
    after_ms, after = refresh(False)
    assert before == after, "cached ranking differs from uncached"

    def add_list(vs: list[str], v: str) -> None:
        if v not in vs:
            vs.append(v)

    t = time.perf_counter()
    vs: list[str] = []
    for i in range(clickers):
        add_list(vs, f"v{i}")
    list_ms = (time.perf_counter() - t) * 1000
    st = DashboardState(ROOM)
    t = time.perf_counter()
    for i in range(clickers):
        st._fold(Click(f"c{i}", T0 + i, ROOM, f"v{i}", "it-0"))
    fold_ms = (time.perf_counter() - t) * 1000
    assert st.clickers["it-0"] == vs
    return {"room_refresh": {"items": items, "viewers": len(ids), "before_ms": round(before_ms, 1),
                             "after_ms": round(after_ms, 1), "identical": True},
            "dashboard_clickers": {"clicks": clickers, "before_list_scan_ms": round(list_ms, 1),
                                   "after_fold_with_set_ms": round(fold_ms, 1), "identical": True}}

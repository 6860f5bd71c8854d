"""Redis owns livecart's shared state; this module owns every Redis key.

Key layout (``{p}`` = LIVECART_KEY_PREFIX, ``{room}`` in braces is the Redis Cluster hash tag, so a
room's keys share one slot and one MULTI can span them). Every key has TTL LIVECART_STATE_TTL_S,
refreshed on each write; dedupe markers have LIVECART_DEDUPE_TTL_S.

| key                                   | type   | content                                                         |
|---------------------------------------|--------|-----------------------------------------------------------------|
| ``{p}:{room}:item:{item_id}``         | hash   | decayed counters ``clicks purchases mentions pos neg questions`` as text floats with ``<name>_t`` (ms); totals ``n_clicks units gmv n_mentions n_purchases``; ``ctx`` float32 bytes (64-d), ``ctx_t``; ``on_stage`` 0/1 |
| ``{p}:{room}:viewer:{viewer_id}``     | hash   | ``interest`` float32 bytes, ``interest_t``; JSON ``recent purchased questions last_suggestion``; ``last_ts``; ``present`` |
| ``{p}:{room}:active``                 | zset   | viewer_id scored by the event time (ms) of their last event      |
| ``{p}:{room}:meta``                   | hash   | ``state`` JSON (on-stage item, shown content, refresh throttle); ``version`` int, bumped by each commit |
| ``{p}:{room}:dashboard``              | string | the dashboard window state, JSON                                |
| ``{p}:{room}:dashboard:version``      | string | int, bumped by each dashboard commit                            |
| ``{p}:{room}:seen:{stage}:{event_id}``| string | dedupe marker of an event applied by ``stage`` (rooms, dashboard)|

A commit is one MULTI/EXEC: dedupe markers, changed items and viewers, the active set, meta and the
version bump, all or nothing. A worker applies an event only if its marker is absent, so a
redelivered event never counts twice. Commits are optimistic: the stage read a version with ``check``,
and the commit WATCHes that version and writes only if it is unchanged; otherwise it returns ``None``
and the stage reloads and re-applies (during a rebalance handover two workers may briefly write one
room: neither overwrites the other's batch).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from streams import codec
from streams.logic.room import Effects, RoomState

log = logging.getLogger(__name__)


def connect(url: str) -> Redis:
    """A client with exponential-backoff retries on connection errors, socket timeouts and health checks."""
    return Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=5),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_timeout=5.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
    )


class Keys:
    """Key names; the only place that spells them."""

    def __init__(self, prefix: str) -> None:
        self.p = prefix

    def item(self, room: str, item: str) -> str:
        return f"{self.p}:{{{room}}}:item:{item}"

    def viewer(self, room: str, viewer: str) -> str:
        return f"{self.p}:{{{room}}}:viewer:{viewer}"

    def active(self, room: str) -> str:
        return f"{self.p}:{{{room}}}:active"

    def meta(self, room: str) -> str:
        return f"{self.p}:{{{room}}}:meta"

    def dashboard(self, room: str) -> str:
        return f"{self.p}:{{{room}}}:dashboard"

    def dashboard_version(self, room: str) -> str:
        return f"{self.p}:{{{room}}}:dashboard:version"

    def version(self, room: str, stage: str) -> tuple[str, str | None]:
        """(key, hash field or None) of the version ``stage`` commits under."""
        return (self.meta(room), "version") if stage != "dashboard" else (self.dashboard_version(room), None)

    def seen(self, room: str, stage: str, event_id: str) -> str:
        return f"{self.p}:{{{room}}}:seen:{stage}:{event_id}"


class RedisStore:
    """Room state in Redis: versioned loads, dedupe checks, atomic commits; waits out outages."""

    def __init__(self, client: Redis, prefix: str = "lc", ttl_s: int = 86_400, dedupe_ttl_s: int = 86_400) -> None:
        self.r = client
        self.k = Keys(prefix)
        self.ttl = ttl_s
        self.dedupe_ttl = dedupe_ttl_s

    async def _retrying(self, what: str, fn: Any) -> Any:
        """Run ``fn()`` until it succeeds: an outage blocks the stream (offsets stay uncommitted)."""
        delay = 0.1
        while True:
            try:
                return await fn()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("redis %s failed (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def check(self, room: str, stage: str, event_ids: Sequence[str]) -> tuple[int, set[str]]:
        """(room state version, ids already applied by ``stage``) in one round trip."""

        async def run() -> tuple[int, set[str]]:
            pipe = self.r.pipeline(transaction=False)
            key, fld = self.k.version(room, stage)
            pipe.hget(key, fld) if fld else pipe.get(key)
            for e in event_ids:
                pipe.exists(self.k.seen(room, stage, e))
            res = await pipe.execute()
            return int(res[0] or 0), {e for e, hit in zip(event_ids, res[1:], strict=True) if hit}

        result: tuple[int, set[str]] = await self._retrying("check", run)
        return result

    async def load_room(self, room: RoomState) -> int:
        """Fill ``room`` with its persisted items, active set and meta; returns the version loaded."""

        async def run() -> list[Any]:
            pipe = self.r.pipeline(transaction=False)
            pipe.hgetall(self.k.meta(room.room_id))
            pipe.zrange(self.k.active(room.room_id), 0, -1, withscores=True)
            for item in room.item_ids:
                pipe.hgetall(self.k.item(room.room_id, item))
            res: list[Any] = await pipe.execute()
            return res

        res = await self._retrying("load_room", run)
        meta, active, items = res[0], res[1], res[2:]
        if meta:
            room.meta = codec.decode_meta(meta)
        room.active = {(v.decode() if isinstance(v, bytes) else v): int(s) for v, s in active}
        for row, h in enumerate(items):
            if h:
                codec.decode_item(room, row, h)
        return int(meta.get(b"version", 0)) if meta else 0

    async def load_viewers(self, room: RoomState, viewer_ids: Iterable[str]) -> None:
        """Load the persisted state of viewers not yet in ``room.viewers``."""
        missing = [v for v in viewer_ids if v not in room.viewers]
        if not missing:
            return

        async def run() -> list[Any]:
            pipe = self.r.pipeline(transaction=False)
            for v in missing:
                pipe.hgetall(self.k.viewer(room.room_id, v))
            res: list[Any] = await pipe.execute()
            return res

        for v, h in zip(missing, await self._retrying("load_viewers", run), strict=True):
            if h:
                room.viewers[v] = codec.decode_viewer(v, h, room.static.shape[1])

    async def _commit_if(self, what: str, room: str, stage: str, expected: int, write: Any) -> int | None:
        """Run ``write(pipe)`` plus the version bump in one MULTI/EXEC if the version is still ``expected``.

        Returns the new version, or ``None`` when another writer committed first (nothing written).
        """
        key, fld = self.k.version(room, stage)

        async def run() -> int | None:
            async with self.r.pipeline(transaction=True) as pipe:
                await pipe.watch(key)
                cur = await (pipe.hget(key, fld) if fld else pipe.get(key))
                if int(cur or 0) != expected:
                    await pipe.reset()
                    return None
                pipe.multi()
                write(pipe)
                pipe.hincrby(key, fld, 1) if fld else pipe.incr(key)
                pipe.expire(key, self.ttl)
                try:
                    res = await pipe.execute()
                except WatchError:
                    return None
                return int(res[-2])

        version: int | None = await self._retrying(what, run)
        return version

    async def commit(self, room: RoomState, stage: str, event_ids: Sequence[str], fx: Effects, expected: int) -> int | None:
        """Write what ``fx`` says changed plus the dedupe markers, atomically, if the room's version is still
        ``expected``; returns the new version, or ``None`` on a conflict (nothing written)."""
        rid = room.room_id
        items = {i: codec.encode_item(room, room.index[i]) for i in fx.items}
        viewers = {v: codec.encode_viewer(room.viewers[v]) for v in fx.viewers if v in room.viewers}
        active = {v: room.active[v] for v in fx.viewers if v in room.active}
        gone = [v for v in fx.viewers if v not in room.active]
        meta = codec.encode_meta(room.meta)

        def write(pipe: Any) -> None:
            for e in event_ids:
                pipe.set(self.k.seen(rid, stage, e), b"1", ex=self.dedupe_ttl)
            for i, h in items.items():
                pipe.hset(self.k.item(rid, i), mapping=h)
                pipe.expire(self.k.item(rid, i), self.ttl)
            for v, h in viewers.items():
                pipe.hset(self.k.viewer(rid, v), mapping=h)
                pipe.expire(self.k.viewer(rid, v), self.ttl)
            if active:
                pipe.zadd(self.k.active(rid), active)
            if gone:
                pipe.zrem(self.k.active(rid), *gone)
            pipe.expire(self.k.active(rid), self.ttl)
            pipe.hset(self.k.meta(rid), mapping=meta)

        return await self._commit_if("commit", rid, stage, expected, write)

    async def load_dashboard(self, room: str) -> dict[str, Any] | None:
        raw = await self._retrying("load_dashboard", lambda: self.r.get(self.k.dashboard(room)))
        return json.loads(raw) if raw else None

    async def commit_dashboard(self, room: str, event_ids: Sequence[str], state: dict[str, Any], expected: int) -> int | None:
        """Like :meth:`commit` for the dashboard stage's window state."""
        blob = json.dumps(state, ensure_ascii=False, separators=(",", ":"))

        def write(pipe: Any) -> None:
            for e in event_ids:
                pipe.set(self.k.seen(room, "dashboard", e), b"1", ex=self.dedupe_ttl)
            pipe.set(self.k.dashboard(room), blob, ex=self.ttl)

        return await self._commit_if("commit_dashboard", room, "dashboard", expected, write)

    async def dump(self) -> dict[str, Any]:
        """Every livecart key and its decoded value (tests and parity checks compare these)."""
        out: dict[str, Any] = {}
        async for key in self.r.scan_iter(match=f"{self.k.p}:*", count=1000):
            k = key.decode() if isinstance(key, bytes) else str(key)
            t = await self.r.type(key)
            t = t.decode() if isinstance(t, bytes) else str(t)
            if t == "hash":
                out[k] = await self.r.hgetall(key)
            elif t == "zset":
                pairs: Any = await self.r.zrange(key, 0, -1, withscores=True)
                out[k] = dict(pairs)
            else:
                out[k] = await self.r.get(key)
        return out

    async def close(self) -> None:
        await self.r.aclose()


__all__ = ["Keys", "RedisError", "RedisStore", "connect"]

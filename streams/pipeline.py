"""Transport-agnostic stages: micro-batches of raw messages in, messages to publish out.

The Faust agents (``streams/agents``) and the embedded replay (``streams/embedded.py``) both call
these classes, so live and replay run the same code. A stage never raises for a bad event: it
returns a dead letter for it and carries on with the rest of the batch.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from streams import records, topics
from streams.catalog import Catalog, RoomCatalog
from streams.config import Settings
from streams.errors import InvalidEvent
from streams.logic import ranking
from streams.logic.dashboard import DashboardState
from streams.logic.room import Effects, Params, RoomState, apply
from streams.records import EnrichedComment, HostEvent, dumps
from streams.store import RedisStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """One consumed message; ``topic`` is the default (unprefixed) topic name."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    partition: int | None = None
    offset: int | None = None
    received_ms: int = 0

    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    value: bytes


Send = Callable[[list[Outgoing]], Awaitable[None]]


@dataclass
class Counters:
    """What a stage did with its input: every consumed event lands in exactly one bucket."""

    processed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    conflicts: int = 0  # room batches re-applied after another writer's commit (not an event bucket)
    published: dict[str, int] = field(default_factory=dict)

    def add_published(self, outs: Sequence[Outgoing]) -> None:
        for o in outs:
            self.published[o.topic] = self.published.get(o.topic, 0) + 1


def now_ms() -> int:
    return int(time.time() * 1000)


def dead_letter(msg: Incoming, err: InvalidEvent, stage: str) -> Outgoing:
    """The dead-letter message for ``msg``: raw bytes (base64), reason and source position."""
    raw = msg.value or b""
    value = {
        "reason": err.reason,
        "error": str(err.at(msg.where())),
        "stage": stage,
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": msg.key.decode("utf-8", "replace") if msg.key else None,
        "raw_b64": base64.b64encode(raw[:1_048_576]).decode(),
        "raw_bytes": len(raw),
        "ts": now_ms(),
    }
    return Outgoing(topics.DEADLETTER.name, msg.topic, dumps(value))


def check_catalog(ev: Any, room: RoomCatalog | None) -> None:
    """Raise InvalidEvent when ``ev`` names a room, item or content the catalog lacks."""
    if room is None:
        raise InvalidEvent(f"unknown room {ev.room_id!r} (no catalog loaded for it)")
    item = getattr(ev, "item_id", None)
    if item is not None and item not in room.products:
        raise InvalidEvent(f"unknown item {item!r} in room {ev.room_id!r}")
    content = getattr(ev, "content_id", None)
    if isinstance(ev, HostEvent) and content is not None and content not in room.contents:
        raise InvalidEvent(f"unknown content {content!r} in room {ev.room_id!r}")


def decode_msg(msg: Incoming, settings: Settings) -> Any:
    spec = topics.BY_NAME.get(msg.topic)
    if spec is None or spec.kind is None:
        raise InvalidEvent(f"topic {msg.topic!r} carries no input events")
    return not_ahead(records.decode(spec.kind, msg.value, max_bytes=settings.max_event_bytes,
                                    max_text_chars=settings.max_text_chars), settings)


def not_ahead(ev: Any, settings: Settings, now: int | None = None) -> Any:
    """``ev``, unless its event time is more than LIVECART_MAX_FUTURE_MS ahead of the wall clock.

    One such event (a year-2200 ts, a µs ts that fits the range) would move the room's event time and with it
    the decay reference of everything it touches, so the rest of the show would read as ~0. The wall clock,
    not the room's own time, is the reference: a recorded log (always in the past) replays with the same
    outcome, and the decision does not depend on the order events of different topics arrive in.
    """
    now = now_ms() if now is None else now
    if ev.ts > now + settings.max_future_ms:
        raise InvalidEvent(f"field 'ts' = {ev.ts} is {(ev.ts - now) / 3_600_000:.1f} h ahead of the wall clock "
                           f"(at most LIVECART_MAX_FUTURE_MS = {settings.max_future_ms} ms)")
    return ev


def decode_room_batch(batch: Sequence[Incoming], catalog: Catalog, settings: Settings
                      ) -> tuple[list[tuple[Incoming, Any]], list[tuple[Incoming, InvalidEvent]]]:
    """Split a batch of room-topic messages into (message, event) pairs and (message, error) pairs."""
    good: list[tuple[Incoming, Any]] = []
    bad: list[tuple[Incoming, InvalidEvent]] = []
    for msg in batch:
        try:
            ev = decode_msg(msg, settings)
            check_catalog(ev, catalog.room(ev.room_id))
            good.append((msg, ev))
        except InvalidEvent as err:
            bad.append((msg, err))
    return good, bad


# ---------------------------------------------------------------- comments


class Analyzer(Protocol):
    version: str

    def predict(self, texts: Sequence[str]) -> Sequence[Any]: ...


Linker = Callable[[str, Sequence[Any], RoomCatalog | None], Sequence[Any]]


class CommentsStage:
    """Comments -> enriched comments: one batched model call per micro-batch, mentions linked to the catalog."""

    name = "comments"

    def __init__(self, model: Analyzer, link: Linker, catalog: Catalog, settings: Settings) -> None:
        self.model, self.link, self.catalog, self.settings = model, link, catalog, settings
        self.counters = Counters()

    def _analyze(self, texts: list[str]) -> list[Any | InvalidEvent]:
        try:
            return list(self.model.predict(texts))
        except Exception:  # noqa: BLE001 - isolate the failing comment instead of dropping the batch
            log.exception("model failed on a batch of %d; retrying one by one", len(texts))
        out: list[Any | InvalidEvent] = []
        for t in texts:
            try:
                out.append(self.model.predict([t])[0])
            except Exception as exc:  # noqa: BLE001
                out.append(InvalidEvent(f"model failed on this comment: {type(exc).__name__}: {exc}"))
        return out

    async def process(self, batch: Sequence[Incoming]) -> list[Outgoing]:
        outs: list[Outgoing] = []
        good: list[tuple[Incoming, records.Comment]] = []
        for msg in batch:
            try:
                good.append((msg, not_ahead(records.decode_comment(records.parse_json(msg.value, self.settings.max_event_bytes),
                                                                    self.settings.max_text_chars), self.settings)))
            except InvalidEvent as err:
                outs.append(dead_letter(msg, err, self.name))
        # In a worker thread: onnxruntime releases the GIL, so the rooms and dashboard agents keep running
        # on the event loop meanwhile (inline, a 64-comment batch blocked the loop for ~300 ms on 2 busy cores).
        # One call at a time still (this coroutine awaits it), so results do not depend on the thread.
        results = await asyncio.to_thread(self._analyze, [c.text for _, c in good]) if good else []
        for (msg, c), res in zip(good, results, strict=True):
            if isinstance(res, InvalidEvent):
                outs.append(dead_letter(msg, res, self.name))
                continue
            ents = self.link(c.text, res.entities, self.catalog.room(c.room_id))
            enriched = EnrichedComment(
                c.event_id, c.ts, c.room_id, c.viewer_id, c.text, res.sentiment, float(res.sentiment_score),
                bool(res.is_question),
                tuple(records.Mention(e.start, e.end, e.type, e.text, e.item_id) for e in ents),
                self.model.version,
            )
            outs.append(Outgoing(topics.ENRICHED.name, c.room_id, dumps(records.to_dict(enriched))))
        self.counters.processed += len(good) - sum(isinstance(r, InvalidEvent) for r in results)
        self.counters.dead_lettered += sum(o.topic == topics.DEADLETTER.name for o in outs)
        self.counters.add_published(outs)
        return outs


# ---------------------------------------------------------------- rooms: representations + ranking


def _group_by_room(decoded: list[tuple[Incoming, Any]]) -> dict[str, list[tuple[Incoming, Any]]]:
    rooms: dict[str, list[tuple[Incoming, Any]]] = {}
    for msg, ev in decoded:
        rooms.setdefault(ev.room_id, []).append((msg, ev))
    return rooms


@dataclass
class _Attempt:
    """One room's share of a batch, applied to the state at ``version`` and not yet committed."""

    room: RoomState
    version: int
    outs: list[Outgoing] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    total: Effects = field(default_factory=Effects)
    duplicates: int = 0
    dead_lettered: int = 0


class RoomsStage:
    """Room events -> dynamic item/viewer state in the store, and fresh suggestions for affected viewers.

    Ranking runs here, right after each event is applied, rather than in a separate consumer: a
    separate consumer would read state that has already moved past the trigger, whereas here a
    suggestion depends only on the room's event sequence (replay = live; one worker = two).
    """

    name = "rooms"

    def __init__(self, catalog: Catalog, store: RedisStore, settings: Settings) -> None:
        self.catalog, self.store, self.settings = catalog, store, settings
        self.params = Params(half_life_s=settings.half_life_s, viewer_half_life_s=settings.viewer_half_life_s,
                             room_refresh_ms=settings.room_refresh_ms,
                             max_room_refresh_viewers=settings.max_room_refresh_viewers)
        self.rank_params = ranking.RankParams(top_k=settings.top_k, half_life_ms=settings.half_life_s * 1000)
        self.version = f"{ranking.VERSION}/hl{settings.half_life_s:g}/k{settings.top_k}"
        self.rooms: dict[str, tuple[RoomState, int]] = {}  # room -> (cached state, store version)
        self.counters = Counters()

    def forget(self) -> None:
        """Drop cached state (on partition revocation: another worker may write these rooms next)."""
        self.rooms.clear()

    def forget_room(self, room_id: str) -> None:
        self.rooms.pop(room_id, None)

    async def _room(self, room_id: str, version: int) -> RoomState:
        cached = self.rooms.get(room_id)
        if cached is not None and cached[1] == version:
            return cached[0]
        cat = self.catalog.room(room_id)
        assert cat is not None
        room = RoomState(cat)
        loaded = await self.store.load_room(room)
        self.rooms[room_id] = (room, loaded)
        return room

    async def process(self, batch: Sequence[Incoming], send: Send) -> list[Outgoing]:
        """Apply the batch; ``send`` publishes suggestions and dead letters before state is committed.

        A room whose commit meets a newer version (another worker wrote it meanwhile: a rebalance handover)
        is reloaded and its events re-applied; those the other worker applied are duplicates then. The
        re-run sends its suggestions again (at-least-once output).
        """
        decoded, bad = decode_room_batch(batch, self.catalog, self.settings)
        outs: list[Outgoing] = [dead_letter(msg, err, self.name) for msg, err in bad]
        self.counters.dead_lettered += len(outs)
        pending = _group_by_room(decoded)
        unsent = list(outs)
        while pending:
            attempts = [await self._apply_room(room_id, items) for room_id, items in pending.items()]
            round_outs = [o for a in attempts for o in a.outs]
            outs.extend(round_outs)
            await send(unsent + round_outs)
            unsent = []
            retry: dict[str, list[tuple[Incoming, Any]]] = {}
            for a in attempts:
                if a.applied:
                    version = await self.store.commit(a.room, self.name, a.applied, a.total, a.version)
                    if version is None:
                        log.info("rooms: room %s changed under this batch (another writer); re-applying", a.room.room_id)
                        self.forget_room(a.room.room_id)
                        self.counters.conflicts += 1
                        retry[a.room.room_id] = pending[a.room.room_id]
                        continue
                    self.rooms[a.room.room_id] = (a.room, version)
                self.counters.processed += len(a.applied)
                self.counters.duplicates += a.duplicates
                self.counters.dead_lettered += a.dead_lettered
            pending = retry
        if unsent:  # a batch with no decodable event: its dead letters still go out
            await send(unsent)
        self.counters.add_published(outs)
        return outs

    async def _apply_room(self, room_id: str, items: list[tuple[Incoming, Any]]) -> _Attempt:
        ids = [ev.event_id for _, ev in items]
        version, seen = await self.store.check(room_id, self.name, ids)
        room = await self._room(room_id, version)
        await self.store.load_viewers(room, {getattr(ev, "viewer_id", "") for _, ev in items} - {""})
        a = _Attempt(room, version)
        for msg, ev in items:
            if ev.event_id in seen:
                a.duplicates += 1
                continue
            seen.add(ev.event_id)  # a repeat inside the same batch is a duplicate too
            try:
                fx = apply(room, ev, self.params)
            except InvalidEvent as err:
                a.outs.append(dead_letter(msg, err, self.name))
                a.dead_lettered += 1
                continue
            a.applied.append(ev.event_id)
            a.total.items |= fx.items
            a.total.viewers |= fx.viewers
            if fx.refresh:
                await self.store.load_viewers(room, fx.refresh)
                a.outs.extend(self._suggest(room, ev, fx, msg, a.total))
        return a

    def _suggest(self, room: RoomState, ev: Any, fx: Effects, msg: Incoming, total: Effects) -> list[Outgoing]:
        outs = []
        for viewer_id in fx.refresh:
            viewer = room.viewer(viewer_id)
            ranked = ranking.rank(room, viewer, ev.ts, self.rank_params)
            viewer.last_suggestion = {
                "trigger_event_id": ev.event_id,
                "products": [p["id"] for p in ranked["products"]],
                "knowledge": [k["id"] for k in ranked["knowledge"]],
            }
            total.viewers.add(viewer_id)
            published = now_ms()
            value = {
                "viewer_id": viewer_id, "room_id": room.room_id, "ts": ev.ts,
                "trigger_event_id": ev.event_id, "trigger": fx.refresh_reason or ev.kind,
                "products": ranked["products"], "knowledge": ranked["knowledge"], "version": self.version,
                "published_at": published, "latency_ms": published - ev.ts,
                "processing_ms": published - msg.received_ms if msg.received_ms else None,
            }
            outs.append(Outgoing(topics.SUGGESTIONS.name, viewer_id, dumps(value)))
        return outs


# ---------------------------------------------------------------- dashboard


class DashboardStage:
    """Room events -> per-room dashboard snapshots on event-time interval boundaries.

    Bad events are dead-lettered by the rooms stage, which reads the same topics; here they are
    counted as ``skipped`` so a bad event yields one dead letter, not two.
    """

    name = "dashboard"

    def __init__(self, catalog: Catalog, store: RedisStore, settings: Settings) -> None:
        self.catalog, self.store, self.settings = catalog, store, settings
        self.states: dict[str, tuple[DashboardState, int]] = {}  # room -> (cached state, store version)
        self.counters = Counters()

    def forget(self) -> None:
        self.states.clear()

    async def _state(self, room_id: str, version: int) -> DashboardState:
        cached = self.states.get(room_id)
        if cached is not None and cached[1] == version:
            return cached[0]
        raw = await self.store.load_dashboard(room_id)
        st = DashboardState.from_json(raw) if raw else DashboardState(room_id, self.settings.dashboard_interval_ms)
        self.states[room_id] = (st, version)
        return st

    async def process(self, batch: Sequence[Incoming]) -> list[Outgoing]:
        """Step each room's window state; commit it only if no other writer committed meanwhile, else reload
        and step again (the snapshots of the discarded attempt are not returned)."""
        outs: list[Outgoing] = []
        decoded, bad = decode_room_batch(batch, self.catalog, self.settings)
        self.counters.skipped += len(bad)
        pending = _group_by_room(decoded)
        while pending:
            retry: dict[str, list[tuple[Incoming, Any]]] = {}
            for room_id, items in pending.items():
                version, seen = await self.store.check(room_id, self.name, [ev.event_id for _, ev in items])
                st = await self._state(room_id, version)
                cat = self.catalog.room(room_id)
                applied: list[str] = []
                snaps: list[Outgoing] = []
                duplicates = 0
                for _, ev in items:
                    if ev.event_id in seen:
                        duplicates += 1
                        continue
                    seen.add(ev.event_id)
                    snaps.extend(Outgoing(topics.DASHBOARD.name, room_id, dumps(snap)) for snap in st.step(ev, cat))
                    applied.append(ev.event_id)
                if applied:
                    new_version = await self.store.commit_dashboard(room_id, applied, st.to_json(), version)
                    if new_version is None:
                        log.info("dashboard: room %s changed under this batch (another writer); re-applying", room_id)
                        self.states.pop(room_id, None)
                        self.counters.conflicts += 1
                        retry[room_id] = items
                        continue
                    self.states[room_id] = (st, new_version)
                outs.extend(snaps)
                self.counters.processed += len(applied)
                self.counters.duplicates += duplicates
            pending = retry
        self.counters.add_published(outs)
        return outs

    def flush(self) -> list[Outgoing]:
        """A final snapshot per room at its last event time (end of a replay)."""
        return [
            Outgoing(topics.DASHBOARD.name, r, dumps(st.snapshot(st.max_ts + 1, self.catalog.room(r))))
            for r, (st, _) in sorted(self.states.items())
            if st.max_ts
        ]


def catalog_upsert(catalog: Catalog, msg: Incoming) -> str:
    """Apply a ``live.catalog`` message; returns the room it changed. Raises InvalidEvent."""
    obj = records.parse_json(msg.value)
    try:
        item = catalog.upsert(obj)
    except Exception as exc:  # CatalogError: the entry is invalid
        raise InvalidEvent(str(exc)) from exc
    return item.room_id


def jsonable(outs: Sequence[Outgoing]) -> list[dict[str, Any]]:
    return [{"topic": o.topic, "key": o.key, "value": json.loads(o.value)} for o in outs]

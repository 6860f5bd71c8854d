"""SnapshotHub: the latest dashboard snapshot per room, fanned out to live subscribers through bounded queues.

Both feeders use it: the Kafka consumer (``streams.web.feed``) and the embedded replay, which calls
``publish`` (or ``publish_messages`` with its outgoing messages) from the event loop the server runs on
or, through ``call_soon_threadsafe``, from any other thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from streams import topics
from streams.errors import InvalidEvent

# A page draws only the newest snapshot, so a client that falls behind loses intermediate ones, never
# the latest: 8 snapshots is 8 s of the default 1 s interval, enough to ride out a GC pause or a slow paint.
QUEUE_SIZE = 8


@dataclass(frozen=True)
class Frame:
    """One snapshot, encoded once for every subscriber: ``data`` is compact JSON (one line, SSE-safe)."""

    room_id: str
    ts: int
    data: str
    summary: dict[str, Any]  # the few fields the room list shows


class _Message(Protocol):
    """What the hub needs of a pipeline message (``streams.pipeline.Outgoing``)."""

    @property
    def topic(self) -> str: ...

    @property
    def value(self) -> bytes: ...


_CLOSED = Frame("", 0, "", {})  # sentinel: the hub is closing, the subscriber's stream ends


class Subscription:
    """A subscriber's queue for one room; iterate it with ``await sub.get()`` (``None`` once the hub closes)."""

    def __init__(self, room_id: str, maxsize: int) -> None:
        self.room_id = room_id
        self.queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize)
        self.dropped = 0  # snapshots this slow subscriber never saw

    def offer(self, frame: Frame) -> None:
        """Enqueue without blocking the publisher: a full queue drops its oldest snapshot."""
        while True:
            try:
                self.queue.put_nowait(frame)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self.dropped += 1

    async def get(self) -> Frame | None:
        frame = await self.queue.get()
        return None if frame is _CLOSED else frame


class SnapshotHub:
    """Latest snapshot per room plus fan-out. Not a store: it holds one snapshot per room, in memory.

    ``publish`` may be called from any thread; delivery to subscribers always happens on the loop the
    hub was bound to (``bind``, done by ``start_server``), because asyncio queues are not thread-safe.
    """

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._latest: dict[str, Frame] = {}
        self._subs: dict[str, set[Subscription]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()  # guards _latest against a publisher thread racing a reader
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver to subscribers on ``loop`` (the server's loop)."""
        self._loop = loop

    # -- publishing

    def publish(self, snapshot: Mapping[str, Any]) -> Frame:
        """Make ``snapshot`` (a ``DashboardState.snapshot()`` dict) its room's latest and send it to subscribers.

        Raises ``InvalidEvent`` when it has no non-empty string ``room_id`` or no integer ``ts``.
        """
        room = snapshot.get("room_id")
        ts = snapshot.get("ts")
        if not isinstance(room, str) or not room:
            raise InvalidEvent(f"dashboard snapshot needs a non-empty string 'room_id'; got {room!r}")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise InvalidEvent(f"dashboard snapshot of room {room!r} needs an integer 'ts' (epoch ms); got {ts!r}")
        totals = snapshot.get("totals") or {}
        summary = {"room_id": room, "ts": ts, "active_viewers": snapshot.get("active_viewers"),
                   "comments_per_min": snapshot.get("comments_per_min"), "gmv": totals.get("gmv")}
        # ensure_ascii=False keeps Chinese readable on the wire; JSON never holds a raw newline, so one SSE data line.
        frame = Frame(room, ts, json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")), summary)
        loop = self._loop
        if loop is not None and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._deliver, frame)
        else:
            self._deliver(frame)
        return frame

    def publish_json(self, raw: bytes | str) -> Frame:
        """Publish one ``live.dashboard`` message value (UTF-8 JSON). Raises ``InvalidEvent``."""
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidEvent(f"dashboard snapshot is not UTF-8 JSON: {exc}") from exc
        if not isinstance(obj, dict):
            raise InvalidEvent(f"dashboard snapshot must be a JSON object; got {type(obj).__name__}")
        return self.publish(obj)

    def publish_messages(self, messages: Iterable[_Message]) -> int:
        """Publish the ``live.dashboard`` ones among outgoing pipeline messages; returns how many.

        This is the embedded replay's tap: ``record(outs); hub.publish_messages(outs)``.
        """
        n = 0
        for m in messages:
            if m.topic == topics.DASHBOARD.name:
                self.publish_json(m.value)
                n += 1
        return n

    def _deliver(self, frame: Frame) -> None:
        with self._lock:
            self._latest[frame.room_id] = frame
        self.published += 1
        for sub in tuple(self._subs.get(frame.room_id, ())):
            sub.offer(frame)

    # -- reading

    def latest(self, room_id: str) -> Frame | None:
        with self._lock:
            return self._latest.get(room_id)

    def rooms(self) -> list[dict[str, Any]]:
        """Summaries of every room seen, by room id."""
        with self._lock:
            return [f.summary for _, f in sorted(self._latest.items())]

    def subscribers(self, room_id: str) -> int:
        return len(self._subs.get(room_id, ()))

    @contextmanager
    def subscribe(self, room_id: str) -> Iterator[Subscription]:
        """A subscription to ``room_id``, primed with its latest snapshot; removed on exit. Call on the hub's loop."""
        sub = Subscription(room_id, self.queue_size)
        latest = self.latest(room_id)
        if latest is not None:
            sub.offer(latest)
        self._subs.setdefault(room_id, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subs.get(room_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[room_id]

    def close_subscribers(self) -> None:
        """End every open stream (server shutdown), so no handler waits on a queue that will never fill."""
        for subs in self._subs.values():
            for sub in subs:
                sub.offer(_CLOSED)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None

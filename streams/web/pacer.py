"""SnapshotPacer: hand snapshots to a SnapshotHub at their event-time spacing (× 1/speed), for replays.

An in-process replay computes a whole show's snapshots in seconds; a page fed at that rate jumps to the
end. The pacer queues them and publishes each when its event time comes round on the wall clock, scaled
by ``speed`` (2.0: twice as fast), so the page moves as it did live. The snapshots are the ones the live
run would publish at those times; only their delivery is delayed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from streams import topics
from streams.errors import InvalidEvent
from streams.web.hub import SnapshotHub, _Message

log = logging.getLogger(__name__)

MAX_GAP_S = 5.0  # longest wall-clock pause between two paced snapshots; longer event-time gaps are shortened


class SnapshotPacer:
    """Queue snapshots (``put``/``feed``) and publish them paced; ``speed <= 0`` publishes at once.

    Create and use it on the event loop that runs the server; ``start()`` begins publishing,
    ``await join()`` waits until the queue is empty, ``await close()`` stops.
    """

    def __init__(self, hub: SnapshotHub, speed: float = 1.0, on_new_room: Callable[[str], None] | None = None) -> None:
        self.hub = hub
        self.speed = speed
        self.on_new_room = on_new_room  # called once per room, when its first snapshot is queued
        self._rooms: set[str] = set()
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._origin: tuple[int, float] | None = None  # (event time ms, monotonic s it is due): the pace's anchor
        self._last_wall = 0.0  # monotonic s of the last publish

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="snapshot-pacer")

    def put(self, snapshot: dict[str, Any]) -> None:
        """Queue one snapshot (a ``DashboardState.snapshot()`` dict)."""
        room = snapshot.get("room_id")
        if isinstance(room, str) and room not in self._rooms:
            self._rooms.add(room)
            if self.on_new_room is not None:
                self.on_new_room(room)
        if self.speed <= 0:
            self.hub.publish(snapshot)
            return
        self._queue.append(snapshot)
        self._idle.clear()
        self._ready.set()

    def feed(self, messages: Iterable[_Message]) -> None:
        """Queue the ``live.dashboard`` messages among pipeline outputs: the embedded replay's tap.

        Raises ``InvalidEvent`` for a value that is not a JSON object (the pipeline never makes one).
        """
        for m in messages:
            if m.topic == topics.DASHBOARD.name:
                snap = json.loads(m.value)
                if not isinstance(snap, dict):
                    raise InvalidEvent(f"dashboard snapshot must be a JSON object; got {type(snap).__name__}")
                self.put(snap)

    async def join(self) -> None:
        """Wait until every queued snapshot has been published."""
        await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
                continue
            snap = self._queue[0]
            ts = snap.get("ts")
            if isinstance(ts, int) and self._origin is not None:
                # Rooms interleave in log order, so event time can step back a little: never wait a negative time.
                due = self._origin[1] + (ts - self._origin[0]) / 1000 / self.speed
                if due - self._last_wall > MAX_GAP_S:
                    # A silent stretch of the log (a break between shows) would freeze the page: shorten it.
                    self._origin = (ts, self._last_wall + MAX_GAP_S)
                    due = self._origin[1]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            self._queue.popleft()
            try:
                frame = self.hub.publish(snap)
            except InvalidEvent as err:
                log.warning("paced snapshot skipped: %s", err)
                continue
            self._last_wall = time.monotonic()
            if self._origin is None:
                self._origin = (frame.ts, self._last_wall)

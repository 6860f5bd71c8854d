"""Serve the dashboard while an in-process replay runs: the embedded replay's one call to show the page moving.

``serve_replay(replay, record, ...)`` starts the server and a ``SnapshotPacer``, runs ``replay`` (in a
thread of its own) with a recorder that also taps the dashboard snapshots into the pacer, waits until the
page has shown them all, then (``linger``) keeps serving until Ctrl-C so the final state can be read.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

from streams.web.hub import SnapshotHub, _Message
from streams.web.pacer import SnapshotPacer
from streams.web.server import start_server, wait_for_stop

T = TypeVar("T")
M = TypeVar("M", bound=_Message)  # the pipeline's Outgoing; generic so the replay's own recorder type-checks


async def serve_replay(replay: Callable[[Callable[[Iterable[M]], None]], Coroutine[Any, Any, T]],
                       record: Callable[[Iterable[M]], None], *, host: str | None = None, port: int | None = None,
                       token: str | None = None, speed: float = 1.0, linger: bool = True,
                       hub: SnapshotHub | None = None) -> T:
    """Run ``replay(tapped_record)`` while serving its dashboard; returns what ``replay`` returns.

    ``record`` is the replay's own recorder; the one handed to ``replay`` calls it, then queues the
    ``live.dashboard`` messages for the page. ``speed``: event time × speed on the wall clock (0: no pacing).
    ``host``/``port``/``token`` default to ``LIVECART_DASHBOARD_*`` (see ``WebSettings``). Page addresses are
    printed to stderr as rooms appear. With ``linger`` it serves on after the replay until SIGINT/SIGTERM.

    The replay runs on its own event loop in a daemon thread: its model inference and in-process store
    calls rarely yield, and on the server's loop they would stall the page until the replay ended. Ctrl-C
    during the replay ends the process without waiting for it.
    """
    hub = hub or SnapshotHub()
    server = await start_server(hub, host=host, port=port, token=token)
    loop = asyncio.get_running_loop()
    query = "?token=…" if server.token else ""
    print(f"dashboard: {server.url}/ (room list{', token required' if server.token else ''})", file=sys.stderr, flush=True)
    pacer = SnapshotPacer(hub, speed, on_new_room=lambda room: print(
        f"dashboard: room {room}: {server.room_url(room)}{query}", file=sys.stderr, flush=True))
    pacer.start()

    def tapped(messages: Iterable[M]) -> None:  # runs in the replay thread
        batch = list(messages)  # iterated twice: here and by the pacer
        record(batch)
        loop.call_soon_threadsafe(pacer.feed, batch)

    try:
        result = await _in_thread(lambda: asyncio.run(replay(tapped)))
        await pacer.join()
        if linger:
            print("dashboard: replay shown to the end; serving until Ctrl-C", file=sys.stderr, flush=True)
            await wait_for_stop()
        return result
    finally:
        await pacer.close()
        await server.close()


async def _in_thread(fn: Callable[[], T]) -> T:
    """``fn()`` in a daemon thread (unlike ``asyncio.to_thread``, exiting the process does not wait for it)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def target() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which re-raises it
            outcome = (False, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:
            pass  # the server's loop is gone (Ctrl-C): nobody waits for the result

    threading.Thread(target=target, name="livecart-replay", daemon=True).start()
    return await fut

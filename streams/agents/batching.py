"""Micro-batches from a faust stream that keep at-least-once when an agent is cancelled or fails mid-batch.

faust's ``Stream.take_events`` acks the events it yielded in a ``finally``, which also runs when the
agent body was cancelled (worker shutdown, SIGTERM during a rebalance) or raised and the loop closes the
generator: the batch's offsets become safe to commit although its output was never published or its
state never written. Seen in
tests/test_reliability.py: stopping the second worker of a rebalance lost 62 comments whose enriched
messages were never sent. Here a batch runs to completion even when the agent is cancelled (within
``SHUTDOWN_GRACE_S``); a batch that did not complete is withheld: its messages are marked acked
without telling the consumer, so faust never commits past them (it commits only contiguous acked
offsets) and the group redelivers them, where the dedupe markers make the re-run harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

# A stopping worker lets its current batch finish: an ONNX batch of 64 comments plus a Redis MULTI take well
# under a second; 10 s also absorbs a slow broker ack. A batch blocked longer (Redis down) is withheld instead.
SHUTDOWN_GRACE_S = 10.0


def _withhold(events: Sequence[Any]) -> None:
    """Make take_events' closing ack a no-op, so these offsets are never marked safe to commit."""
    for event in events:
        event.message.acked = True


async def run_batches(stream: Any, handle: Callable[[list[Any]], Awaitable[Any]], *, size: int, within_s: float) -> None:
    """``handle(events)`` for each micro-batch of at most ``size`` events gathered for at most ``within_s`` seconds.

    Propagates what ``handle`` raises (the batch withheld) and the agent's cancellation (after the batch).
    """
    async for events in stream.take_events(size, within=within_s):
        work = asyncio.ensure_future(handle(list(events)))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            try:
                await asyncio.wait_for(asyncio.shield(work), SHUTDOWN_GRACE_S)
            except BaseException:
                work.cancel()
                _withhold(events)
            raise
        except BaseException:
            _withhold(events)
            raise

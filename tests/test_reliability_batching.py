"""streams/agents/batching.py: a micro-batch's offsets become committable only once the batch has been handled.

The fake stream mimics faust's ``take_events``: it acks the batch it yielded in a ``finally``, which is
what lost a cancelled batch before (docs/reliability.md). ``committed`` stands for the consumer being told.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from streams.agents import batching


class Msg:
    def __init__(self) -> None:
        self.acked = False
        self.committed = False


class Ev:
    def __init__(self) -> None:
        self.message = Msg()


class FakeStream:
    def __init__(self, batches: list[list[Ev]]) -> None:
        self.batches = batches

    async def take_events(self, n: int, within: float) -> AsyncIterator[list[Ev]]:
        for batch in self.batches:
            try:
                yield list(batch)
            finally:  # faust: `for event in events: await self.ack(event)`
                for e in batch:
                    if not e.message.acked:
                        e.message.acked = e.message.committed = True


def events(n: int = 3) -> list[Ev]:
    return [Ev() for _ in range(n)]


async def test_handled_batches_are_committed() -> None:
    b1, b2 = events(), events()
    seen: list[int] = []

    async def handle(evs: list[Any]) -> None:
        seen.append(len(evs))

    await batching.run_batches(FakeStream([b1, b2]), handle, size=3, within_s=0.01)
    assert seen == [3, 3] and all(e.message.committed for e in b1 + b2)


async def test_a_failed_batch_is_withheld() -> None:
    batch = events()

    async def handle(evs: list[Any]) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await batching.run_batches(FakeStream([batch]), handle, size=3, within_s=0.01)
    assert not any(e.message.committed for e in batch)


async def test_a_cancelled_agent_finishes_its_batch_first() -> None:
    batch, done = events(), asyncio.Event()
    started = asyncio.Event()

    async def handle(evs: list[Any]) -> None:
        started.set()
        await asyncio.sleep(0.2)
        done.set()

    task = asyncio.ensure_future(batching.run_batches(FakeStream([batch, events()]), handle, size=3, within_s=0.01))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Handled before the cancellation went on, and not withheld: take_events' closing ack (run when the loop
    # finalises the generator) then commits it.
    assert done.is_set() and not any(e.message.acked and not e.message.committed for e in batch)


async def test_a_batch_stuck_past_the_grace_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "SHUTDOWN_GRACE_S", 0.1)
    batch, started = events(), asyncio.Event()

    async def handle(evs: list[Any]) -> None:  # Redis down: the store retries forever
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(batching.run_batches(FakeStream([batch]), handle, size=3, within_s=0.01))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(e.message.committed for e in batch)

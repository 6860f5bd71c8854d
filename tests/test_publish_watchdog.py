"""publish(): nothing is sent before the topics are ready, and a send the broker never acknowledges ends the
process (for a restart) instead of stalling it. Unit test: the faust topic is replaced by a stub whose sends
never complete; the real-broker paths are tests/test_e2e_worker.py and tests/test_reliability.py."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

import streams.app  # noqa: F401 - the app first, as faust imports it (the agents import io from it)
from streams.agents import io
from streams.pipeline import Outgoing


class NeverAcked:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, key: bytes, value: bytes) -> asyncio.Future[Any]:
        self.sent.append(value)
        return asyncio.get_running_loop().create_future()  # the broker never answers


class Exited(Exception):
    pass


def test_publish_waits_for_topics_then_exits_on_a_stalled_send(monkeypatch: pytest.MonkeyPatch) -> None:
    stub = NeverAcked()
    monkeypatch.setattr(io, "topic", lambda name: stub)
    monkeypatch.setattr(io, "settings", dataclasses.replace(io.settings, publish_timeout_s=0.2))
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise Exited

    monkeypatch.setattr(io.os, "_exit", fake_exit)

    async def go() -> None:
        io.topics_ready.clear()
        task = asyncio.ensure_future(io.publish([Outgoing("live.suggestions", "v1", b"{}")]))
        await asyncio.sleep(0.1)
        assert stub.sent == [] and not task.done()  # held back until the topics are ready
        io.topics_ready.set()
        with pytest.raises(Exited):
            await task

    asyncio.run(go())
    assert stub.sent == [b"{}"] and codes == [io.EXIT_STALLED]

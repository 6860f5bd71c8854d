"""Rooms agent: room events -> dynamic item and viewer state in Redis -> live.suggestions per viewer."""

from __future__ import annotations

from typing import Any

from streams import runtime, topics
from streams.agents.batching import run_batches
from streams.agents.io import incoming, publish, topic
from streams.app import app, settings

room_topics = topic(*(t.name for t in topics.ROOM_INPUTS))


@app.agent(room_topics, name="livecart.rooms")
async def rooms(stream: Any) -> None:
    stage = runtime.get().rooms

    async def handle(events: list[Any]) -> None:
        await stage.process([incoming(e) for e in events], publish)

    await run_batches(stream, handle, size=settings.batch_size, within_s=settings.batch_within_ms / 1000)


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust passes (sender, revoked, signal=)
async def forget_rooms(app_: Any, *args: Any, **kwargs: Any) -> None:
    """Another worker may own these rooms next: drop cached state, reload from Redis on next use."""
    rt = runtime.get()
    rt.rooms.forget()
    rt.dashboard.forget()

"""Dashboard agent: room events -> live.dashboard snapshots, one per room per event-time interval."""

from __future__ import annotations

from typing import Any

from streams import runtime, topics
from streams.agents.batching import run_batches
from streams.agents.io import incoming, publish, topic
from streams.app import app, settings

dashboard_topics = topic(*(t.name for t in topics.ROOM_INPUTS))


@app.agent(dashboard_topics, name="livecart.dashboard")
async def dashboard(stream: Any) -> None:
    stage = runtime.get().dashboard

    async def handle(events: list[Any]) -> None:
        await publish(await stage.process([incoming(e) for e in events]))

    await run_batches(stream, handle, size=settings.batch_size, within_s=settings.batch_within_ms / 1000)

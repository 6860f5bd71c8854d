"""Comments agent: live.comments -> live.comments.enriched, one ONNX call per micro-batch."""

from __future__ import annotations

from typing import Any

from streams import runtime, topics
from streams.agents.batching import run_batches
from streams.agents.io import incoming, publish, topic
from streams.app import app, settings


@app.agent(topic(topics.COMMENTS.name), name="livecart.comments")
async def comments(stream: Any) -> None:
    stage = runtime.get().comments

    async def handle(events: list[Any]) -> None:
        await publish(await stage.process([incoming(e) for e in events]))

    await run_batches(stream, handle, size=settings.batch_size, within_s=settings.batch_within_ms / 1000)

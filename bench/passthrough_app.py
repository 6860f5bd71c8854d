"""The transport limit: a Faust app that consumes livecart's input topics and produces each value unchanged.

``faust -A bench.passthrough_app worker``. Same broker settings and micro-batching as the livecart
worker (``LIVECART_*`` variables, ``take_events`` of LIVECART_BATCH_SIZE within LIVECART_BATCH_WITHIN_MS,
send all then wait for the acks), and nothing else: no decoding, no model, no Redis. Every value
goes to ``{prefix}bench.passthrough`` keyed like its input.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust

from streams import topics
from streams.config import Settings

settings = Settings.from_env()
OUTPUT = "bench.passthrough"

app = faust.App(
    settings.app_id, broker=settings.broker, store="memory://", value_serializer="raw", key_serializer="raw",
    topic_partitions=settings.partitions, consumer_auto_offset_reset="earliest", web_port=settings.web_port,
    web_enabled=True, producer_linger_ms=1, stream_wait_empty=False,
)
inputs = app.topic(*(settings.topic(t.name) for t in topics.INPUTS if t is not topics.CATALOG), key_type=bytes,
                   value_type=bytes, value_serializer="raw", key_serializer="raw")
output = app.topic(settings.topic(OUTPUT), key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")


@app.agent(inputs, name="bench.passthrough")
async def passthrough(stream: Any) -> None:
    async for events in stream.take_events(settings.batch_size, within=settings.batch_within_ms / 1000):
        futures = [await output.send(key=e.message.key, value=e.message.value) for e in events]
        await asyncio.gather(*futures)

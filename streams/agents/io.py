"""Conversion between faust events and the stages' Incoming/Outgoing messages, and publishing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import cache
from typing import Any

from streams import topics
from streams.app import app, settings
from streams.pipeline import Incoming, Outgoing, now_ms

_prefix = settings.topic_prefix


@cache
def topic(*names: str) -> Any:
    """The faust topic for default topic names, raw bytes in and out (one object per name set).

    ``internal=True`` makes faust's conductor create missing topics (LIVECART_PARTITIONS partitions,
    compaction for the catalog) before it subscribes: a topic that appears only after the group's
    first assignment is otherwise ignored until a metadata refresh (5 min) — seen with
    ``live.comments.enriched``, which this worker itself creates.
    """
    return app.topic(*(settings.topic(n) for n in names), key_type=bytes, value_type=bytes, value_serializer="raw",
                     key_serializer="raw", internal=True, partitions=settings.partitions,
                     compacting=names == (topics.CATALOG.name,))


def incoming(event: Any) -> Incoming:
    m = event.message
    name = m.topic[len(_prefix):] if _prefix and m.topic.startswith(_prefix) else m.topic
    return Incoming(name, m.value, m.key, m.partition, m.offset, now_ms())


_declared: set[str] = set()


async def publish(outs: Sequence[Outgoing]) -> None:
    """Send every message and wait until the broker acknowledges them (before state or offsets commit).

    A topic is declared before its first send: producing to a topic that does not exist yet left
    aiokafka's flush waiting forever in a test run (the broker created it a moment later).
    """
    futures = []
    for o in outs:
        t = topic(o.topic)
        if o.topic not in _declared:
            await t.maybe_declare()
            _declared.add(o.topic)
        futures.append(await t.send(key=o.key.encode(), value=o.value))
    if futures:
        await asyncio.gather(*futures)


@app.task
async def declare_topics() -> None:
    """Create every livecart topic that is missing (brokers may have auto-creation off)."""
    for spec in topics.ALL:
        await topic(spec.name).maybe_declare()
        _declared.add(spec.name)

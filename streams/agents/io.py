"""Conversion between faust events and the stages' Incoming/Outgoing messages, and publishing."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from functools import cache
from typing import Any

from aiokafka import TopicPartition  # type: ignore[import-untyped]

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


log = logging.getLogger(__name__)
# Set once every livecart topic exists and the producer's metadata names a leader for each partition.
topics_ready = asyncio.Event()


async def publish(outs: Sequence[Outgoing]) -> None:
    """Send every message and wait until the broker acknowledges them (before state or offsets commit).

    Nothing is sent before ``topics_ready``: producing to a topic the broker created a moment earlier
    drew NotLeaderForPartition and, once, a producer that never acknowledged again (the worker sat idle
    for the rest of a CI run). If a batch's sends still go unacknowledged for LIVECART_PUBLISH_TIMEOUT_S,
    the process exits non-zero: nothing of that batch was committed, so a restarted worker re-reads it,
    where a silent stall would hold the partitions forever.
    """
    if not topics_ready.is_set():
        await topics_ready.wait()
    futures = [await topic(o.topic).send(key=o.key.encode(), value=o.value) for o in outs]
    if not futures:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*futures), settings.publish_timeout_s)
    except TimeoutError:
        exit_stalled(f"{len(futures)} sends to {sorted({o.topic for o in outs})} unacknowledged after "
                     f"{settings.publish_timeout_s:g} s (LIVECART_PUBLISH_TIMEOUT_S)")


def exit_stalled(reason: str) -> None:
    """Leave at once with EX_TEMPFAIL: a graceful stop would wait on the same stuck producer."""
    log.critical("livecart: producer stalled, exiting for a restart: %s", reason)
    logging.shutdown()
    os._exit(EXIT_STALLED)


EXIT_STALLED = 75


def _missing_leaders(names: list[str]) -> list[str]:
    """Topic names (full) whose partitions the producer's metadata does not know, or knows without a leader."""
    producer = getattr(app.producer, "_producer", None)
    if producer is None:  # not an aiokafka transport, or not started: nothing to check
        return []
    cluster = producer.client.cluster
    missing = []
    for name in names:
        parts = cluster.partitions_for_topic(name)
        if not parts or any(cluster.leader_for_partition(TopicPartition(name, p)) in (None, -1) for p in parts):
            missing.append(name)
    return missing


@app.task
async def declare_topics() -> None:
    """Create every livecart topic that is missing (brokers may have auto-creation off), wait until each
    partition has a leader in the producer's metadata, then let ``publish`` send."""
    for spec in topics.ALL:
        await topic(spec.name).maybe_declare()
    names = [settings.topic(spec.name) for spec in topics.ALL]
    producer = getattr(app.producer, "_producer", None)  # started by maybe_declare (it creates topics)
    if producer is None:
        topics_ready.set()
        return
    client = producer.client
    for name in names:
        client.add_topic(name)
    delay, waited = 0.05, 0.0
    while missing := _missing_leaders(names):
        if waited > 10:
            log.warning("livecart: waiting for partition leaders of %s", missing)
        await client.force_metadata_update()
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 2.0)
    topics_ready.set()

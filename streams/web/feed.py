"""Kafka feeder: consume ``<prefix>live.dashboard`` with aiokafka (installed with faust) into a SnapshotHub.

It reads every partition without a consumer group (a page is a viewer, not a worker: nothing to commit
and no rebalance when a second dashboard starts) and starts ``LOOKBACK`` messages before each partition's
end, so a freshly started dashboard shows the rooms that were live a moment ago instead of a blank page.
"""

from __future__ import annotations

import asyncio
import logging

from streams.errors import InvalidEvent
from streams.kafka_replay import bootstrap_servers
from streams.web.hub import SnapshotHub

log = logging.getLogger(__name__)

# Per partition. At the default 1 snapshot/s per room, 2,000 messages is over 30 min of one room, or the
# last minutes of a few dozen rooms sharing the partition: enough to find each live room's latest snapshot.
LOOKBACK = 2_000
TOPIC_POLL_S = 2.0  # metadata refresh period: a topic that does not exist yet is found within this, s
BACKOFF_S = (1.0, 30.0)  # first and largest wait between reconnects, doubling


async def consume_dashboard(hub: SnapshotHub, broker: str, topic: str, *, lookback: int = LOOKBACK) -> None:
    """Feed ``hub`` from ``topic`` on ``broker`` (``kafka://host:port``, several with ``,`` or ``;``) until cancelled.

    Connection errors are logged and retried with exponential backoff; bad messages are logged and skipped.
    """
    wait = BACKOFF_S[0]
    while True:
        try:
            await _consume_once(hub, broker, topic, lookback)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any broker failure: keep the page up and retry
            log.warning("dashboard feed from %s (%s) failed: %s; retrying in %.0f s", broker, topic, exc, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, BACKOFF_S[1])


async def _consume_once(hub: SnapshotHub, broker: str, topic: str, lookback: int) -> None:
    from aiokafka import AIOKafkaConsumer

    # metadata_max_age_ms: how soon a topic created after we start (or a new partition) is noticed.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(broker), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="latest", metadata_max_age_ms=int(TOPIC_POLL_S * 1000))
    await consumer.start()
    try:
        # Without a group, subscribing assigns every partition of the topic once metadata lists it.
        consumer.subscribe([topic])
        while not consumer.assignment():
            await asyncio.sleep(0.1)
        tps = sorted(consumer.assignment())
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(begins[tp], ends[tp] - lookback))
        log.info("dashboard feed: %s, %d partitions", topic, len(tps))
        async for msg in consumer:
            if msg.value is None:
                continue
            try:
                hub.publish_json(msg.value)
            except InvalidEvent as err:
                log.warning("%s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, err.reason)
    finally:
        await consumer.stop()

"""The service fixtures themselves: a real Kafka broker and Redis server start, serve, stop and come back."""

from __future__ import annotations

import time

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer  # type: ignore[import-untyped]

from scripts.services import KafkaServer, RedisServer, ensure_kafka_jars

pytestmark = pytest.mark.integration

# A fresh consumer group on a single local broker joins and fetches in ~0.5 s; 30 s covers auto-creating the
# topic plus the group coordinator loading on a loaded 2-core CI machine, and still fails a hung test quickly.
CONSUME_DEADLINE_S = 30.0


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    """Send ``values`` to ``topic`` (key ``k``) and wait until the broker acknowledged all of them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    try:
        for value in values:
            producer.send(topic, key=b"k", value=value).get(timeout=CONSUME_DEADLINE_S)
    finally:
        producer.close()


def consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Read ``count`` values from the start of ``topic`` with consumer group ``group``, committing offsets."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    values: list[bytes] = []
    deadline = time.monotonic() + CONSUME_DEADLINE_S
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(record.value for record in records)
        consumer.commit()
    finally:
        consumer.close()
    assert len(values) >= count, f"{topic}: expected {count} messages within {CONSUME_DEADLINE_S} s, got {values!r}"
    return values


def test_kafka_produce_consume(kafka: KafkaServer, uid: str) -> None:
    topic = f"{uid}.probe"
    sent = [f"m{i}".encode() for i in range(10)]
    produce(kafka.bootstrap, topic, sent)
    # One key, so one partition: order is preserved.
    assert consume(kafka.bootstrap, topic, f"g-{uid}", len(sent)) == sent
    assert kafka.url == f"kafka://{kafka.bootstrap}"


def test_kafka_auto_creates_topics_with_four_partitions(kafka: KafkaServer, uid: str) -> None:
    topic = f"{uid}.auto"
    produce(kafka.bootstrap, topic, [b"x"])
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap)
    try:
        assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}
    finally:
        consumer.close()


@pytest.mark.parametrize("how", ["restart", "crash"])
def test_kafka_restart_keeps_port_and_data(kafka: KafkaServer, uid: str, how: str) -> None:
    topic = f"{uid}.durable"
    produce(kafka.bootstrap, topic, [b"before-restart"])
    bootstrap, pid = kafka.bootstrap, kafka.pid

    if how == "restart":
        kafka.restart()
    else:  # SIGKILL: acknowledged messages are in the page cache, and Kafka recovers the log on start
        kafka.kill()
        kafka.start()

    assert kafka.bootstrap == bootstrap
    assert kafka.pid != pid  # a new JVM, not a no-op
    assert consume(kafka.bootstrap, topic, f"g-{uid}", 1) == [b"before-restart"]
    produce(kafka.bootstrap, topic, [b"after-restart"])
    # The group's committed offset survived too: it resumes after the first message.
    assert consume(kafka.bootstrap, topic, f"g-{uid}", 1) == [b"after-restart"]


def test_redis_set_get(redis_server: RedisServer, uid: str) -> None:
    with redis.Redis.from_url(redis_server.url) as client:
        client.set(f"{uid}:k", b"v", ex=60)
        assert client.get(f"{uid}:k") == b"v"
    assert redis_server.url.startswith("redis://127.0.0.1:") and redis_server.url.endswith("/0")


def test_redis_stop_start_same_port(uid: str) -> None:
    # A private server: an outage of the session one would fail whatever else holds a connection to it.
    with RedisServer() as server, server.client() as client:
        port, url = server.port, server.url
        client.set(f"{uid}:k", b"v")

        server.stop()
        assert not server.is_running()
        with pytest.raises(redis.ConnectionError):
            client.ping()

        server.start()
        assert (server.port, server.url) == (port, url)
        assert client.ping()  # redis-py reconnects on the next command
        assert client.get(f"{uid}:k") is None  # no persistence: an outage loses the data, by design


def test_kafka_jars_cached() -> None:
    started = time.monotonic()
    libs = ensure_kafka_jars()
    # A cached resolution only hashes the pom; running Maven would take seconds.
    assert time.monotonic() - started < 1.0
    assert list(libs.glob("kafka_2.13-4.1.1.jar"))

"""Replay an event log into Kafka with kafka-python: original pace × speed, or as fast as possible."""

from __future__ import annotations

import time
from typing import Any

from streams.config import Settings
from streams.eventlog import read_log, value_bytes

SEQ_HEADER = "livecart-seq"


def bootstrap_servers(broker: str) -> list[str]:
    """``kafka://h1:9092;h2:9092`` (faust style) -> ["h1:9092", "h2:9092"]."""
    return [b.split("://", 1)[-1] for b in broker.replace(";", ",").split(",") if b.strip()]


def replay_to_kafka(log: str, *, settings: Settings, speed: float = 0.0, limit: int | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Produce every line of ``log`` to its (prefixed) topic; returns exact counts per topic."""
    from kafka import KafkaProducer
    from tqdm import tqdm

    producer = KafkaProducer(bootstrap_servers=bootstrap_servers(settings.broker), linger_ms=5, acks="all",
                             max_request_size=2_000_000)
    counts: dict[str, int] = {}
    first_ts: int | None = None
    t0 = time.monotonic()
    futures = []
    with tqdm(desc="produce", unit="ev", disable=not progress, mininterval=0.5) as bar:
        for i, line in enumerate(read_log(log)):
            if limit is not None and i >= limit:
                break
            value = line["value"]
            ts = value.get("ts") if isinstance(value, dict) else None
            if speed > 0 and isinstance(ts, int):
                first_ts = ts if first_ts is None else first_ts
                wait = (ts - first_ts) / 1000 / speed - (time.monotonic() - t0)
                if wait > 0:
                    time.sleep(wait)
            key = line.get("key")
            # The log position travels as a header so `livecart record` restores the exact original order.
            futures.append(producer.send(settings.topic(line["topic"]), key=key.encode() if isinstance(key, str) else None,
                                         value=value_bytes(value), headers=[(SEQ_HEADER, str(i).encode())]))
            counts[line["topic"]] = counts.get(line["topic"], 0) + 1
            bar.update(1)
        producer.flush()
    failed = sum(1 for f in futures if f.failed())
    producer.close()
    return {"produced": counts, "total": sum(counts.values()), "failed": failed, "seconds": round(time.monotonic() - t0, 2)}


def record_from_kafka(out: str, *, settings: Settings, max_events: int | None = None, seconds: float | None = None,
                      idle_s: float = 5.0, progress: bool = True) -> dict[str, Any]:
    """Consume the input topics from the beginning into a log at ``out`` (event-time order, catalog first).

    Stops after ``max_events``, after ``seconds``, or when nothing arrived for ``idle_s``; returns counts.
    """
    from kafka import KafkaConsumer
    from tqdm import tqdm

    from streams import topics
    from streams.eventlog import log_value, write_log

    names = [t.name for t in topics.INPUTS]
    consumer = KafkaConsumer(*(settings.topic(n) for n in names), bootstrap_servers=bootstrap_servers(settings.broker),
                             group_id=None, auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=int(idle_s * 1000))
    lines: list[dict[str, Any]] = []
    t0 = time.monotonic()
    with tqdm(desc="record", unit="ev", disable=not progress, mininterval=0.5) as bar:
        for m in consumer:
            name = m.topic[len(settings.topic_prefix):]
            lines.append({"topic": name, "key": m.key.decode("utf-8", "replace") if m.key is not None else None,
                          "value": log_value(m.value), "_order": (m.timestamp, m.partition, m.offset),
                          "_seq": next((int(v) for k, v in (m.headers or []) if k == SEQ_HEADER), None)})
            bar.update(1)
            if max_events is not None and len(lines) >= max_events:
                break
            if seconds is not None and time.monotonic() - t0 >= seconds:
                break
    consumer.close()

    def order(line: dict[str, Any]) -> tuple[Any, ...]:
        v = line["value"]
        ts = v.get("ts") if isinstance(v, dict) and isinstance(v.get("ts"), int) else line["_order"][0]
        if line["_seq"] is not None:  # replayed by livecart: its log position is the order
            return (0, line["_seq"], 0, line["_order"])
        return (1, 0 if line["topic"] == topics.CATALOG.name else 1, ts, line["_order"])

    lines.sort(key=order)
    for line in lines:
        del line["_order"], line["_seq"]
    n = write_log(lines, out)
    counts: dict[str, int] = {}
    for line in lines:
        counts[line["topic"]] = counts.get(line["topic"], 0) + 1
    return {"recorded": counts, "total": n, "out": out}

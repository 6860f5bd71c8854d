"""`livecart replay` into the real broker, then `livecart record` back: the log comes back exactly, gzip included."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from streams.catalog import Catalog
from streams.config import Settings
from streams.eventlog import read_log, write_log
from streams.kafka_replay import record_from_kafka, replay_to_kafka
from streams.simulate import simulate

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip(kafka: Any, uid: str, tmp_path: Path, suffix: str) -> None:
    lines = list(simulate(Catalog.load(), seed=3, rooms=["home-03"], duration_s=30, viewers_per_room=15))
    # A recorded malformed event must replay byte for byte too.
    lines.append({"topic": "live.clicks", "key": "home-03", "value": {"$raw_b64": "/w57bm90IGpzb24="}})
    src, back = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    write_log(lines, src)
    settings = Settings(broker=f"kafka://{kafka.bootstrap}", topic_prefix=f"{uid}.")
    sent = replay_to_kafka(str(src), settings=settings, progress=False)
    assert sent["failed"] == 0 and sent["total"] == len(lines)
    got = record_from_kafka(str(back), settings=settings, idle_s=3.0, progress=False)
    assert got["total"] == len(lines)
    assert list(read_log(back)) == lines
    if suffix.endswith(".gz"):
        assert gzip.open(back, "rt", encoding="utf-8").read() == gzip.open(src, "rt", encoding="utf-8").read()
    else:
        assert back.read_bytes() == src.read_bytes()

"""The Faust application: ``faust -A streams.app worker`` and ``livecart worker`` load it from here."""

from __future__ import annotations

import faust

from streams.config import Settings
from streams.security import broker_credentials

settings = Settings.from_env()

# How long the group waits for a silent member before giving its partitions to the others. faust's 60 s
# default is the whole recovery time after a worker crash (SIGKILL sends no LeaveGroup: a restarted worker
# waited 57 s for its partitions in tests/test_reliability.py). 20 s still spans ~6 missed heartbeats (3 s) and
# any micro-batch the event loop is busy with (an ONNX batch of 64 comments takes well under 1 s on 2 cores).
SESSION_TIMEOUT_S = 20.0

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    broker_credentials=broker_credentials(),
    store="memory://",
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=settings.partitions,
    consumer_auto_offset_reset="earliest",
    web_port=settings.web_port,
    web_enabled=True,
    producer_linger_ms=1,
    # False: with True a rebalance in tests/faults.py stalled ~60 s (the old owner never finished revoking).
    # The price is a short handover overlap between old and new owner (docs/reliability.md, known limits).
    stream_wait_empty=False,
    broker_session_timeout=SESSION_TIMEOUT_S,
    # The group leader compares each refresh with the metadata its assignment used and rebalances when a
    # subscribed topic gained partitions or appeared: at faust's 5 min default, a topic that reached the
    # broker's metadata just after the first join (live.comments.enriched, which the worker creates itself)
    # went unconsumed for 5 min (tests/test_e2e_worker.py). One small metadata request per interval.
    consumer_metadata_max_age_ms=int(settings.metadata_refresh_s * 1000),
)

# Agents register themselves on import. Imported explicitly rather than by faust's autodiscovery,
# which only logs a warning when an agent module fails to import and then runs without that agent.
from streams.agents import catalog, comments, dashboard, rooms  # noqa: E402,F401

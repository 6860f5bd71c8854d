"""Every topic: default name, event kind carried, partition key and why.

All room-scoped inputs are keyed by ``room_id``: a room's events then sit in one partition, in
order, handled by one worker, which makes that worker the single writer of the room's state and
makes suggestions a pure function of the room's event sequence (1 or 2 workers, live or replay:
same result). Suggestions are keyed by ``viewer_id`` so a client reads its viewer's partition;
dashboards by ``room_id`` so a host page follows one partition.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    kind: str | None  # event kind decoded from it (streams.records.DECODERS), None for outputs
    key: str
    why: str
    compacted: bool = False


COMMENTS = TopicSpec("live.comments", "comment", "room_id", "co-partitioned with the room's other events")
ENRICHED = TopicSpec("live.comments.enriched", "enriched", "room_id", "the rooms stage needs a room's comments in order")
CLICKS = TopicSpec("live.clicks", "click", "room_id", "one writer per room's item counters; order within the room")
PURCHASES = TopicSpec("live.purchases", "purchase", "room_id", "same as clicks")
HOST = TopicSpec("live.host", "host", "room_id", "on-stage changes must order with the room's clicks")
PRESENCE = TopicSpec("live.presence", "presence", "room_id", "active-viewer set is per room")
CATALOG = TopicSpec("live.catalog", None, "room_id:item_id", "compaction keeps the latest entry per item", compacted=True)
SUGGESTIONS = TopicSpec("live.suggestions", None, "viewer_id", "a client reads its viewer's latest suggestions")
DASHBOARD = TopicSpec("live.dashboard", None, "room_id", "a host page follows one room")
DEADLETTER = TopicSpec("live.deadletter", None, "source topic", "bad events of one source stay together, in order")

ROOM_INPUTS: tuple[TopicSpec, ...] = (ENRICHED, CLICKS, PURCHASES, HOST, PRESENCE)
INPUTS: tuple[TopicSpec, ...] = (COMMENTS, CLICKS, PURCHASES, HOST, PRESENCE, CATALOG)
ALL: tuple[TopicSpec, ...] = (COMMENTS, ENRICHED, CLICKS, PURCHASES, HOST, PRESENCE, CATALOG, SUGGESTIONS, DASHBOARD, DEADLETTER)
BY_NAME = {t.name: t for t in ALL}

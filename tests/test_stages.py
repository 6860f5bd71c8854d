"""The transport-agnostic stages over the embedded store: dead letters, dedupe, model-failure isolation."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.config import Settings
from streams.embedded import embedded_store
from streams.pipeline import CommentsStage, Incoming, Outgoing, RoomsStage
from tests import roomkit as k

SETTINGS = Settings()


def msg(topic: str, value: Any, offset: int = 0) -> Incoming:
    raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
    return Incoming(topic, raw, k.ROOM.encode(), 0, offset)


def click(eid: str, item: str = "lip-3", viewer: str = "v1", dt: int = 0) -> dict[str, Any]:
    return {"event_id": eid, "ts": k.T0 + dt, "room_id": k.ROOM, "viewer_id": viewer, "item_id": item}


class Sink:
    def __init__(self) -> None:
        self.outs: list[Outgoing] = []

    async def __call__(self, outs: list[Outgoing]) -> None:
        self.outs.extend(outs)

    def topic(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(o.value) for o in self.outs if o.topic == name]


async def test_rooms_stage_dead_letters_dedupes_and_persists() -> None:
    store = embedded_store(SETTINGS)
    stage = RoomsStage(k.catalog(), store, SETTINGS)
    sink = Sink()
    batch = [
        msg("live.clicks", click("c1"), 0),
        msg("live.clicks", b"\xff\xfe not utf-8", 1),
        msg("live.clicks", click("c2", item="ghost"), 2),
        msg("live.clicks", click("c1"), 3),  # same event_id inside the batch
        msg("live.purchases", {**click("p1", dt=10), "quantity": 1, "price": 129.0}, 4),
    ]
    await stage.process(batch, sink)
    dls = sink.topic("live.deadletter")
    assert [d["offset"] for d in dls] == [1, 2]
    assert "not valid UTF-8" in dls[0]["reason"] and base64.b64decode(dls[0]["raw_b64"]) == b"\xff\xfe not utf-8"
    assert dls[1]["reason"] == "unknown item 'ghost' in room 'beauty-test'"
    assert dls[1]["error"] == "live.clicks[0]@2: unknown item 'ghost' in room 'beauty-test'"
    assert stage.counters.processed == 2 and stage.counters.duplicates == 1 and stage.counters.dead_lettered == 2
    assert [s["trigger_event_id"] for s in sink.topic("live.suggestions")] == ["c1", "p1"]

    # Redelivery of the whole batch (a crash after commit): nothing changes, nothing is counted twice.
    before = await store.dump()
    stage.forget()  # and from a fresh worker that must reload from the store
    await stage.process(batch, Sink())
    assert await store.dump() == before
    assert stage.counters.duplicates == 1 + 3


@dataclass(frozen=True)
class Res:
    sentiment: str
    sentiment_score: float
    entities: tuple[Any, ...]
    is_question: bool


class FlakyModel:
    """Fails on any batch containing the poison text: the stage must isolate that one comment."""

    version = "flaky"

    def predict(self, texts: Sequence[str]) -> list[Res]:
        if "POISON" in texts:
            raise RuntimeError("kernel exploded")
        return [Res("neu", 0.5, (), t.endswith("吗")) for t in texts]


async def test_comments_stage_isolates_a_failing_comment() -> None:
    stage = CommentsStage(FlakyModel(), lambda text, ents, room: ents, k.catalog(), SETTINGS)
    batch = [msg("live.comments", {**click(f"m{i}"), "text": t}, i) for i, t in enumerate(["有货吗", "POISON", "好看"])]
    batch.append(msg("live.comments", {"event_id": "m9", "ts": k.T0, "room_id": k.ROOM}, 9))
    outs = await stage.process(batch)
    enriched = [json.loads(o.value) for o in outs if o.topic == "live.comments.enriched"]
    dls = [json.loads(o.value) for o in outs if o.topic == "live.deadletter"]
    assert [e["event_id"] for e in enriched] == ["m0", "m2"] and enriched[0]["is_question"] is True
    assert sorted(d["offset"] for d in dls) == [1, 9]
    assert any("model failed on this comment: RuntimeError: kernel exploded" in d["reason"] for d in dls)
    assert any("field 'viewer_id' missing" in d["reason"] for d in dls)
    assert stage.counters.processed == 2 and stage.counters.dead_lettered == 2

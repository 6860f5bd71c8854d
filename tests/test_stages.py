"""The transport-agnostic stages over the embedded store: dead letters, dedupe, model-failure isolation."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from streams.config import Settings
from streams.embedded import embedded_store
from streams.pipeline import CommentsStage, DashboardStage, Incoming, Outgoing, RoomsStage
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


def _item(dump: dict[str, Any], item: str) -> dict[str, str]:
    [h] = [v for key, v in dump.items() if key.endswith(f":item:{item}")]
    return {(a.decode() if isinstance(a, bytes) else a): (b.decode() if isinstance(b, bytes) else b) for a, b in h.items()}


async def test_rooms_commit_meeting_another_writer_reapplies_instead_of_overwriting() -> None:
    """A rebalance handover: worker A has applied c1 but not committed when worker B commits c2 for the same
    room. A's commit must not overwrite B's (last writer wins would drop c2's click): it reloads and re-applies."""
    store = embedded_store(SETTINGS)
    a, b = RoomsStage(k.catalog(), store, SETTINGS), RoomsStage(k.catalog(), store, SETTINGS)
    interleaved = False

    async def a_sends(outs: list[Outgoing]) -> None:  # between A's apply and A's commit
        nonlocal interleaved
        if not interleaved:
            interleaved = True
            await b.process([msg("live.clicks", click("c2", viewer="v2", dt=5), 1)], Sink())

    await a.process([msg("live.clicks", click("c1", dt=0), 0)], a_sends)
    dump = await store.dump()
    assert float(_item(dump, "lip-3")["n_clicks"]) == 2.0
    assert sum(":seen:rooms:" in key for key in dump) == 2
    assert a.counters.conflicts == 1 and a.counters.processed == 1 and b.counters.processed == 1

    # A redelivery of both to a third worker changes nothing.
    c = RoomsStage(k.catalog(), store, SETTINGS)
    await c.process([msg("live.clicks", click("c1", dt=0), 0), msg("live.clicks", click("c2", viewer="v2", dt=5), 1)], Sink())
    assert await store.dump() == dump and c.counters.duplicates == 2


async def test_dashboard_stage_reloads_state_another_worker_committed() -> None:
    """Worker A's cached window state is stale once B commits the room: A reloads it instead of writing its own
    older state back over B's (which would lose B's click from the dashboard)."""
    store = embedded_store(SETTINGS)
    a, b = DashboardStage(k.catalog(), store, SETTINGS), DashboardStage(k.catalog(), store, SETTINGS)
    await a.process([msg("live.clicks", click("c1", dt=0), 0)])
    await b.process([msg("live.clicks", click("c2", viewer="v2", dt=5), 1)])
    await a.process([msg("live.clicks", click("c3", viewer="v3", dt=9), 2)])
    [blob] = [v for key, v in (await store.dump()).items() if key.endswith(":dashboard")]
    state = json.loads(blob)
    assert state["totals"]["clicks"] == 3, state["totals"]


async def test_rooms_stage_sends_dead_letters_of_an_all_bad_batch() -> None:
    sink = Sink()
    stage = RoomsStage(k.catalog(), embedded_store(SETTINGS), SETTINGS)
    outs = await stage.process([msg("live.clicks", b"not json", 0), msg("live.host", b"{}", 1)], sink)
    assert len(sink.topic("live.deadletter")) == 2 and sink.outs == outs


async def test_events_far_ahead_of_the_wall_clock_are_dead_lettered_by_every_stage() -> None:
    year_2200 = 7_258_118_400_000
    sink = Sink()
    store = embedded_store(SETTINGS)
    rooms = RoomsStage(k.catalog(), store, SETTINGS)
    await rooms.process([msg("live.clicks", {**click("f1"), "ts": year_2200}, 0), msg("live.clicks", click("ok"), 1)], sink)
    [dl] = sink.topic("live.deadletter")
    assert dl["offset"] == 0 and "ahead of the wall clock" in dl["reason"] and "LIVECART_MAX_FUTURE_MS" in dl["reason"]
    assert rooms.counters.processed == 1
    comments = CommentsStage(FlakyModel(), lambda text, ents, room: ents, k.catalog(), SETTINGS)
    outs = await comments.process([msg("live.comments", {**click("f2"), "ts": year_2200, "text": "有货吗"}, 0)])
    assert [o.topic for o in outs] == ["live.deadletter"] and "ahead of the wall clock" in json.loads(outs[0].value)["reason"]

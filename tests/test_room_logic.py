"""Room state transitions and ranking: the pure code the rooms stage and the embedded replay call."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streams.errors import InvalidEvent
from streams.logic import decay, ranking, vectors
from streams.logic.room import COUNTERS, C, Params, RoomState, T, apply
from streams.records import Click
from tests import roomkit as k

P = Params(half_life_s=300, room_refresh_ms=2_000)
RP = ranking.RankParams(top_k=3)


def fresh() -> RoomState:
    room = k.catalog().room(k.ROOM)
    assert room is not None
    return RoomState(room)


def test_click_moves_counters_interest_and_refreshes_the_viewer() -> None:
    room = fresh()
    fx = apply(room, k.click("v1", "lip-3", 0), P)
    row = room.index["lip-3"]
    assert room.values[row, C["clicks"]] == 1.0 and room.totals[row, T["n_clicks"]] == 1
    assert fx.refresh == ["v1"] and "lip-3" in fx.items
    v = room.viewers["v1"]
    assert float(v.interest @ room.static[row]) > 0.99  # interest points at the clicked item


def test_unknown_item_is_invalid() -> None:
    with pytest.raises(InvalidEvent, match="unknown item 'nope'"):
        apply(fresh(), k.click("v1", "nope", 0), P)


def test_purchase_removes_item_unless_repeatable_and_brings_complements() -> None:
    room = fresh()
    apply(room, k.click("v1", "lip-3", 0), P)
    before = ranking.rank(room, room.viewers["v1"], k.T0 + 1, RP)
    assert "lip-3" in [p["id"] for p in before["products"]]
    apply(room, k.purchase("v1", "lip-3", 1_000), P)
    after = ranking.rank(room, room.viewers["v1"], k.T0 + 2_000, RP)
    ids = [p["id"] for p in after["products"]]
    assert "lip-3" not in ids
    comp = [p for p in after["products"] if any(r["code"] == "complements_your_purchase" for r in p["reasons"])]
    assert comp and {p["id"] for p in comp} <= {"remover-5", "brush-6"}
    course = next(x for x in after["knowledge"] if x["id"] == "makeup-course")
    assert course["reasons"][0] == {"code": "related_to_your_purchase", "weight": RP.k_purchase, "item_id": "lip-3"}


def test_repeatable_item_stays_after_purchase() -> None:
    room = fresh()
    apply(room, k.purchase("v1", "mask-7", 0, price=79.0), P)
    ids = [p["id"] for p in ranking.rank(room, room.viewers["v1"], k.T0 + 10, ranking.RankParams(top_k=5))["products"]]
    assert "mask-7" in ids


def test_on_stage_refreshes_active_viewers_throttled() -> None:
    room = fresh()
    apply(room, k.join("v1", 0), P)
    apply(room, k.join("v2", 100), P)
    fx = apply(room, k.host("on_stage", 5_000, item="brush-6"), P)
    assert set(fx.refresh) == {"v1", "v2"} and fx.refresh_reason == "on_stage"
    top = ranking.rank(room, room.viewers["v2"], k.T0 + 5_000, RP)["products"][0]
    assert top["id"] == "brush-6" and top["reasons"][0]["code"] == "on_stage_now"
    fx2 = apply(room, k.host("on_stage", 5_500, item="lip-4"), P)  # within 2 s: throttled
    assert fx2.refresh == []
    fx3 = apply(room, k.click("v1", "mask-7", 8_000), P)  # the pending room refresh fires on the next event
    assert set(fx3.refresh) == {"v1", "v2"} and fx3.refresh_reason == "on_stage"


def test_question_mention_feeds_answers_your_question() -> None:
    room = fresh()
    apply(room, k.comment("v1", "3号链接有没有豆沙色", 0, items=("lip-3",), question=True), P)
    know = ranking.rank(room, room.viewers["v1"], k.T0 + 1, RP)["knowledge"]
    assert know[0]["id"] == "makeup-course"
    assert any(r["code"] == "answers_your_question" and r["item_id"] == "lip-3" for r in know[0]["reasons"])
    assert room.values[room.index["lip-3"], C["questions"]] == 1.0


def test_diversity_limits_one_category() -> None:
    room = fresh()
    for i in range(5):
        apply(room, k.click(f"u{i}", "lip-3", i), P)
        apply(room, k.click(f"u{i}", "lip-4", i + 1), P)
    ranked = ranking.rank(room, room.viewer("new"), k.T0 + 100, RP)["products"]
    cats = [room.catalog.products[p["id"]].category for p in ranked]
    assert cats.count("口红") <= 2 and len(set(cats)) >= 2


def test_state_is_independent_of_event_order() -> None:
    events = [k.click("v1", "lip-3", 0), k.click("v1", "brush-6", 30_000), k.purchase("v1", "lip-3", 40_000),
              k.click("v2", "lip-3", 45_000), k.click("v2", "remover-5", 50_000),
              k.comment("v2", "卸妆水好用吗", 55_000, items=("remover-5",), question=True, sentiment="pos")]
    states = []
    for seed in range(4):
        order = events[:]
        random.Random(seed).shuffle(order)
        room = fresh()
        for ev in order:
            apply(room, ev, P)
        states.append(room)
    a = states[0]
    for b in states[1:]:
        np.testing.assert_allclose(a.values, b.values, rtol=1e-9)
        np.testing.assert_array_equal(a.t_refs, b.t_refs)
        np.testing.assert_allclose(a.ctx, b.ctx, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.totals, b.totals)
        for vid in ("v1", "v2"):
            np.testing.assert_allclose(a.viewers[vid].interest, b.viewers[vid].interest, rtol=1e-5, atol=1e-6)
            assert a.viewers[vid].recent == b.viewers[vid].recent


def test_co_engagement_moves_context() -> None:
    room = fresh()
    apply(room, k.click("v1", "lip-3", 0), P)
    apply(room, k.click("v1", "brush-6", 1_000), P)
    lip, brush = room.index["lip-3"], room.index["brush-6"]
    dyn = room.dynamic_vectors(k.T0 + 1_000, P.half_life_ms)
    assert float(dyn[lip] @ room.static[brush]) > float(room.static[lip] @ room.static[brush])


def _dense_reference(room: RoomState, u: np.ndarray, ts: int, hl: float) -> tuple[np.ndarray, np.ndarray]:
    """The per-event-time arrays computed over every row, as before the touched-rows shortcut."""
    decayed = decay.at_array(room.values, room.t_refs, ts, hl)
    a = 0.5 * np.tanh(room.ctx_norm * np.exp2(-np.maximum(0, ts - room.ctx_t) / hl))
    denom = np.sqrt(np.maximum(1e-12, 1.0 + a * a + 2.0 * a * room.ctx_static))
    su = (room.static @ u).astype(np.float64)
    cu = np.divide((room.ctx @ u).astype(np.float64), room.ctx_norm, out=np.zeros(len(su)), where=room.ctx_norm > 0)
    return decayed, (su + a * cu) / denom


def test_touched_rows_shortcut_equals_the_dense_computation() -> None:
    """Decay and similarity on touched rows only must equal the all-rows formulas, after live events and
    after a reload from encoded rows (the store's path)."""
    from bench.costmodel import ROOM, T0, synthetic_catalog
    from streams import codec

    cat = synthetic_catalog(2_000, seed=5).room(ROOM)
    assert cat is not None
    room, p, rng = RoomState(cat), Params(), random.Random(5)
    for j in range(600):
        item = f"it-{rng.randrange(300)}"  # 300 of 2,000 items engaged, as in a real show
        ev = Click(f"e{j}", T0 + j * 37, ROOM, f"v{rng.randrange(40)}", item)
        apply(room, ev, p)
        if j % 50 == 0:  # reads between writes: every write path must keep the row caches current
            room.similarity(vectors.unit(room.viewers[ev.viewer_id].interest), ev.ts, p.half_life_ms)
            room.signals(ev.ts, p.half_life_ms)
    assert 0 < len(room.counted_rows()) < 300 and 0 < len(room.ctx_rows()) < 300
    reloaded = RoomState(cat)
    reloaded.similarity(vectors.unit(next(iter(room.viewers.values())).interest), T0, p.half_life_ms)
    reloaded.counter_at("clicks", T0, p.half_life_ms)  # read before the load: loading must refresh the row caches
    for row in rng.sample(range(2_000), 400) + list(room.counted_rows()):
        codec.decode_item(reloaded, row, codec.encode_item(room, row))
    for r in (room, reloaded):
        for ts in (T0 + 600 * 37, T0 + 900_000, T0 + 100):  # after, long after, before most events (no growth)
            for v in list(room.viewers.values())[:5]:
                u = vectors.unit(v.interest)
                dense_counters, dense_sim = _dense_reference(r, u, ts, p.half_life_ms)
                got = np.stack([r.counter_at(c, ts, p.half_life_ms) for c in COUNTERS], axis=1)
                np.testing.assert_array_equal(got, dense_counters)
                signal = np.log1p(dense_counters[:, C["clicks"]] + dense_counters[:, C["purchases"]]
                                  + dense_counters[:, C["mentions"]])
                pos, neg = dense_counters[:, C["pos"]], dense_counters[:, C["neg"]]
                trend, sentiment = r.signals(ts, p.half_life_ms)
                np.testing.assert_array_equal(trend, signal / signal.max() if signal.max() > 0 else signal)
                np.testing.assert_array_equal(sentiment, (pos - neg) / (1.0 + pos + neg))
                np.testing.assert_allclose(r.similarity(u, ts, p.half_life_ms), dense_sim, rtol=0, atol=1e-12)

"""Dashboard windows: snapshots on event-time boundaries, question grouping, sales and conversion."""

from __future__ import annotations

from streams.logic.dashboard import DashboardState, question_key
from tests import roomkit as k


def test_question_key_groups_repeats() -> None:
    assert question_key("3号链接 有没有豆沙色？？") == question_key("3号链接有没有豆沙色?")


def test_snapshots_follow_event_time() -> None:
    cat = k.catalog().room(k.ROOM)
    st = DashboardState(k.ROOM, interval_ms=1_000)
    snaps = []
    events = [
        k.join("v1", 0), k.host("on_stage", 100, item="lip-3"), k.click("v1", "lip-3", 200),
        k.comment("v1", "3号链接有没有豆沙色", 300, items=("lip-3",), question=True),
        k.comment("v2", "3号链接有没有豆沙色？", 400, items=("lip-3",), question=True),
        k.comment("v3", "质量太差了", 500, sentiment="neg"),
        k.purchase("v1", "lip-3", 900, qty=2, price=129.0),
        k.click("v2", "lip-4", 2_500),
    ]
    for ev in events:
        snaps += st.step(ev, cat)
    assert [s["ts"] for s in snaps] == [k.T0 + 1_000]  # the 2.5 s click crossed one boundary (1 s); 2 s is skipped
    s = snaps[0]
    assert s["active_viewers"] == 3
    assert s["comments_per_min"] == 3
    assert s["open_questions"][0]["count"] == 2 and s["open_questions"][0]["item_ids"] == ["lip-3"]
    lip = next(p for p in s["hot_products"] if p["item_id"] == "lip-3")
    assert (lip["clicks"], lip["purchases"], lip["units"], lip["gmv"], lip["conversion"]) == (1, 1, 2, 258.0, 1.0)
    assert s["on_stage"]["item_id"] == "lip-3" and s["on_stage"]["gmv"] == 258.0
    assert s["sentiment"]["neg"] == 1 / 3
    assert s["totals"]["gmv"] == 258.0
    assert any(c["sentiment"] == "neg" for c in s["recent_comments"])
    again = DashboardState.from_json(st.to_json())
    assert again.snapshot(k.T0 + 3_000, cat) == st.snapshot(k.T0 + 3_000, cat)

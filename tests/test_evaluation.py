"""Offline evaluation: ranks, HR/NDCG/MRR and the online baselines on a hand-computed case."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streams.evaluation import CoOccurrence, evaluate_suggestions

T = 1_700_000_000_000


def ev(topic: str, dt: int, viewer: str, item: str) -> dict[str, Any]:
    return {"topic": topic, "key": "r", "value": {"event_id": f"{viewer}{dt}", "ts": T + dt, "room_id": "r", "viewer_id": viewer, "item_id": item}}


def sug(dt: int, viewer: str, items: list[str]) -> dict[str, Any]:
    return {"value": {"ts": T + dt, "room_id": "r", "viewer_id": viewer, "products": [{"id": i} for i in items]}}


def test_hand_computed_metrics() -> None:
    log = [ev("live.clicks", 0, "a", "x"), ev("live.clicks", 10, "a", "y"), ev("live.purchases", 20, "a", "z"),
           ev("live.clicks", 30, "b", "x")]
    sugs = [sug(0, "a", ["y", "x"]), sug(10, "a", ["x", "q"]), sug(20, "a", ["z"])]
    r = evaluate_suggestions(log, sugs, k=2)
    # targets: a/x (no earlier suggestion: miss), a/y (rank 0), a/z (suggestion at 10 lacks z: miss), b/x (none: miss)
    assert r["targets"] == 4
    assert r["livecart"]["hr@2"] == pytest.approx(1 / 4)
    assert r["livecart"]["ndcg@2"] == pytest.approx(1 / 4)
    # popularity at each target's time: [] miss, [x] miss y, [x, y] miss z, [z, x] hits b/x at rank 1
    pop = r["baselines_at_target"]["popularity"]
    assert pop["hr@2"] == pytest.approx(1 / 4)
    assert pop["ndcg@2"] == pytest.approx((1 / math.log2(3)) / 4)
    assert pop["mrr"] == pytest.approx(0.5 / 4)
    # at livecart's information time: a/y sees [x] (as of the suggestion at 0), a/z sees [x, y]; b has no list
    assert r["baselines"]["popularity"]["hr@2"] == 0.0
    assert r["baselines"]["on_stage_first"]["n"] == 4


def test_cooccurrence_prefers_co_engaged_items() -> None:
    knn = CoOccurrence()
    for viewer, items in {"u1": ["a", "b"], "u2": ["a", "b"], "u3": ["a", "c"]}.items():
        for i in items:
            knn.add("r", viewer, i)
    knn.add("r", "new", "a")
    assert knn.top("r", "new", 2, ["a", "b", "c"])[0] == "b"

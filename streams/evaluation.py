"""Offline scoring of published suggestions against each viewer's next click or purchase.

For every click/purchase in the log, the viewer's most recent suggestion published for an earlier
event (event time strictly before) is the ranking under test; the clicked/bought item is the target.
Baselines computed from the same event stream, online: room popularity (clicks + 3×purchases so
far), on-stage-first (the on-stage item, then popularity) and item co-occurrence kNN (items engaged
by the same viewers as the viewer's recent items, cosine-normalised counts, popularity to fill). No method masks items the viewer already clicked; livecart
drops items the viewer bought unless the catalog marks them repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def _metrics(ranks: Sequence[int | None], k: int) -> dict[str, float]:
    n = len(ranks)
    if n == 0:
        return {"n": 0, f"hr@{k}": 0.0, f"ndcg@{k}": 0.0, "mrr": 0.0}
    hit = [r for r in ranks if r is not None and r < k]
    return {
        "n": n,
        f"hr@{k}": len(hit) / n,
        f"ndcg@{k}": sum(1 / math.log2(r + 2) for r in hit) / n,
        "mrr": sum(1 / (r + 1) for r in hit) / n,
    }


def _rank(items: Sequence[str], target: str) -> int | None:
    try:
        return list(items).index(target)
    except ValueError:
        return None


class _Baselines:
    """Online baseline rankers over the event stream: popularity, on-stage-first, item-kNN."""

    def __init__(self) -> None:
        self.pop: dict[str, dict[str, float]] = {}
        self.stage: dict[str, str | None] = {}
        self.knn = CoOccurrence()

    def lists(self, room: str, viewer: str, k: int) -> dict[str, list[str]]:
        counts = self.pop.get(room, {})
        popular = sorted(counts, key=lambda x: (-counts[x], x))[:k]
        on = self.stage.get(room)
        staged = ([on] if on else []) + [x for x in popular if x != on]
        return {"popularity": popular, "on_stage_first": staged[:k], "item_knn": self.knn.top(room, viewer, k, popular)}

    def observe(self, topic: str, val: dict[str, Any]) -> None:
        room = str(val.get("room_id"))
        if topic == "live.host" and val.get("action") == "on_stage":
            self.stage[room] = val.get("item_id")
        elif topic == "live.host" and val.get("action") == "off_stage" and self.stage.get(room) == val.get("item_id"):
            self.stage[room] = None
        elif topic in ("live.clicks", "live.purchases"):
            counts = self.pop.setdefault(room, {})
            counts[val["item_id"]] = counts.get(val["item_id"], 0.0) + (3.0 if topic == "live.purchases" else 1.0)
            self.knn.add(room, val["viewer_id"], val["item_id"])


def evaluate_suggestions(log: Iterable[dict[str, Any]], suggestions: Sequence[dict[str, Any]], k: int | None = None) -> dict[str, Any]:
    """HR@k, NDCG@k, MRR and coverage of livecart's suggestions and of the baselines, plus latency percentiles.

    Baselines are scored twice: ``baselines`` at the same information time as livecart (each
    baseline's list as of the event that triggered the viewer's last suggestion, the fair
    comparison) and ``baselines_at_target`` recomputed at the target event itself (fresher than
    any published list can be: an upper reference).
    """
    order: list[tuple[int, int, dict[str, Any]]] = []
    latencies = []
    shown: set[str] = set()
    for i, s in enumerate(suggestions):
        v = s["value"]
        order.append((v["ts"], i, v))
        shown.update(p["id"] for p in v["products"])
        if v.get("processing_ms") is not None:
            latencies.append(v["processing_ms"])
    order.sort(key=lambda x: (x[0], x[1]))
    k = k or max((len(v["products"]) for _, _, v in order), default=10)
    last: dict[tuple[str, str], dict[str, list[str]]] = {}  # (room, viewer) -> livecart + baselines at that time
    base = _Baselines()
    names = ("popularity", "on_stage_first", "item_knn")
    ranks: dict[str, list[int | None]] = {"livecart": [], **{n: [] for n in names}}
    at_target: dict[str, list[int | None]] = {n: [] for n in names}
    catalog_items: dict[str, set[str]] = {}
    j = 0
    for line in log:
        topic, val = line["topic"], line["value"]
        if topic == "live.catalog" and isinstance(val, dict) and val.get("kind") == "product":
            catalog_items.setdefault(val["room_id"], set()).add(val["item_id"])
            continue
        if not isinstance(val, dict) or not isinstance(val.get("ts"), int):
            continue
        # Suggestions triggered before this event: snapshot the baselines as they stood then.
        while j < len(order) and order[j][0] < val["ts"]:
            v = order[j][2]
            key = (v["room_id"], v["viewer_id"])
            last[key] = {"livecart": [p["id"] for p in v["products"]], **base.lists(v["room_id"], v["viewer_id"], k)}
            j += 1
        if topic in ("live.clicks", "live.purchases"):
            key, target = (str(val["room_id"]), val["viewer_id"]), val["item_id"]
            snap = last.get(key)
            for name in ranks:
                ranks[name].append(_rank(snap[name], target) if snap else None)
            now = base.lists(key[0], key[1], k)
            for name in names:
                at_target[name].append(_rank(now[name], target))
        base.observe(topic, val)
    n_items = sum(len(s) for s in catalog_items.values())
    latencies.sort()

    def pct(q: float) -> float | None:
        return float(latencies[min(len(latencies) - 1, int(q * len(latencies)))]) if latencies else None

    return {
        "k": k,
        "targets": len(ranks["livecart"]),
        "livecart": {**_metrics(ranks["livecart"], k), "coverage": len(shown) / n_items if n_items else None},
        "baselines": {name: _metrics(ranks[name], k) for name in names},
        "baselines_at_target": {name: _metrics(at_target[name], k) for name in names},
        "processing_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0)},
    }


class CoOccurrence:
    """Online item-kNN: co-occurrence of items within each viewer's history, per room."""

    def __init__(self, history: int = 20) -> None:
        self.history = history
        self.seen: dict[tuple[str, str], list[str]] = {}
        self.pair: dict[str, dict[str, dict[str, float]]] = {}
        self.count: dict[str, dict[str, float]] = {}

    def add(self, room: str, viewer: str, item: str) -> None:
        hist = self.seen.setdefault((room, viewer), [])
        pairs = self.pair.setdefault(room, {})
        for other in set(hist) - {item}:
            pairs.setdefault(item, {})[other] = pairs.get(item, {}).get(other, 0.0) + 1
            pairs.setdefault(other, {})[item] = pairs.get(other, {}).get(item, 0.0) + 1
        counts = self.count.setdefault(room, {})
        counts[item] = counts.get(item, 0.0) + 1
        hist.append(item)
        del hist[:-self.history]

    def top(self, room: str, viewer: str, k: int, fill: Sequence[str]) -> list[str]:
        hist = self.seen.get((room, viewer), [])
        pairs, counts = self.pair.get(room, {}), self.count.get(room, {})
        score: dict[str, float] = {}
        for i in set(hist):
            for j, c in pairs.get(i, {}).items():
                score[j] = score.get(j, 0.0) + c / math.sqrt(counts[i] * counts[j])
        ranked = sorted(score, key=lambda j: (-score[j], j))[:k]
        return ranked + [x for x in fill if x not in score][: k - len(ranked)]

"""Host dashboard: per-room event-time windows and the snapshot published every interval.

``DashboardState.step(event)`` folds one event in and returns the snapshots due: one for each
interval boundary (``interval_ms``) the event's time crossed, so a replay emits exactly the
snapshots the live run did. The state is plain data (``to_json``/``from_json``) for Redis.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any

from streams.catalog import RoomCatalog
from streams.records import Click, EnrichedComment, HostEvent, Presence, Purchase, RoomEvent

BUCKET_MS = 10_000  # sentiment/comment buckets: 10 s, kept for TREND_BUCKETS (5 min)
TREND_BUCKETS = 30
ACTIVE_MS = 300_000  # a viewer without presence events counts as watching for 5 min after their last event
QUESTION_TTL_MS = 600_000  # a question nobody repeats for 10 min leaves the open list
OPEN_QUESTIONS_MAX = 20
RECENT_COMMENTS_MAX = 20
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def question_key(text: str) -> str:
    """Normalise a question so repeats group together: case, spaces, punctuation and emoji removed."""
    return _PUNCT.sub("", text.lower())[:60]


@dataclass
class DashboardState:
    room_id: str
    interval_ms: int = 1_000
    next_emit: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # viewer -> ts of their last event
    present: dict[str, int] = field(default_factory=dict)  # viewer -> join ts, until they leave
    buckets: dict[str, list[int]] = field(default_factory=dict)  # bucket start -> [comments, pos, neu, neg]
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, list[float]] = field(default_factory=dict)  # item -> [clicks, purchases, units, gmv, mentions]
    clickers: dict[str, list[str]] = field(default_factory=dict)  # item -> viewers who clicked
    buyers: dict[str, list[str]] = field(default_factory=dict)  # item -> viewers who bought
    on_stage: str | None = None
    stage_ts: int = 0
    stage_base: list[float] = field(default_factory=list)  # item counters when it went on stage
    recent: list[dict[str, Any]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=lambda: {"comments": 0, "clicks": 0, "purchases": 0, "gmv": 0.0})
    max_ts: int = 0

    def __post_init__(self) -> None:
        # Membership sets beside the ``clickers``/``buyers`` lists (not serialised): a list scan per click was
        # O(viewers who clicked the item), 10,000+ in a peak room.
        self._members: dict[str, dict[str, set[str]]] = {"clickers": {}, "buyers": {}}

    def _add_unique(self, name: str, key: str, viewer: str) -> None:
        table: dict[str, list[str]] = getattr(self, name)
        vs = table.setdefault(key, [])
        members = self._members[name].get(key)
        if members is None:
            members = self._members[name][key] = set(vs)
        if viewer not in members:
            members.add(viewer)
            vs.append(viewer)

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data (shallow: serialise it before the next step)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DashboardState:
        return cls(**d)

    # -- folding events

    def step(self, ev: RoomEvent, catalog: RoomCatalog | None) -> list[dict[str, Any]]:
        """Fold ``ev`` in; return the snapshots whose boundary lies at or before ``ev.ts``."""
        out: list[dict[str, Any]] = []
        if self.next_emit == 0:
            self.next_emit = (ev.ts // self.interval_ms + 1) * self.interval_ms
        if ev.ts >= self.next_emit:
            # One snapshot per boundary crossed, taken before this event; a silent gap emits nothing more.
            out.append(self.snapshot(self.next_emit, catalog))
            self.next_emit = (ev.ts // self.interval_ms + 1) * self.interval_ms
        self._fold(ev)
        self.max_ts = max(self.max_ts, ev.ts)
        return out

    def _item(self, item_id: str) -> list[float]:
        return self.items.setdefault(item_id, [0.0, 0.0, 0.0, 0.0, 0.0])

    def _fold(self, ev: RoomEvent) -> None:
        viewer = getattr(ev, "viewer_id", None)
        if isinstance(ev, Presence):
            if ev.action == "join":
                self.present[ev.viewer_id] = ev.ts
            else:
                self.present.pop(ev.viewer_id, None)
                self.seen.pop(ev.viewer_id, None)
                return
        if viewer is not None:
            self.seen[viewer] = max(self.seen.get(viewer, 0), ev.ts)
        if isinstance(ev, Click):
            self._item(ev.item_id)[0] += 1
            self._add_unique("clickers", ev.item_id, ev.viewer_id)
            self.totals["clicks"] += 1
        elif isinstance(ev, Purchase):
            it = self._item(ev.item_id)
            it[1] += 1
            it[2] += ev.quantity
            it[3] += ev.amount
            self._add_unique("buyers", ev.item_id, ev.viewer_id)
            self.totals["purchases"] += 1
            self.totals["gmv"] += ev.amount
        elif isinstance(ev, HostEvent) and ev.action in ("on_stage", "off_stage"):
            if ev.action == "on_stage":
                assert ev.item_id is not None
                self.on_stage, self.stage_ts = ev.item_id, ev.ts
                self.stage_base = list(self._item(ev.item_id))
            elif self.on_stage == ev.item_id:
                self.on_stage = None
        elif isinstance(ev, EnrichedComment):
            self._comment(ev)

    def _comment(self, ev: EnrichedComment) -> None:
        self.totals["comments"] += 1
        start = str(ev.ts // BUCKET_MS * BUCKET_MS)
        b = self.buckets.setdefault(start, [0, 0, 0, 0])
        b[0] += 1
        b[{"pos": 1, "neu": 2, "neg": 3}[ev.sentiment]] += 1
        if len(self.buckets) > TREND_BUCKETS:
            for k in sorted(self.buckets, key=int)[:-TREND_BUCKETS]:
                del self.buckets[k]
        for item in ev.item_ids():
            self._item(item)[4] += 1
        if ev.is_question:
            key = question_key(ev.text) or ev.text
            q = self.questions.get(key)
            if q is None:
                q = self.questions[key] = {"text": ev.text[:120], "count": 0, "first_ts": ev.ts, "last_ts": ev.ts,
                                           "item_ids": [], "viewers": []}
            q["count"] += 1
            q["last_ts"] = max(q["last_ts"], ev.ts)
            q["item_ids"] = list(dict.fromkeys([*q["item_ids"], *ev.item_ids()]))
            if ev.viewer_id not in q["viewers"]:
                q["viewers"].append(ev.viewer_id)
        if ev.sentiment == "neg" or ev.is_question or len(self.recent) < RECENT_COMMENTS_MAX:
            self.recent.append({"ts": ev.ts, "viewer_id": ev.viewer_id, "text": ev.text[:200], "sentiment": ev.sentiment,
                                "is_question": ev.is_question, "item_ids": ev.item_ids()})
            del self.recent[:-RECENT_COMMENTS_MAX]

    # -- the snapshot

    def snapshot(self, at: int, catalog: RoomCatalog | None) -> dict[str, Any]:
        """The dashboard as of event time ``at`` (ms): what the host page shows."""
        active = len(set(self.present) | {v for v, t in self.seen.items() if at - t <= ACTIVE_MS})
        minute = [b for k, b in self.buckets.items() if at - 60_000 <= int(k) < at]
        trend = [
            {"t": int(k), "comments": b[0], "pos": b[1], "neu": b[2], "neg": b[3]}
            for k, b in sorted(self.buckets.items(), key=lambda kv: int(kv[0]))
            if int(k) < at
        ]
        mix = [sum(b[i] for b in minute) for i in (1, 2, 3)]
        n_mix = sum(mix)
        for key in [k for k, q in self.questions.items() if at - q["last_ts"] > QUESTION_TTL_MS]:
            del self.questions[key]
        open_q = sorted(self.questions.values(), key=lambda q: (-q["count"], -q["last_ts"]))[:OPEN_QUESTIONS_MAX]
        products: list[dict[str, Any]] = []
        for item, (clicks, purchases, units, gmv, mentions) in self.items.items():
            n_click = len(self.clickers.get(item, []))
            n_buy = len(self.buyers.get(item, []))
            title = catalog.products[item].title if catalog and item in catalog.products else item
            products.append({"item_id": item, "title": title, "clicks": int(clicks), "purchases": int(purchases),
                             "units": int(units), "gmv": round(gmv, 2), "mentions": int(mentions),
                             "conversion": round(n_buy / n_click, 4) if n_click else 0.0})
        products.sort(key=lambda r: (-(r["mentions"] + r["clicks"] + 3 * r["purchases"]), r["item_id"]))
        all_clickers = {v for vs in self.clickers.values() for v in vs}
        all_buyers = {v for vs in self.buyers.values() for v in vs}
        stage = None
        if self.on_stage is not None:
            now = self.items.get(self.on_stage, [0.0] * 5)
            base = self.stage_base or [0.0] * 5
            d = [a - b for a, b in zip(now, base, strict=True)]
            stage = {"item_id": self.on_stage, "since_ts": self.stage_ts, "seconds": max(0, at - self.stage_ts) // 1000,
                     "clicks": int(d[0]), "purchases": int(d[1]), "units": int(d[2]), "gmv": round(d[3], 2), "mentions": int(d[4]),
                     "title": catalog.products[self.on_stage].title if catalog and self.on_stage in catalog.products else self.on_stage}
        return {
            "room_id": self.room_id, "ts": at, "active_viewers": active,
            "comments_per_min": sum(b[0] for b in minute),
            "sentiment": {"pos": mix[0] / n_mix if n_mix else 0.0, "neu": mix[1] / n_mix if n_mix else 0.0,
                          "neg": mix[2] / n_mix if n_mix else 0.0, "n": n_mix},
            "sentiment_trend": trend,
            "hot_products": products[:10],
            "open_questions": [{k: q[k] for k in ("text", "count", "last_ts", "item_ids")} for q in open_q],
            "totals": {**{k: (round(v, 2) if k == "gmv" else int(v)) for k, v in self.totals.items()},
                       "conversion": round(len(all_buyers) / len(all_clickers), 4) if all_clickers else 0.0},
            "on_stage": stage,
            "recent_comments": list(self.recent[-10:]),
        }


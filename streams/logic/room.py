"""A room's dynamic state and how each event moves it: the representation update, pure and in memory.

``RoomState`` is columnar (numpy arrays indexed by item position) so ranking scores every item of
a room in a few vector operations. ``apply(room, event, params)`` mutates the room it owns and
returns what the event changed (``Effects``): dirty items and viewers to persist and the viewers
whose suggestions must be refreshed. Time is always the event's ``ts``, never the wall clock.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streams.catalog import RoomCatalog
from streams.errors import InvalidEvent
from streams.logic import decay, vectors
from streams.records import Click, EnrichedComment, HostEvent, Presence, Purchase, RoomEvent

# Decayed counters per item, in column order.
COUNTERS: tuple[str, ...] = ("clicks", "purchases", "mentions", "pos", "neg", "questions")
C = {name: i for i, name in enumerate(COUNTERS)}
# Lifetime totals per item, in column order.
TOTALS: tuple[str, ...] = ("n_clicks", "units", "gmv", "n_mentions", "n_purchases")
T = {name: i for i, name in enumerate(TOTALS)}
RECENT_MAX = 50  # pairs need every event inside the pair window: 50 covers a busy 10 min
QUESTIONS_MAX = 10


@dataclass(frozen=True)
class Params:
    """Decay and engagement weights (half-lives in seconds, as in Settings)."""

    half_life_s: float = 300.0
    viewer_half_life_s: float = 600.0
    room_refresh_ms: int = 2_000
    max_room_refresh_viewers: int = 200
    active_window_ms: int = 600_000  # a viewer silent for 10 min is no longer refreshed on room changes
    w_click: float = 1.0
    w_purchase: float = 3.0
    w_mention: float = 0.5
    pair_window_ms: int = 600_000

    def weight(self, kind: str) -> float:
        return {"click": self.w_click, "purchase": self.w_purchase}.get(kind, self.w_mention)

    @property
    def half_life_ms(self) -> float:
        return self.half_life_s * 1000.0

    @property
    def viewer_half_life_ms(self) -> float:
        return self.viewer_half_life_s * 1000.0


@dataclass
class ViewerState:
    viewer_id: str
    interest: NDArray[np.float32] = field(default_factory=lambda: np.zeros(vectors.DIM, np.float32))
    interest_t: int = 0
    recent: list[tuple[str, int, str]] = field(default_factory=list)  # (item_id, ts, click|purchase|mention)
    purchased: dict[str, int] = field(default_factory=dict)  # item_id -> ts of last purchase
    questions: list[tuple[int, list[str], str]] = field(default_factory=list)  # (ts, item_ids, text)
    last_ts: int = 0
    present: bool = True
    last_suggestion: dict[str, Any] = field(default_factory=dict)

    def categories(self, room: RoomState) -> set[str]:
        return {room.catalog.products[i].category for i, _, _ in self.recent if i in room.catalog.products}


@dataclass
class RoomMeta:
    on_stage: str | None = None
    stage_ts: int = 0
    shown_content: str | None = None
    shown_ts: int = 0
    last_room_refresh: int = 0
    pending_room_refresh: str | None = None  # reason of a throttled room-wide refresh
    max_ts: int = 0


@dataclass
class Effects:
    """What one event changed; the transport persists and publishes from this."""

    items: set[str] = field(default_factory=set)
    viewers: set[str] = field(default_factory=set)
    refresh: list[str] = field(default_factory=list)
    refresh_reason: str = ""
    meta: bool = False


class RoomState:
    """Dynamic item representations of one room plus its viewers' session state."""

    def __init__(self, catalog: RoomCatalog) -> None:
        self.room_id = catalog.room_id
        self.catalog = catalog
        self.item_ids: list[str] = list(catalog.products)
        self.index = {item: i for i, item in enumerate(self.item_ids)}
        self.content_ids: list[str] = list(catalog.contents)
        n, d = len(self.item_ids), vectors.DIM
        # Category codes and flags as arrays so ranking never loops over items in Python.
        self.categories: list[str] = sorted({p.category for p in catalog.products.values()})
        cat_code = {c: i for i, c in enumerate(self.categories)}
        self.category = np.array([cat_code[catalog.products[i].category] for i in self.item_ids], np.int64)
        self.repeatable = np.array([catalog.products[i].repeatable for i in self.item_ids], bool)
        self.static = vectors.encode([catalog.products[i].text() for i in self.item_ids]) if n else np.zeros((0, d), np.float32)
        self.content_static = (
            vectors.encode([catalog.contents[c].text() for c in self.content_ids])
            if self.content_ids
            else np.zeros((0, d), np.float32)
        )
        self.values = np.zeros((n, len(COUNTERS)), np.float64)
        self.t_refs = np.zeros((n, len(COUNTERS)), np.int64)
        self.ctx = np.zeros((n, d), np.float32)
        self.ctx_t = np.zeros(n, np.int64)
        self.ctx_norm = np.zeros(n, np.float64)  # |ctx| per row, kept by set_ctx
        self.ctx_static = np.zeros(n, np.float64)  # static · unit(ctx) per row, kept by set_ctx
        self.on_stage = np.zeros(n, bool)
        self.totals = np.zeros((n, len(TOTALS)), np.float64)
        # Rows any counter / the context has ever touched: per-event-time work (decay, context weights)
        # runs on these only; an untouched row's decayed counters are 0 and its dynamic vector is its
        # static one, so the result is the same as over all rows (a 10,000-item room where viewers
        # engage a few hundred items no longer pays for 10,000 exp2 per event). Derived, so
        # ``invalidate`` drops them too and the next read recomputes them.
        self._counted_rows: NDArray[np.intp] | None = None
        self._ctx_rows: NDArray[np.intp] | None = None
        self.category_rows: list[NDArray[np.intp]] = [np.flatnonzero(self.category == c) for c in range(len(self.categories))]
        self.viewers: dict[str, ViewerState] = {}
        self.active: dict[str, int] = {}  # viewer_id -> last event ts, present viewers only
        self.meta = RoomMeta()
        # Per-event-time caches for ranking (a room refresh ranks up to 200 viewers at one ts): the decayed
        # counter matrix and the context weights. ``invalidate`` drops them; every write path calls it.
        self._decayed: tuple[tuple[int, float], NDArray[np.float64]] | None = None
        self._ctx_weights: tuple[tuple[int, float], NDArray[np.float64], NDArray[np.float64]] | None = None
        self._signals: tuple[tuple[int, float], NDArray[np.float64], NDArray[np.float64]] | None = None

    def invalidate(self) -> None:
        """Forget cached derived arrays after ``values``/``t_refs``/``ctx`` change."""
        self._decayed = None
        self._signals = None
        self._ctx_weights = None
        self._counted_rows = None
        self._ctx_rows = None

    # -- reads

    def counter_at(self, name: str, ts: int, half_life_ms: float) -> NDArray[np.float64]:
        return self._decayed_at(ts, half_life_ms)[:, C[name]]

    def _decayed_at(self, ts: int, half_life_ms: float) -> NDArray[np.float64]:
        """Every counter decayed to ``ts`` (n, len(COUNTERS)), cached per ts, read-only."""
        key = (ts, half_life_ms)
        if self._decayed is None or self._decayed[0] != key:
            rows = self.counted_rows()
            decayed = np.zeros(self.values.shape, np.float64)
            decayed[rows] = decay.at_array(self.values[rows], self.t_refs[rows], ts, half_life_ms)
            decayed.flags.writeable = False  # shared by every caller at this ts
            self._decayed = (key, decayed)
        return self._decayed[1]

    def signals(self, ts: int, half_life_ms: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(trend, net sentiment) of every item at ``ts``, computed on counted rows (0 elsewhere), cached per ts.

        trend = log1p(clicks + purchases + mentions) / its room maximum; sentiment = (pos - neg) / (1 + pos + neg).
        """
        key = (ts, half_life_ms)
        if self._signals is None or self._signals[0] != key:
            d, rows, n = self._decayed_at(ts, half_life_ms), self.counted_rows(), len(self.item_ids)
            sig = np.log1p(d[rows, C["clicks"]] + d[rows, C["purchases"]] + d[rows, C["mentions"]])
            top = float(sig.max()) if len(rows) else 0.0
            if len(rows) < n:
                top = max(top, 0.0)
            trend, sentiment = np.zeros(n), np.zeros(n)
            trend[rows] = sig / top if top > 0 else sig
            pos, neg = d[rows, C["pos"]], d[rows, C["neg"]]
            sentiment[rows] = (pos - neg) / (1.0 + pos + neg)
            trend.flags.writeable = sentiment.flags.writeable = False
            self._signals = (key, trend, sentiment)
        return self._signals[1], self._signals[2]

    def item_row(self, item_id: str) -> int:
        try:
            return self.index[item_id]
        except KeyError:
            raise InvalidEvent(f"unknown item {item_id!r} in room {self.room_id!r}") from None

    def viewer(self, viewer_id: str) -> ViewerState:
        v = self.viewers.get(viewer_id)
        if v is None:
            v = self.viewers[viewer_id] = ViewerState(viewer_id)
        return v

    def similarity(self, u: NDArray[np.float32], ts: int, half_life_ms: float) -> NDArray[np.float64]:
        """cos(u, dynamic vector) for every item, where dynamic = unit(static + a·unit(ctx)).

        The context pulls an item's representation toward what the same viewers engage with now,
        by a = 0.5·tanh(|ctx| decayed to ``ts``), so an item with little recent engagement stays
        near its static text vector. Decay scales ctx without turning it, so with the cached
        |ctx| and static·unit(ctx) this is two mat-vecs and O(n) arithmetic (``u`` is a unit vector).
        """
        rows = self.ctx_rows()
        key = (ts, half_life_ms)
        if self._ctx_weights is None or self._ctx_weights[0] != key:
            norm = self.ctx_norm[rows]
            a = 0.5 * np.tanh(norm * np.exp2(-np.maximum(0, ts - self.ctx_t[rows]) / half_life_ms))
            self._ctx_weights = (key, a, np.sqrt(np.maximum(1e-12, 1.0 + a * a + 2.0 * a * self.ctx_static[rows])))
        _, a, denom = self._ctx_weights
        # Rows without context: a = 0 and denom = 1, so their similarity is static·u as it stands.
        sim = (self.static @ u).astype(np.float64)
        cu = (self.ctx[rows] @ u).astype(np.float64) / self.ctx_norm[rows]
        sim[rows] = (sim[rows] + a * cu) / denom
        return sim

    def counted_rows(self) -> NDArray[np.intp]:
        """Rows whose counters were ever written (the others are all zero)."""
        if self._counted_rows is None:
            self._counted_rows = np.flatnonzero(self.values.any(axis=1) | self.t_refs.any(axis=1))
        return self._counted_rows

    def ctx_rows(self) -> NDArray[np.intp]:
        """Rows with a non-zero context vector."""
        if self._ctx_rows is None:
            self._ctx_rows = np.flatnonzero(self.ctx_norm > 0)
        return self._ctx_rows

    def dynamic_vectors(self, ts: int, half_life_ms: float) -> NDArray[np.float32]:
        """The dynamic representation of every item (n, DIM), as :meth:`similarity` scores it."""
        a = (0.5 * np.tanh(self.ctx_norm * np.exp2(-np.maximum(0, ts - self.ctx_t) / half_life_ms)))[:, None]
        unit_ctx = np.divide(self.ctx, self.ctx_norm[:, None], out=np.zeros_like(self.ctx), where=self.ctx_norm[:, None] > 0)
        dyn = self.static + a * unit_ctx
        dn = np.linalg.norm(dyn, axis=1, keepdims=True)
        return np.divide(dyn, dn, out=np.zeros_like(dyn), where=dn > 0).astype(np.float32)

    def set_ctx(self, row: int, vec: NDArray[np.float32], t: int) -> None:
        """Write one item's context vector and refresh its cached norm and static·unit(ctx)."""
        self.ctx[row], self.ctx_t[row] = vec, t
        self._ctx_weights = None
        norm = float(np.linalg.norm(vec))
        if (norm > 0) != (self.ctx_norm[row] > 0):
            self._ctx_rows = None
        self.ctx_norm[row] = norm
        self.ctx_static[row] = float(self.static[row] @ vec) / norm if norm > 0 else 0.0

    # -- writes (used by apply and by the store when it loads persisted rows)

    def bump(self, row: int, name: str, weight: float, ts: int, half_life_ms: float) -> None:
        j = C[name]
        self._decayed = self._signals = None
        if not (self.values[row].any() or self.t_refs[row].any()):
            self._counted_rows = None  # a first write to this row
        self.values[row, j], self.t_refs[row, j] = decay.add(
            float(self.values[row, j]), int(self.t_refs[row, j]), weight, ts, half_life_ms
        )

    def touch_viewer(self, v: ViewerState, item_id: str, kind: str, ts: int, p: Params) -> list[str]:
        """Record that ``v`` engaged ``item_id``; returns the items whose context moved.

        Context is co-engagement: each pair of one viewer's events on two items less than
        ``pair_window_ms`` apart pulls each item's context toward the other's static vector, with
        weight sqrt(w1*w2) at the later event's time. The pair is counted when its second event is
        applied, whichever that is, so the result does not depend on processing order.
        """
        row = self.index[item_id]
        w = p.weight(kind)
        moved = []
        for other, t_other, k_other in v.recent:
            if other == item_id or other not in self.index or abs(t_other - ts) > p.pair_window_ms:
                continue
            orow, wp, t_pair = self.index[other], float(np.sqrt(w * p.weight(k_other))), max(ts, t_other)
            hl = p.half_life_ms
            self.set_ctx(row, *decay.add_vec(self.ctx[row], int(self.ctx_t[row]), wp, self.static[orow], t_pair, hl))
            self.set_ctx(orow, *decay.add_vec(self.ctx[orow], int(self.ctx_t[orow]), wp, self.static[row], t_pair, hl))
            moved.append(other)
        v.interest, v.interest_t = decay.add_vec(v.interest, v.interest_t, w, self.static[row], ts, p.viewer_half_life_ms)
        v.recent.append((item_id, ts, kind))
        v.recent.sort(key=lambda r: (r[1], r[0], r[2]))
        del v.recent[:-RECENT_MAX]
        return moved


def _seen_viewer(room: RoomState, viewer_id: str, ts: int, fx: Effects) -> ViewerState:
    v = room.viewer(viewer_id)
    v.last_ts = max(v.last_ts, ts)
    if v.present:
        room.active[viewer_id] = max(room.active.get(viewer_id, 0), ts)
    fx.viewers.add(viewer_id)
    return v


def apply(room: RoomState, ev: RoomEvent, p: Params) -> Effects:
    """Apply one decoded room event. Raises InvalidEvent for items the room's catalog lacks."""
    fx = Effects()
    if isinstance(ev, Click):
        row = room.item_row(ev.item_id)
        v = _seen_viewer(room, ev.viewer_id, ev.ts, fx)
        room.bump(row, "clicks", p.w_click, ev.ts, p.half_life_ms)
        room.totals[row, T["n_clicks"]] += 1
        fx.items.update(room.touch_viewer(v, ev.item_id, "click", ev.ts, p))
        fx.items.add(ev.item_id)
        fx.refresh = [ev.viewer_id]
    elif isinstance(ev, Purchase):
        row = room.item_row(ev.item_id)
        v = _seen_viewer(room, ev.viewer_id, ev.ts, fx)
        room.bump(row, "purchases", p.w_purchase * ev.quantity, ev.ts, p.half_life_ms)
        room.totals[row, T["units"]] += ev.quantity
        room.totals[row, T["n_purchases"]] += 1
        room.totals[row, T["gmv"]] += ev.amount
        fx.items.update(room.touch_viewer(v, ev.item_id, "purchase", ev.ts, p))
        v.purchased[ev.item_id] = max(v.purchased.get(ev.item_id, 0), ev.ts)
        fx.items.add(ev.item_id)
        fx.refresh = [ev.viewer_id]
    elif isinstance(ev, EnrichedComment):
        v = _seen_viewer(room, ev.viewer_id, ev.ts, fx)
        items = [i for i in ev.item_ids() if i in room.index]
        for item_id in items:
            row = room.index[item_id]
            room.bump(row, "mentions", 1.0, ev.ts, p.half_life_ms)
            room.totals[row, T["n_mentions"]] += 1
            if ev.sentiment in ("pos", "neg"):
                room.bump(row, ev.sentiment, ev.sentiment_score, ev.ts, p.half_life_ms)
            if ev.is_question:
                room.bump(row, "questions", 1.0, ev.ts, p.half_life_ms)
            fx.items.update(room.touch_viewer(v, item_id, "mention", ev.ts, p))
            fx.items.add(item_id)
        if ev.is_question:
            v.questions.append((ev.ts, items, ev.text[:80]))
            v.questions.sort(key=lambda q: q[0])
            del v.questions[:-QUESTIONS_MAX]
        fx.refresh = [ev.viewer_id]
    elif isinstance(ev, Presence):
        v = room.viewer(ev.viewer_id)
        fx.viewers.add(ev.viewer_id)
        if ev.action == "join":
            v.present = True
            v.last_ts = max(v.last_ts, ev.ts)
            room.active[ev.viewer_id] = max(room.active.get(ev.viewer_id, 0), ev.ts)
            fx.refresh = [ev.viewer_id]
        else:
            v.present = False
            room.active.pop(ev.viewer_id, None)
    elif isinstance(ev, HostEvent):
        _apply_host(room, ev, fx)
    room.meta.max_ts = max(room.meta.max_ts, ev.ts)
    _room_refresh(room, ev.ts, p, fx)
    return fx


def _apply_host(room: RoomState, ev: HostEvent, fx: Effects) -> None:
    fx.meta = True
    if ev.action == "show_content":
        assert ev.content_id is not None
        if ev.content_id not in room.catalog.contents:
            raise InvalidEvent(f"unknown content {ev.content_id!r} in room {room.room_id!r}")
        room.meta.shown_content, room.meta.shown_ts = ev.content_id, ev.ts
        room.meta.pending_room_refresh = "content_shown"
        return
    assert ev.item_id is not None
    row = room.item_row(ev.item_id)
    fx.items.add(ev.item_id)
    if ev.action == "on_stage":
        for other in np.flatnonzero(room.on_stage):
            fx.items.add(room.item_ids[int(other)])
        room.on_stage[:] = False
        room.on_stage[row] = True
        room.meta.on_stage, room.meta.stage_ts = ev.item_id, ev.ts
        room.meta.pending_room_refresh = "on_stage"
    else:
        room.on_stage[row] = False
        if room.meta.on_stage == ev.item_id:
            room.meta.on_stage = None
            room.meta.pending_room_refresh = "off_stage"


def _room_refresh(room: RoomState, ts: int, p: Params, fx: Effects) -> None:
    """Turn a pending room-level change into a refresh of the most recently active viewers (throttled)."""
    reason = room.meta.pending_room_refresh
    if reason is None or ts - room.meta.last_room_refresh < p.room_refresh_ms:
        return
    cutoff = ts - p.active_window_ms
    # nlargest = sorted(reverse=True)[:k] without sorting a 100,000-viewer room: O(n log k).
    active = heapq.nlargest(p.max_room_refresh_viewers, ((t, v) for v, t in room.active.items() if t >= cutoff))
    chosen = [v for _, v in active]
    fx.refresh = list(dict.fromkeys([*fx.refresh, *chosen]))
    fx.refresh_reason = reason
    fx.meta = True
    room.meta.pending_room_refresh = None
    room.meta.last_room_refresh = ts

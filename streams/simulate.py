"""Seeded, deterministic simulator of live-commerce rooms, and the JSONL event-log reader/writer.

A room is a discrete-event simulation in event time (no wall clock, no servers):

* **host**: products come on stage in link order (``slot`` 1, 2, ...) for 60-180 s each, with a
  5-20 s gap between; now and then the best seller so far returns (返场); during a segment the
  host may show a knowledge content related to the on-stage product.
* **audience**: ``viewers_per_room`` viewers are in the room near the start and newcomers arrive as
  a Poisson process at the rate that keeps the audience at that size; stays are log-normal.
  Each viewer has a latent taste (Dirichlet mixes over the room's categories and brands), a
  budget, an activity rate (gamma: most lurk, a few are very active) and a talkativeness.
* **actions**: a viewer acts as a Poisson process thinned by the room's heat (highest right after
  a product comes on stage). An action is a click (on-stage product strongly preferred, then
  taste and products shown recently) or a comment. A click converts to a purchase after a
  few seconds with a probability from taste, price vs budget and on-stage status; a purchase
  may be followed by "已拍". Comments are questions built from catalog slots, aliases and
  attributes, slang, opinions about items, and real review sentences from ``comments_real.txt``.

With the defaults the mix is about 60 % clicks, 28 % comments, 12 % purchases + presence + host,
and 8-10 % of clicks convert.
Every random draw comes from a ``random.Random`` seeded by (seed, room), so the same arguments
give byte-identical logs and a room's events do not depend on which other rooms are simulated.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams import simdata
from streams.catalog import Catalog, Content, Product, RoomCatalog
from streams.errors import CatalogError
from streams.eventlog import write_log

TOPIC_COMMENTS = "live.comments"
TOPIC_CLICKS = "live.clicks"
TOPIC_PURCHASES = "live.purchases"
TOPIC_HOST = "live.host"
TOPIC_CATALOG = "live.catalog"
TOPIC_PRESENCE = "live.presence"

DEFAULT_START_TS = 1_700_000_000_000

# Host schedule, seconds. Segment lengths are the brief's 60-180 s; the gap is the host's
# chatter between links; 返场 (an encore of the best seller) happens in ~1 of 7 segments.
STAGE_MIN_S, STAGE_MAX_S = 60.0, 180.0
GAP_MIN_S, GAP_MAX_S = 5.0, 20.0
FIRST_STAGE_S = (3.0, 10.0)
ENCORE_P = 0.15
CONTENT_SHOW_P = 0.75  # hosts lean on a tutorial or guide in most segments that have one
CONTENT_RECENT_S = 120.0  # viewers talk about a shown content for about two minutes

# Audience. A log-normal stay with median 240 s and sigma 0.8 has mean 240*e^0.32 = 330 s.
STAY_MEDIAN_S, STAY_SIGMA = 240.0, 0.8
STAY_MEAN_S = STAY_MEDIAN_S * math.exp(STAY_SIGMA**2 / 2)
INITIAL_JOIN_WINDOW_S = 45.0  # the opening audience trickles in over the first 45 s
TASTE_ALPHA = 0.4  # Dirichlet concentration < 1: most viewers care about one to three categories
BUDGET_MEDIAN, BUDGET_SIGMA = 150.0, 0.8  # yuan per purchase

# Activity: potential actions per second at heat 1, gamma-distributed over viewers
# (shape 0.6: a long tail of heavy commenters/clickers, most viewers quiet).
ACTIVITY_MEAN = 0.095
ACTIVITY_SHAPE = 0.6
ACTIVITY_CAP = 5.0  # at the default mean: at most one potential action every ~2 s
COMMENT_BETA = (2.0, 4.5)  # per-viewer P(action is a comment), mean 0.31: with "已拍" comments ~ 30 %

# Room heat multiplies the action rate: a fresh link draws a rush, the gap between links is quiet.
HEAT_RUSH, HEAT_STAGE, HEAT_GAP = 1.5, 1.0, 0.6
RUSH_S = 20.0
HEAT_MAX = HEAT_RUSH

# Click choice weights: the on-stage product dominates, recently shown products linger.
ON_STAGE_BOOST = 15.0
RECENT_BOOST = 4.0
RECENT_TAU_S = 90.0
POPULARITY_SIGMA = 0.5  # some products are hits: log-normal popularity per product

# Conversion: base P(purchase | click) before taste, price and stage factors; tuned so that
# ~8-10 % of clicks convert (live-commerce click-to-order rates are reported at 5-15 %).
BASE_CONVERSION = 0.075
ON_STAGE_CONVERSION = 1.6
BOUGHT_AGAIN = 0.05  # a non-repeatable product already bought is rarely bought again
PURCHASE_DELAY_MEDIAN_S, PURCHASE_DELAY_SIGMA = 15.0, 0.7
PURCHASE_DELAY_MIN_S, PURCHASE_DELAY_MAX_S = 3.0, 120.0
POST_PURCHASE_COMMENT_P = 0.4

# Measured with the defaults on the demo catalog (3 rooms x 200 viewers x 600 s, mean of seeds
# 1-5): viewer-driven events (clicks, comments, purchases) per viewer-second at ACTIVITY_MEAN once
# the whole audience is in (measured rate / 0.9625, the mean audience fraction of a 600 s show),
# and presence + host events per viewer-second. ``events_per_s`` scales activity from these.
ACTION_EVENTS_PER_VIEWER_S = 0.1096
FIXED_EVENTS_PER_VIEWER_S = 0.0079

# Heap entry kinds (ints keep tuples cheap; seq breaks ties so kinds never get compared).
_JOIN, _ARRIVE, _ACT, _PURCHASE, _POST, _LEAVE, _ON, _OFF, _SHOW = range(9)


@dataclass
class _Viewer:
    viewer_id: str
    join_ms: int
    leave_ms: int  # may lie past the end of the show: then no leave event is written
    rate: float  # potential actions per second at heat HEAT_MAX (before thinning)
    p_comment: float
    taste: list[float]  # per product, aligned with _Room.products
    budget: float
    clicked: dict[str, int] = field(default_factory=dict)  # item_id -> last click ts
    bought: set[str] = field(default_factory=set)


class _Room:
    """One room's discrete-event simulation; ``run`` yields its log lines in event-time order."""

    def __init__(
        self, room: RoomCatalog, *, seed: int, run_tag: str, start_ms: int, end_ms: int,
        viewers: int, activity_mean: float, real: tuple[tuple[str, ...], tuple[str, ...]],
    ) -> None:
        self.room = room
        self.rid = room.room_id
        # str seeds are hashed with SHA-512 by random.seed: stable across processes and platforms.
        self.rng = random.Random(f"livecart:{seed}:{self.rid}")
        self.run_tag = run_tag
        self.start_ms, self.end_ms = start_ms, end_ms
        self.n_viewers = viewers
        self.activity_mean = activity_mean
        self.real_pos, self.real_neg = real
        # Products in link order; products without a slot go last, by id, so order is total.
        self.products: list[Product] = sorted(
            room.products.values(), key=lambda p: (p.slot is None, p.slot or 0, p.item_id)
        )
        self.index = {p.item_id: i for i, p in enumerate(self.products)}
        self.contents: list[Content] = sorted(room.contents.values(), key=lambda c: c.content_id)
        self.categories = sorted({p.category for p in self.products})
        self.brands = sorted({p.brand for p in self.products})
        self.popularity = [self.rng.lognormvariate(0.0, POPULARITY_SIGMA) for _ in self.products]
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        self.event_seq = 0
        self.viewer_seq = 0
        # Host state.
        self.stage: Product | None = None
        self.stage_since = 0
        self.last_off: dict[str, int] = {}
        self.next_pos = 0
        self.shown: list[str] = []
        self.sales: Counter[str] = Counter()
        self.content: Content | None = None
        self.content_ms = 0

    # ---- scheduling ------------------------------------------------------------------------
    def push(self, ts: int, kind: int, arg: Any = None) -> None:
        if ts < self.end_ms:
            self.seq += 1
            heapq.heappush(self.heap, (ts, self.seq, kind, arg))

    def ms(self, seconds: float) -> int:
        return round(seconds * 1000)

    def emit(self, topic: str, ts: int, fields: dict[str, Any]) -> dict[str, Any]:
        self.event_seq += 1
        value = {"event_id": f"{self.rid}-{self.run_tag}-{self.event_seq:08d}", "ts": ts, "room_id": self.rid}
        value.update(fields)
        return {"topic": topic, "key": self.rid, "value": value}

    # ---- main loop ---------------------------------------------------------------------------
    def run(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        if self.products:
            self.push(self.start_ms + self.ms(rng.uniform(*FIRST_STAGE_S)), _ON)
        for _ in range(self.n_viewers):
            self.push(self.start_ms + self.ms(rng.uniform(0.0, INITIAL_JOIN_WINDOW_S)), _JOIN, True)
        if self.n_viewers:
            self.push(self.start_ms + self.ms(rng.expovariate(self.n_viewers / STAY_MEAN_S)), _ARRIVE)
        handlers: dict[int, Callable[[int, Any], Iterator[dict[str, Any]]]] = {
            _JOIN: self.on_join, _ARRIVE: self.on_arrive, _ACT: self.on_act, _PURCHASE: self.on_purchase,
            _POST: self.on_post_purchase, _LEAVE: self.on_leave, _ON: self.on_stage, _OFF: self.off_stage,
            _SHOW: self.on_show,
        }
        while self.heap:
            ts, _, kind, arg = heapq.heappop(self.heap)
            yield from handlers[kind](ts, arg)

    def heat(self, ts: int) -> float:
        if self.stage is None:
            return HEAT_GAP
        return HEAT_RUSH if ts - self.stage_since < self.ms(RUSH_S) else HEAT_STAGE

    # ---- audience ----------------------------------------------------------------------------
    def on_arrive(self, ts: int, _: None) -> Iterator[dict[str, Any]]:
        self.push(ts + max(1, self.ms(self.rng.expovariate(self.n_viewers / STAY_MEAN_S))), _ARRIVE)
        return self.on_join(ts, False)

    def on_join(self, ts: int, opening: bool) -> Iterator[dict[str, Any]]:
        rng = self.rng
        self.viewer_seq += 1
        cat_w = _dirichlet(rng, len(self.categories))
        brand_w = _dirichlet(rng, len(self.brands))
        cat_of = dict(zip(self.categories, cat_w, strict=True))
        brand_of = dict(zip(self.brands, brand_w, strict=True))
        # Scaled so a viewer indifferent to category and brand has taste 1 for every product.
        taste = [
            0.7 * cat_of[p.category] * len(self.categories) + 0.3 * brand_of[p.brand] * len(self.brands)
            for p in self.products
        ]
        if opening:
            # The opening audience stays the residual of a length-biased stay (log-normal with mu + sigma^2,
            # times U(0,1)), as if the room had been running: with arrivals at V / mean stay the audience
            # then stays near V all show instead of sagging as the opening cohort leaves together.
            stay = rng.random() * rng.lognormvariate(math.log(STAY_MEDIAN_S) + STAY_SIGMA**2, STAY_SIGMA)
        else:
            stay = rng.lognormvariate(math.log(STAY_MEDIAN_S), STAY_SIGMA)
        # Capped at ACTIVITY_CAP x the mean: the gamma tail would otherwise make a few bot-like viewers.
        activity = min(ACTIVITY_CAP * self.activity_mean, rng.gammavariate(ACTIVITY_SHAPE, self.activity_mean / ACTIVITY_SHAPE))
        v = _Viewer(
            viewer_id=f"{self.rid}-u{self.viewer_seq:05d}", join_ms=ts, leave_ms=ts + max(1, self.ms(stay)),
            rate=activity * HEAT_MAX, p_comment=rng.betavariate(*COMMENT_BETA), taste=taste,
            budget=rng.lognormvariate(math.log(BUDGET_MEDIAN), BUDGET_SIGMA),
        )
        self.schedule_act(v, ts)
        self.push(v.leave_ms, _LEAVE, v)
        yield self.emit(TOPIC_PRESENCE, ts, {"viewer_id": v.viewer_id, "action": "join"})

    def on_leave(self, ts: int, v: _Viewer) -> Iterator[dict[str, Any]]:
        yield self.emit(TOPIC_PRESENCE, ts, {"viewer_id": v.viewer_id, "action": "leave"})

    def schedule_act(self, v: _Viewer, ts: int) -> None:
        if v.rate > 0:
            nxt = ts + max(1, self.ms(self.rng.expovariate(v.rate)))
            if nxt < v.leave_ms:  # strictly before leaving: a viewer's last event precedes "leave"
                self.push(nxt, _ACT, v)

    def on_act(self, ts: int, v: _Viewer) -> Iterator[dict[str, Any]]:
        self.schedule_act(v, ts)
        rng = self.rng
        # Thinning: the process runs at the peak rate and keeps an action with P = heat / peak.
        if rng.random() * HEAT_MAX >= self.heat(ts):
            return
        if rng.random() < v.p_comment or not self.products:
            yield self.emit(TOPIC_COMMENTS, ts, {"viewer_id": v.viewer_id, "text": self.comment(v, ts)})
        else:
            yield from self.click(v, ts)

    # ---- clicks and purchases ----------------------------------------------------------------
    def click(self, v: _Viewer, ts: int) -> Iterator[dict[str, Any]]:
        rng = self.rng
        weights = []
        for i, p in enumerate(self.products):
            boost = 1.0
            if self.stage is not None and p.item_id == self.stage.item_id:
                boost += ON_STAGE_BOOST
            elif p.item_id in self.last_off:
                boost += RECENT_BOOST * math.exp(-(ts - self.last_off[p.item_id]) / (RECENT_TAU_S * 1000))
            weights.append(self.popularity[i] * (0.2 + v.taste[i]) * boost)
        i = rng.choices(range(len(self.products)), weights=weights)[0]
        p = self.products[i]
        v.clicked[p.item_id] = ts
        yield self.emit(TOPIC_CLICKS, ts, {"viewer_id": v.viewer_id, "item_id": p.item_id})
        conv = BASE_CONVERSION * min(2.5, 0.4 + 0.6 * v.taste[i])
        if self.stage is not None and p.item_id == self.stage.item_id:
            conv *= ON_STAGE_CONVERSION
        if p.price > 0:
            conv *= min(1.0, v.budget / p.price) ** 0.5
        if p.item_id in v.bought and not p.repeatable:
            conv *= BOUGHT_AGAIN
        if rng.random() < conv:
            delay = rng.lognormvariate(math.log(PURCHASE_DELAY_MEDIAN_S), PURCHASE_DELAY_SIGMA)
            at = ts + self.ms(min(PURCHASE_DELAY_MAX_S, max(PURCHASE_DELAY_MIN_S, delay)))
            if at < v.leave_ms:  # a viewer who leaves first abandons the cart
                self.push(at, _PURCHASE, (v, p))

    def on_purchase(self, ts: int, arg: tuple[_Viewer, Product]) -> Iterator[dict[str, Any]]:
        v, p = arg
        rng = self.rng
        if p.repeatable:
            qty = rng.choices((1, 2, 3), weights=(0.75, 0.18, 0.07))[0]
        else:
            qty = 2 if rng.random() < 0.03 else 1
        v.bought.add(p.item_id)
        self.sales[p.item_id] += qty
        yield self.emit(
            TOPIC_PURCHASES, ts,
            {"viewer_id": v.viewer_id, "item_id": p.item_id, "quantity": qty, "price": p.price},
        )
        if rng.random() < POST_PURCHASE_COMMENT_P:
            at = ts + self.ms(rng.uniform(2.0, 15.0))
            if at < v.leave_ms:
                self.push(at, _POST, (v, p, qty))

    def on_post_purchase(self, ts: int, arg: tuple[_Viewer, Product, int]) -> Iterator[dict[str, Any]]:
        v, p, qty = arg
        text = self.fill(self.rng.choice(simdata.POST_PURCHASE), p, n=qty)
        yield self.emit(TOPIC_COMMENTS, ts, {"viewer_id": v.viewer_id, "text": text})

    # ---- host --------------------------------------------------------------------------------
    def on_stage(self, ts: int, _: None) -> Iterator[dict[str, Any]]:
        rng = self.rng
        encore = [i for i, _n in self.sales.most_common(3) if i != (self.shown[-1] if self.shown else None)]
        if len(self.shown) >= 3 and encore and rng.random() < ENCORE_P:
            p = self.room.products[encore[0]]
        else:
            p = self.products[self.next_pos % len(self.products)]
            self.next_pos += 1
        self.stage, self.stage_since = p, ts
        self.shown.append(p.item_id)
        dur = rng.uniform(STAGE_MIN_S, STAGE_MAX_S)
        self.push(ts + self.ms(dur), _OFF, p)
        if rng.random() < CONTENT_SHOW_P:
            self.push(ts + self.ms(rng.uniform(15.0, dur - 5.0)), _SHOW, p)
        yield self.emit(TOPIC_HOST, ts, {"action": "on_stage", "item_id": p.item_id})

    def off_stage(self, ts: int, p: Product) -> Iterator[dict[str, Any]]:
        self.stage = None
        self.last_off[p.item_id] = ts
        self.push(ts + self.ms(self.rng.uniform(GAP_MIN_S, GAP_MAX_S)), _ON)
        yield self.emit(TOPIC_HOST, ts, {"action": "off_stage", "item_id": p.item_id})

    def on_show(self, ts: int, p: Product) -> Iterator[dict[str, Any]]:
        # Content tied to the product itself first, else to its category; none: the host skips it.
        related = [c for c in self.contents if p.item_id in c.related_items] or [
            c for c in self.contents if p.category in c.categories
        ]
        if not related:
            return
        self.content, self.content_ms = self.rng.choice(related), ts
        yield self.emit(TOPIC_HOST, ts, {"action": "show_content", "content_id": self.content.content_id})

    # ---- comments ----------------------------------------------------------------------------
    def comment(self, v: _Viewer, ts: int) -> str:
        rng = self.rng
        stage = self.stage
        options: list[tuple[str, float]] = [("general", 0.10), ("slang", 0.22), ("real", 0.15)]
        if stage is not None:
            options.append(("ask_stage", 0.30))
            if ts - self.stage_since < self.ms(RUSH_S):
                options.append(("reaction", 0.25))
        if v.clicked:
            options += [("ask_other", 0.08), ("opinion", 0.10)]
        if self.content is not None and ts - self.content_ms < self.ms(CONTENT_RECENT_S):
            options.append(("content", 0.08))
        kind = rng.choices([k for k, _ in options], weights=[w for _, w in options])[0]
        if kind == "ask_stage" and stage is not None:
            return self.question(stage)
        if kind == "reaction" and stage is not None:
            return self.fill(rng.choice(simdata.STAGE_REACTIONS), stage)
        if kind == "ask_other":
            return self.question(self.room.products[rng.choice(sorted(v.clicked))])
        if kind == "opinion":
            p = self.room.products[rng.choice(sorted(v.clicked))]
            praise = p.item_id in v.bought or rng.random() < 0.7
            return self.fill(rng.choice(simdata.ITEM_PRAISE if praise else simdata.ITEM_COMPLAINTS), p)
        if kind == "content" and self.content is not None:
            c = self.content
            pool = simdata.CONTENT_COMMENTS + (simdata.CONTENT_PAID if c.paid else simdata.CONTENT_FREE)
            return rng.choice(pool).format(content=c.title)
        if kind == "real" and (self.real_pos or self.real_neg):
            # Real reviews skew positive like the room does; ~30 % complaints.
            pool = self.real_pos if (rng.random() < 0.7 and self.real_pos) or not self.real_neg else self.real_neg
            return rng.choice(pool)
        if kind == "general":
            return rng.choice(simdata.GENERAL_QUESTIONS)
        return rng.choice(simdata.SLANG)

    def question(self, p: Product) -> str:
        rng = self.rng
        asked = [a for a in sorted(p.attributes) if a in simdata.ATTRIBUTE_QUESTIONS and p.attributes[a]]
        if asked and rng.random() < 0.6:
            attr = rng.choice(asked)
            return self.fill(rng.choice(simdata.ATTRIBUTE_QUESTIONS[attr]), p, attr=attr)
        return self.fill(rng.choice(simdata.ITEM_QUESTIONS), p)

    def fill(self, template: str, p: Product, *, attr: str | None = None, n: int = 1) -> str:
        """Render ``template`` for product ``p``; ``{slot}`` falls back to a name for slotless products."""
        rng = self.rng
        names = [a for a in p.aliases if not a.endswith("号")] or [p.title]
        alias = rng.choice(names)
        vals = p.attributes.get(attr, ()) if attr else tuple(x for vs in p.attributes.values() for x in vs)
        val = rng.choice(vals) if vals else ""
        if p.slot is None:
            template = template.replace("{slot}号链接", "{alias}").replace("{slot}号", "{alias}")
        text = template.format(
            slot=p.slot, alias=alias, title=p.title, brand=p.brand or p.title, cat=p.category, val=val, n=n
        )
        return text


def _dirichlet(rng: random.Random, k: int) -> list[float]:
    xs = [rng.gammavariate(TASTE_ALPHA, 1.0) for _ in range(k)]
    s = sum(xs) or 1.0
    return [x / s for x in xs]


def _run_tag(seed: int, start_ts: int, duration_s: float, viewers: int, events_per_s: float | None) -> str:
    """Six hex digits naming the run, so two different simulated logs never share an event_id."""
    raw = f"{seed}|{start_ts}|{duration_s!r}|{viewers}|{events_per_s!r}"
    return hashlib.sha1(raw.encode()).hexdigest()[:6]


def catalog_lines(catalog: Catalog, rooms: Sequence[str]) -> Iterator[dict[str, Any]]:
    """``live.catalog`` log lines for ``rooms``: key ``room_id:item_id`` / ``room_id:content_id``."""
    wanted = set(rooms)
    for entry in catalog.entries():
        if entry["room_id"] in wanted:
            ident = entry["item_id"] if entry["kind"] == "product" else entry["content_id"]
            yield {"topic": TOPIC_CATALOG, "key": f"{entry['room_id']}:{ident}", "value": entry}


def simulate(
    catalog: Catalog,
    *,
    seed: int,
    rooms: list[str] | None,
    duration_s: float,
    viewers_per_room: int,
    start_ts: int = DEFAULT_START_TS,
    events_per_s: float | None = None,
    real_comments: str | Path | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield log lines ``{"topic", "key", "value"}``: the rooms' catalog entries, then events in ts order.

    ``rooms``: room ids in the catalog (``None``: all, in catalog order). ``duration_s``: length of
    the show in event-time seconds from ``start_ts`` (epoch ms). ``viewers_per_room``: the audience
    size kept up by arrivals. ``events_per_s``: if given, the target mean total event rate over all
    rooms (events per event-time second), reached by scaling viewers' activity (within ~15 % for a
    show of a minute or more; presence and host events do not scale). ``real_comments``: the
    ``label<TAB>text`` file of real review sentences (default ``data/comments_real.txt``; a missing
    file means no real sentences). Events with equal ts keep room order. Arguments are checked
    when called, not when iterated: raises CatalogError for an unknown room, ValueError for a
    non-positive duration or rate or a negative audience.
    """
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0; got {duration_s!r}")
    if viewers_per_room < 0:
        raise ValueError(f"viewers_per_room must be >= 0; got {viewers_per_room!r}")
    if events_per_s is not None and not events_per_s > 0:
        raise ValueError(f"events_per_s must be > 0 when given; got {events_per_s!r}")
    room_ids = list(catalog.rooms) if rooms is None else list(rooms)
    missing = [r for r in room_ids if r not in catalog.rooms]
    if missing:
        raise CatalogError(f"rooms {missing} not in the catalog; it has {sorted(catalog.rooms)}")
    activity = ACTIVITY_MEAN
    if events_per_s is not None and viewers_per_room > 0 and room_ids:
        audience = viewers_per_room * len(room_ids)
        want_actions = events_per_s - FIXED_EVENTS_PER_VIEWER_S * audience
        # The opening audience trickles in over INITIAL_JOIN_WINDOW_S: its mean fraction over the show.
        w = INITIAL_JOIN_WINDOW_S
        present = 1 - w / (2 * duration_s) if duration_s >= w else duration_s / (2 * w)
        # Floor at 1 % of the default: a target below the presence traffic still simulates a show.
        activity = ACTIVITY_MEAN * max(0.01, want_actions / (ACTION_EVENTS_PER_VIEWER_S * audience * present))
    try:
        real = simdata.load_real_comments(real_comments or simdata.REAL_COMMENTS)
    except OSError:
        real = ((), ())
    tag = _run_tag(seed, start_ts, duration_s, viewers_per_room, events_per_s)
    end_ms = start_ts + round(duration_s * 1000)
    sims = [
        _Room(
            catalog.rooms[r], seed=seed, run_tag=tag, start_ms=start_ts, end_ms=end_ms,
            viewers=viewers_per_room, activity_mean=activity, real=real,
        ).run()
        for r in room_ids
    ]
    # heapq.merge is stable: equal timestamps come out in room order, so the merge is deterministic.
    return itertools.chain(catalog_lines(catalog, room_ids), heapq.merge(*sims, key=lambda line: line["value"]["ts"]))


def run_simulate(
    out: str,
    *,
    seed: int = 7,
    duration_s: float = 600,
    viewers_per_room: int = 200,
    rooms: list[str] | None = None,
    catalog_path: str | None = None,
    events_per_s: float | None = None,
) -> dict[str, int]:
    """Simulate a show and write it to ``out`` (JSONL, .gz compresses); returns counts per topic.

    ``catalog_path``: JSONL catalog (``None``: the demo catalog). Other arguments as ``simulate``.
    Raises CatalogError, ValueError, OSError.
    """
    catalog = Catalog.load(catalog_path)
    counts: Counter[str] = Counter()

    def counted() -> Iterator[dict[str, Any]]:
        for line in simulate(
            catalog, seed=seed, rooms=rooms, duration_s=duration_s,
            viewers_per_room=viewers_per_room, events_per_s=events_per_s,
        ):
            counts[line["topic"]] += 1
            yield line

    write_log(counted(), out, progress=True)
    return dict(sorted(counts.items()))


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m streams.simulate OUT [--seed ...]``: the same flags as ``run_simulate``."""
    ap = argparse.ArgumentParser(prog="python -m streams.simulate", description=main.__doc__)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--duration-s", type=float, default=600)
    ap.add_argument("--viewers-per-room", type=int, default=200)
    ap.add_argument("--rooms", nargs="*", default=None)
    ap.add_argument("--catalog-path", default=None)
    ap.add_argument("--events-per-s", type=float, default=None)
    a = ap.parse_args(argv)
    counts = run_simulate(
        a.out, seed=a.seed, duration_s=a.duration_s, viewers_per_room=a.viewers_per_room, rooms=a.rooms,
        catalog_path=a.catalog_path, events_per_s=a.events_per_s,
    )
    print(json.dumps(counts, ensure_ascii=False))


if __name__ == "__main__":
    main()

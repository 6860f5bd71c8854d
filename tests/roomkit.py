"""A small beauty-room catalog and event builders shared by the pure-logic tests."""

from __future__ import annotations

from itertools import count
from typing import Any

from streams.catalog import Catalog
from streams.records import Click, EnrichedComment, HostEvent, Mention, Presence, Purchase

ROOM = "beauty-test"
T0 = 1_700_000_000_000
_ids = count()

ENTRIES: list[dict[str, Any]] = [
    {"kind": "product", "room_id": ROOM, "item_id": "lip-3", "title": "丝绒雾面口红", "brand": "花西子", "category": "口红",
     "price": 129.0, "slot": 3, "attributes": {"色号": ["豆沙色", "正红色"]}, "aliases": ["豆沙色口红"], "complements": ["卸妆", "化妆刷"]},
    {"kind": "product", "room_id": ROOM, "item_id": "lip-4", "title": "水光唇釉 口红", "brand": "完美日记", "category": "口红",
     "price": 89.0, "slot": 4},
    {"kind": "product", "room_id": ROOM, "item_id": "remover-5", "title": "温和卸妆水", "brand": "贝德玛", "category": "卸妆",
     "price": 99.0, "slot": 5, "repeatable": True},
    {"kind": "product", "room_id": ROOM, "item_id": "brush-6", "title": "化妆刷套装", "brand": "沧州", "category": "化妆刷",
     "price": 59.0, "slot": 6},
    {"kind": "product", "room_id": ROOM, "item_id": "mask-7", "title": "补水面膜", "brand": "一叶子", "category": "面膜",
     "price": 79.0, "slot": 7, "repeatable": True},
    {"kind": "content", "room_id": ROOM, "content_id": "makeup-course", "title": "新手日常妆容教程", "content_kind": "course",
     "paid": False, "related_items": ["lip-3", "lip-4"], "categories": ["口红", "彩妆"]},
    {"kind": "content", "room_id": ROOM, "content_id": "skin-guide", "title": "敏感肌护肤指南", "content_kind": "guide",
     "paid": True, "price": 19.9, "related_items": ["mask-7"], "categories": ["面膜"]},
]


def catalog() -> Catalog:
    return Catalog.from_entries(ENTRIES)


def eid() -> str:
    return f"e{next(_ids)}"


def click(viewer: str, item: str, dt: int) -> Click:
    return Click(eid(), T0 + dt, ROOM, viewer, item)


def purchase(viewer: str, item: str, dt: int, qty: int = 1, price: float = 129.0) -> Purchase:
    return Purchase(eid(), T0 + dt, ROOM, viewer, item, qty, price)


def host(action: str, dt: int, item: str | None = None, content: str | None = None) -> HostEvent:
    return HostEvent(eid(), T0 + dt, ROOM, action, item, content)  # type: ignore[arg-type]


def join(viewer: str, dt: int) -> Presence:
    return Presence(eid(), T0 + dt, ROOM, viewer, "join")


def comment(viewer: str, text: str, dt: int, *, items: tuple[str, ...] = (), question: bool = False,
            sentiment: str = "neu", score: float = 0.9) -> EnrichedComment:
    ents = tuple(Mention(0, 1, "PRODUCT", text[:1], i) for i in items)
    return EnrichedComment(eid(), T0 + dt, ROOM, viewer, text, sentiment, score, question, ents, "test")

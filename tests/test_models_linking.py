"""Mention linking against a room catalog: pure tables, no model."""

from __future__ import annotations

import pytest

from models.linking import link, parse_number, slot_of
from models.serving import Entity
from streams.catalog import Catalog, RoomCatalog

ROOM = Catalog.from_entries([
    {"kind": "product", "room_id": "r", "item_id": "lip", "title": "雕花口红", "brand": "花西子", "category": "口红",
     "price": 169.0, "slot": 3, "attributes": {"色号": ["豆沙色", "正红色"]}, "aliases": ["口红", "3号"]},
    {"kind": "product", "room_id": "r", "item_id": "pow", "title": "气垫粉底", "brand": "花西子", "category": "粉底",
     "price": 199.0, "slot": 1, "attributes": {"色号": ["象牙白"]}, "aliases": ["气垫"]},
    {"kind": "product", "room_id": "r", "item_id": "tee", "title": "纯棉T恤", "brand": "棉小屋", "category": "服装",
     "price": 59.0, "slot": 12, "attributes": {"颜色": ["白色", "正红色"]}, "aliases": []},
]).rooms["r"]


def ent(text: str, sub: str, etype: str) -> Entity:
    s = text.index(sub)
    return Entity(s, s + len(sub), etype, sub)


@pytest.mark.parametrize(("s", "n"), [("3", 3), ("12", 12), ("三", 3), ("十二", 12), ("二十", 20), ("二十一", 21),
                                      ("两", 2), ("十", 10), ("３", 3), ("号", None), ("", None), ("十十", None)])
def test_parse_number(s: str, n: int | None) -> None:
    assert parse_number(s) == n


@pytest.mark.parametrize(("mention", "slot"), [("3号链接", 3), ("3号", 3), ("三号链接", 3), ("链接3", 3), ("#12", 12),
                                               ("十二号", 12), ("第3个链接", 3), ("12号宝贝", 12)])
def test_slot_of(mention: str, slot: int) -> None:
    assert slot_of(mention) == slot


@pytest.mark.parametrize(("text", "sub", "etype", "item"), [
    ("3号链接有没有豆沙色", "3号链接", "LINK", "lip"),
    ("三号链接还有吗", "三号链接", "LINK", "lip"),
    ("十二号多少钱", "十二号", "LINK", "tee"),
    ("9号链接呢", "9号链接", "LINK", None),  # no product in slot 9
    ("口红持久吗", "口红", "PRODUCT", "lip"),
    ("纯棉T恤会缩水吗", "纯棉T恤", "PRODUCT", "tee"),
    ("T恤有白色吗", "T恤", "PRODUCT", "tee"),  # contained in exactly one title
    ("棉小屋的质量怎么样", "棉小屋", "BRAND", "tee"),  # brand with one product
    ("花西子是正品吗", "花西子", "BRAND", None),  # brand with two products, nothing else mentioned
])
def test_link_single_mention(text: str, sub: str, etype: str, item: str | None) -> None:
    out = {(e.text, e.type): e.item_id for e in link(text, [ent(text, sub, etype)], ROOM)}
    assert out[(sub, etype)] == item


def test_attr_goes_to_the_product_in_the_comment_then_to_its_only_owner() -> None:
    text = "12号有正红色吗"
    out = link(text, [ent(text, "12号", "LINK"), ent(text, "正红色", "ATTR")], ROOM)
    assert [(e.text, e.item_id) for e in out] == [("12号", "tee"), ("正红色", "tee")]
    text2 = "豆沙色好看"
    assert link(text2, [ent(text2, "豆沙色", "ATTR")], ROOM)[0].item_id == "lip"
    text3 = "正红色还有吗"  # two products have it, none mentioned
    assert link(text3, [ent(text3, "正红色", "ATTR")], ROOM)[0].item_id is None


def test_brand_resolved_through_co_mentioned_product() -> None:
    text = "花西子的气垫好用吗"
    out = link(text, [ent(text, "花西子", "BRAND"), ent(text, "气垫", "PRODUCT")], ROOM)
    assert [(e.text, e.type, e.item_id) for e in out] == [("花西子", "BRAND", "pow"), ("气垫", "PRODUCT", "pow")]


def test_gazetteer_adds_missed_mentions_without_overlapping_model_entities() -> None:
    text = "3号链接的豆沙色和气垫"
    out = link(text, [ent(text, "豆沙色", "ATTR")], ROOM)
    assert [(e.start, e.end, e.type, e.item_id) for e in out] == [
        (0, 4, "LINK", "lip"), (5, 8, "ATTR", "lip"), (9, 11, "PRODUCT", "pow")]


def test_catalog_form_replaces_a_model_span_it_strictly_covers() -> None:
    text = "花西子的气垫好用吗"
    out = link(text, [Entity(0, 2, "BRAND", "花西"), ent(text, "气垫", "PRODUCT"), Entity(5, 8, "ATTR", "好用吗")], ROOM)
    assert [(e.text, e.type, e.item_id) for e in out] == [
        ("花西子", "BRAND", "pow"), ("气垫", "PRODUCT", "pow"), ("好用吗", "ATTR", "pow")]


def test_no_room_returns_entities_unchanged() -> None:
    e = (Entity(0, 2, "LINK", "3号"),)
    assert link("3号", e, None) == e


def test_empty_room_and_empty_text() -> None:
    assert link("", [], RoomCatalog("x")) == ()
    assert link("3号链接", [], RoomCatalog("x")) == ()


def _gazetteer_by_regex(text: str, room: RoomCatalog) -> list[Entity]:
    """The rule of ``linking._gazetteer`` spelled with one ``re.finditer`` per form (its first implementation)."""
    import re

    from models.linking import _LINK_RE

    found: list[Entity] = []
    taken = [False] * len(text)

    def claim(start: int, end: int, etype: str) -> None:
        if end > start and not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            found.append(Entity(start, end, etype, text[start:end]))

    for m in _LINK_RE.finditer(text):
        n = slot_of(m.group(0))
        if n is not None and room.by_slot(n) is not None:
            claim(m.start(), m.end(), "LINK")
    forms = [(s, t) for s, t, _ in room.names()]
    forms += [(v, "ATTR") for p in room.products.values() for vals in p.attributes.values() for v in vals]
    for s, t in sorted(forms, key=lambda f: -len(f[0])):
        if len(s) >= 2 and not _LINK_RE.fullmatch(s):
            for m in re.finditer(re.escape(s.lower()), text.lower()):
                claim(m.start(), m.end(), t)
    return found


def test_gazetteer_index_agrees_with_a_scan_per_form() -> None:
    """The indexed gazetteer finds exactly what a regex scan per form finds, on 2,000 seeded texts made of
    catalog forms, their fragments and filler (overlaps, repeats, case, slot mentions)."""
    import random

    from models.linking import _gazetteer

    pieces = [s for s, _, _ in ROOM.names()] + ["豆沙色", "正红色", "象牙白", "白色", "3号链接", "十二号", "#1",
                                                 "花西", "口", "红色", "有没有", "？", "T恤", "t恤", "色色", "aa"]
    rng = random.Random(20261201)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        assert _gazetteer(text, ROOM) == _gazetteer_by_regex(text, ROOM), text


def test_gazetteer_sees_catalog_upserts() -> None:
    cat = Catalog.from_entries([{"kind": "product", "room_id": "u", "item_id": "a", "title": "雕花口红", "brand": "花西子",
                                 "category": "口红", "price": 1.0, "slot": 1}])
    room = cat.rooms["u"]
    assert [e.text for e in link("想要雕花口红", [], room)] == ["雕花口红"]
    cat.upsert({"kind": "product", "room_id": "u", "item_id": "b", "title": "丝绒唇釉", "brand": "花西子",
                "category": "口红", "price": 2.0, "slot": 2})
    assert [(e.text, e.item_id) for e in link("丝绒唇釉几号", [], room)] == [("丝绒唇釉", "b")]

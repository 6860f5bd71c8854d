"""Room catalogs: products and knowledge content, loaded from JSONL or from catalog events.

JSONL schema, one object per line (``kind`` selects the entry type):

* product: ``{"kind": "product", "room_id", "item_id", "title", "brand", "category",
  "price" (yuan, float), "attributes": {name: [values]}, "slot" (int, the link number the host
  calls out), "aliases": [str], "repeatable": bool (consumables may be suggested again after a
  purchase), "complements": [category]}``
* content: ``{"kind": "content", "room_id", "content_id", "title", "content_kind":
  "course|article|video|guide", "paid": bool, "price", "related_items": [item_id],
  "categories": [category]}``
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from streams.errors import CatalogError

ContentKind = Literal["course", "article", "video", "guide"]
CONTENT_KINDS: tuple[str, ...] = ("course", "article", "video", "guide")
DEMO_CATALOG = Path(__file__).resolve().parent.parent / "data" / "demo_catalog.jsonl"


@dataclass(frozen=True)
class Product:
    room_id: str
    item_id: str
    title: str
    brand: str
    category: str
    price: float
    slot: int | None = None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    repeatable: bool = False
    complements: tuple[str, ...] = ()

    def text(self) -> str:
        """The text the static item vector is computed from."""
        attrs = " ".join(v for vals in self.attributes.values() for v in vals)
        return " ".join(p for p in (self.title, self.brand, self.category, attrs) if p)


@dataclass(frozen=True)
class Content:
    room_id: str
    content_id: str
    title: str
    content_kind: str
    paid: bool = False
    price: float = 0.0
    related_items: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def text(self) -> str:
        return " ".join((self.title, self.content_kind, *self.categories))


@dataclass
class RoomCatalog:
    """One room's products and knowledge content, with lookup tables for mention linking."""

    room_id: str
    products: dict[str, Product] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)

    def by_slot(self, slot: int) -> Product | None:
        for p in self.products.values():
            if p.slot == slot:
                return p
        return None

    def names(self) -> list[tuple[str, str, str]]:
        """(surface form, entity type, item_id) for titles, aliases and brands, longest first."""
        out: list[tuple[str, str, str]] = []
        for p in self.products.values():
            for s in (p.title, *p.aliases):
                if s:
                    out.append((s, "PRODUCT", p.item_id))
            if p.brand:
                out.append((p.brand, "BRAND", p.item_id))
        out.sort(key=lambda t: -len(t[0]))
        return out


class Catalog:
    """All rooms' catalogs. Entries are upserted; a later entry for the same id replaces the earlier."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomCatalog] = {}

    def room(self, room_id: str) -> RoomCatalog | None:
        return self.rooms.get(room_id)

    def upsert(self, entry: Mapping[str, Any]) -> Product | Content:
        """Add or replace one entry (a decoded JSON object). Raises CatalogError when invalid."""
        item = parse_entry(entry)
        room = self.rooms.setdefault(item.room_id, RoomCatalog(item.room_id))
        if isinstance(item, Product):
            room.products[item.item_id] = item
        else:
            room.contents[item.content_id] = item
        return item

    def __len__(self) -> int:
        return sum(len(r.products) + len(r.contents) for r in self.rooms.values())

    @classmethod
    def from_entries(cls, entries: Iterable[Mapping[str, Any]]) -> Catalog:
        cat = cls()
        for e in entries:
            cat.upsert(e)
        return cat

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """Load a JSONL (optionally .gz) catalog; ``None`` or ``""`` loads the shipped demo catalog."""
        p = Path(path) if path else DEMO_CATALOG
        return cls.from_entries(read_jsonl(p))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry as a JSON-ready dict (the inverse of ``upsert``)."""
        for room in self.rooms.values():
            for p in room.products.values():
                yield {
                    "kind": "product", "room_id": p.room_id, "item_id": p.item_id, "title": p.title,
                    "brand": p.brand, "category": p.category, "price": p.price, "slot": p.slot,
                    "attributes": {k: list(v) for k, v in p.attributes.items()}, "aliases": list(p.aliases),
                    "repeatable": p.repeatable, "complements": list(p.complements),
                }
            for c in room.contents.values():
                yield {
                    "kind": "content", "room_id": c.room_id, "content_id": c.content_id, "title": c.title,
                    "content_kind": c.content_kind, "paid": c.paid, "price": c.price,
                    "related_items": list(c.related_items), "categories": list(c.categories),
                }


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise CatalogError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc}") from exc


def _str(entry: Mapping[str, Any], key: str, required: bool = True) -> str:
    v = entry.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v):
        raise CatalogError(f"catalog entry field {key!r} must be a non-empty string; got {v!r}")
    return v


def _strs(entry: Mapping[str, Any], key: str) -> tuple[str, ...]:
    v = entry.get(key) or []
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise CatalogError(f"catalog entry field {key!r} must be a list of strings; got {v!r}")
    return tuple(v)


def _num(entry: Mapping[str, Any], key: str) -> float:
    v = entry.get(key, 0.0)
    if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
        raise CatalogError(f"catalog entry field {key!r} must be a non-negative number; got {v!r}")
    return float(v)


def parse_entry(entry: Mapping[str, Any]) -> Product | Content:
    """Validate one catalog entry. Raises CatalogError naming the bad field."""
    if not isinstance(entry, Mapping):
        raise CatalogError(f"catalog entry must be a JSON object; got {type(entry).__name__}")
    kind = entry.get("kind")
    if kind == "product":
        slot = entry.get("slot")
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int) or slot < 0):
            raise CatalogError(f"product 'slot' must be a non-negative int or null; got {slot!r}")
        attrs_raw = entry.get("attributes") or {}
        if not isinstance(attrs_raw, Mapping):
            raise CatalogError(f"product 'attributes' must be an object; got {attrs_raw!r}")
        attrs = {str(k): tuple(str(x) for x in (v if isinstance(v, list) else [v])) for k, v in attrs_raw.items()}
        return Product(
            room_id=_str(entry, "room_id"), item_id=_str(entry, "item_id"), title=_str(entry, "title"),
            brand=_str(entry, "brand", required=False), category=_str(entry, "category"),
            price=_num(entry, "price"), slot=slot, attributes=attrs, aliases=_strs(entry, "aliases"),
            repeatable=bool(entry.get("repeatable", False)), complements=_strs(entry, "complements"),
        )
    if kind == "content":
        ck = entry.get("content_kind")
        if ck not in CONTENT_KINDS:
            raise CatalogError(f"content 'content_kind' must be one of {CONTENT_KINDS}; got {ck!r}")
        return Content(
            room_id=_str(entry, "room_id"), content_id=_str(entry, "content_id"), title=_str(entry, "title"),
            content_kind=str(ck), paid=bool(entry.get("paid", False)), price=_num(entry, "price"),
            related_items=_strs(entry, "related_items"), categories=_strs(entry, "categories"),
        )
    raise CatalogError(f"catalog entry 'kind' must be 'product' or 'content'; got {kind!r}")

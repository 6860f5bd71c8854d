"""Typed events of every topic and their pure decoders: raw bytes in, a record or ``InvalidEvent`` out.

Decoding is explicit (not faust's value_type) so a bad value is dead-lettered with its reason
instead of being committed and dropped by faust's default error path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from streams.errors import InvalidEvent

MAX_ID_CHARS = 128
# Event times outside [2001-09-09, 2286-11-20] are certainly unit mistakes (seconds or µs instead of ms).
MIN_TS_MS = 1_000_000_000_000
MAX_TS_MS = 9_999_999_999_999

HostAction = Literal["on_stage", "off_stage", "show_content"]
PresenceAction = Literal["join", "leave"]


@dataclass(frozen=True)
class Comment:
    event_id: str
    ts: int
    room_id: str
    viewer_id: str
    text: str
    kind: Literal["comment"] = "comment"


@dataclass(frozen=True)
class Click:
    event_id: str
    ts: int
    room_id: str
    viewer_id: str
    item_id: str
    kind: Literal["click"] = "click"


@dataclass(frozen=True)
class Purchase:
    event_id: str
    ts: int
    room_id: str
    viewer_id: str
    item_id: str
    quantity: int = 1
    price: float = 0.0
    kind: Literal["purchase"] = "purchase"

    @property
    def amount(self) -> float:
        """Gross merchandise value of this purchase, yuan."""
        return self.quantity * self.price


@dataclass(frozen=True)
class HostEvent:
    event_id: str
    ts: int
    room_id: str
    action: HostAction
    item_id: str | None = None
    content_id: str | None = None
    kind: Literal["host"] = "host"


@dataclass(frozen=True)
class Presence:
    event_id: str
    ts: int
    room_id: str
    viewer_id: str
    action: PresenceAction
    kind: Literal["presence"] = "presence"


@dataclass(frozen=True)
class Mention:
    start: int
    end: int
    type: str
    text: str
    item_id: str | None = None


@dataclass(frozen=True)
class EnrichedComment:
    event_id: str
    ts: int
    room_id: str
    viewer_id: str
    text: str
    sentiment: str
    sentiment_score: float
    is_question: bool
    entities: tuple[Mention, ...] = ()
    model_version: str = ""
    kind: Literal["enriched"] = "enriched"

    def item_ids(self) -> list[str]:
        """Catalog items this comment mentions, in order, without repeats."""
        seen: dict[str, None] = {}
        for e in self.entities:
            if e.item_id:
                seen.setdefault(e.item_id)
        return list(seen)


ViewerEvent = Comment | Click | Purchase | Presence
RoomEvent = EnrichedComment | Click | Purchase | HostEvent | Presence
Event = Comment | Click | Purchase | HostEvent | Presence | EnrichedComment


# ---------------------------------------------------------------- decoding


def parse_json(raw: bytes | str | None, max_bytes: int = 65_536) -> dict[str, Any]:
    """Bytes -> JSON object. Raises InvalidEvent for empty, oversized, non-UTF-8 or non-object input."""
    if raw is None or len(raw) == 0:
        raise InvalidEvent("empty value; expected a JSON object")
    if len(raw) > max_bytes:
        raise InvalidEvent(f"value is {len(raw)} bytes; limit is {max_bytes}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"value is not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 4]!r})") from exc
    else:
        text = raw
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"value is not JSON: {exc.msg} at char {exc.pos}") from exc
    if not isinstance(obj, dict):
        raise InvalidEvent(f"value must be a JSON object; got {type(obj).__name__}")
    return obj


def _field(obj: Mapping[str, Any], name: str) -> Any:
    if name not in obj:
        raise InvalidEvent(f"field {name!r} missing; got keys {sorted(obj)[:12]}")
    return obj[name]


def _id(obj: Mapping[str, Any], name: str) -> str:
    v = _field(obj, name)
    if not isinstance(v, str) or not v.strip():
        raise InvalidEvent(f"field {name!r} must be a non-empty string; got {type(v).__name__} {_short(v)}")
    if len(v) > MAX_ID_CHARS:
        raise InvalidEvent(f"field {name!r} is {len(v)} chars; limit is {MAX_ID_CHARS}")
    if not v.isprintable():
        raise InvalidEvent(f"field {name!r} contains control characters")
    return v


def _opt_id(obj: Mapping[str, Any], name: str) -> str | None:
    return None if obj.get(name) is None else _id(obj, name)


def _ts(obj: Mapping[str, Any]) -> int:
    v = _field(obj, "ts")
    if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not math.isfinite(v)):
        raise InvalidEvent(f"field 'ts' must be epoch milliseconds (int); got {type(v).__name__} {_short(v)}")
    if not MIN_TS_MS <= v <= MAX_TS_MS:
        raise InvalidEvent(f"field 'ts' = {v} is not epoch milliseconds (expected {MIN_TS_MS}..{MAX_TS_MS})")
    return int(v)


def _text(obj: Mapping[str, Any], max_chars: int) -> str:
    v = _field(obj, "text")
    if not isinstance(v, str):
        raise InvalidEvent(f"field 'text' must be a string; got {type(v).__name__} {_short(v)}")
    if len(v) > max_chars:
        raise InvalidEvent(f"field 'text' is {len(v)} chars; limit is {max_chars}")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidEvent("field 'text' contains a lone surrogate (not encodable as UTF-8)") from exc
    return v


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def decode_comment(obj: Mapping[str, Any], max_text_chars: int = 2_000) -> Comment:
    return Comment(_id(obj, "event_id"), _ts(obj), _id(obj, "room_id"), _id(obj, "viewer_id"), _text(obj, max_text_chars))


def decode_click(obj: Mapping[str, Any], max_text_chars: int = 0) -> Click:
    return Click(_id(obj, "event_id"), _ts(obj), _id(obj, "room_id"), _id(obj, "viewer_id"), _id(obj, "item_id"))


def decode_purchase(obj: Mapping[str, Any], max_text_chars: int = 0) -> Purchase:
    qty = obj.get("quantity", 1)
    if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= 10_000:
        raise InvalidEvent(f"field 'quantity' must be an int in 1..10000; got {_short(qty)}")
    price = obj.get("price", 0.0)
    if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price) or price < 0:
        raise InvalidEvent(f"field 'price' must be a non-negative number (yuan); got {_short(price)}")
    return Purchase(
        _id(obj, "event_id"), _ts(obj), _id(obj, "room_id"), _id(obj, "viewer_id"), _id(obj, "item_id"), qty, float(price)
    )


def decode_host(obj: Mapping[str, Any], max_text_chars: int = 0) -> HostEvent:
    action = _field(obj, "action")
    if action not in ("on_stage", "off_stage", "show_content"):
        raise InvalidEvent(f"field 'action' must be on_stage, off_stage or show_content; got {_short(action)}")
    item_id, content_id = _opt_id(obj, "item_id"), _opt_id(obj, "content_id")
    if action in ("on_stage", "off_stage") and item_id is None:
        raise InvalidEvent(f"host action {action!r} needs 'item_id'")
    if action == "show_content" and content_id is None:
        raise InvalidEvent("host action 'show_content' needs 'content_id'")
    return HostEvent(_id(obj, "event_id"), _ts(obj), _id(obj, "room_id"), action, item_id, content_id)


def decode_presence(obj: Mapping[str, Any], max_text_chars: int = 0) -> Presence:
    action = _field(obj, "action")
    if action not in ("join", "leave"):
        raise InvalidEvent(f"field 'action' must be join or leave; got {_short(action)}")
    return Presence(_id(obj, "event_id"), _ts(obj), _id(obj, "room_id"), _id(obj, "viewer_id"), action)


def decode_enriched(obj: Mapping[str, Any], max_text_chars: int = 2_000) -> EnrichedComment:
    c = decode_comment(obj, max_text_chars)
    sentiment = _field(obj, "sentiment")
    if not isinstance(sentiment, Mapping) or sentiment.get("label") not in ("pos", "neg", "neu"):
        raise InvalidEvent(f"field 'sentiment' must be {{label: pos|neg|neu, score}}; got {_short(sentiment)}")
    ents_raw = obj.get("entities") or []
    if not isinstance(ents_raw, list):
        raise InvalidEvent(f"field 'entities' must be a list; got {_short(ents_raw)}")
    try:
        ents = tuple(
            Mention(int(e["start"]), int(e["end"]), str(e["type"]), str(e["text"]), e.get("item_id")) for e in ents_raw
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"field 'entities' has a malformed entry: {exc!r}") from exc
    return EnrichedComment(
        c.event_id, c.ts, c.room_id, c.viewer_id, c.text, sentiment["label"], float(sentiment.get("score", 0.0)),
        bool(obj.get("is_question", False)), ents, str(obj.get("model_version", "")),
    )


T = TypeVar("T")
DECODERS: dict[str, Callable[[Mapping[str, Any], int], Any]] = {
    "comment": decode_comment,
    "click": decode_click,
    "purchase": decode_purchase,
    "host": decode_host,
    "presence": decode_presence,
    "enriched": decode_enriched,
}


def decode(kind: str, raw: bytes | str | None, *, max_bytes: int = 65_536, max_text_chars: int = 2_000) -> Any:
    """Decode a raw value of event ``kind`` (a key of ``DECODERS``). Raises InvalidEvent."""
    try:
        decoder = DECODERS[kind]
    except KeyError:
        raise InvalidEvent(f"unknown event kind {kind!r}; expected one of {sorted(DECODERS)}") from None
    return decoder(parse_json(raw, max_bytes), max_text_chars)


def to_dict(record: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict in the wire layout (enriched comments nest sentiment)."""
    d = asdict(record)
    d.pop("kind", None)
    if isinstance(record, EnrichedComment):
        d["sentiment"] = {"label": d.pop("sentiment"), "score": d.pop("sentiment_score")}
        d["entities"] = [{k: v for k, v in e.items() if v is not None} for e in d["entities"]]
    return {k: v for k, v in d.items() if v is not None}


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON bytes, the wire codec of every livecart topic."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class DeadLetter:
    """A value that could not be processed, with where it came from and why."""

    reason: str
    topic: str
    partition: int | None
    offset: int | None
    raw: str  # base64 of the original bytes: they may not be UTF-8
    stage: str
    ts: int = 0
    key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

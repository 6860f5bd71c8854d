"""Record decoding: every malformed input gets InvalidEvent with a reason that says what and where."""

from __future__ import annotations

import json

import pytest

from streams.errors import InvalidEvent
from streams.records import Click, Comment, EnrichedComment, HostEvent, Purchase, decode, to_dict

TS = 1_700_000_000_000
CLICK = {"event_id": "e1", "ts": TS, "room_id": "r1", "viewer_id": "v1", "item_id": "i1"}


def raw(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def test_valid_events_decode() -> None:
    assert decode("click", raw(CLICK)) == Click("e1", TS, "r1", "v1", "i1")
    c = decode("comment", raw({**CLICK, "text": "3号链接有没有豆沙色"}))
    assert isinstance(c, Comment) and c.text == "3号链接有没有豆沙色"
    p = decode("purchase", raw({**CLICK, "quantity": 2, "price": 89.5}))
    assert isinstance(p, Purchase) and p.amount == 179.0
    h = decode("host", raw({"event_id": "h", "ts": TS, "room_id": "r1", "action": "on_stage", "item_id": "i1"}))
    assert isinstance(h, HostEvent) and h.action == "on_stage"


@pytest.mark.parametrize(
    ("kind", "value", "match"),
    [
        ("click", {k: v for k, v in CLICK.items() if k != "room_id"}, r"field 'room_id' missing; got keys \["),
        ("click", {**CLICK, "ts": "yesterday"}, r"field 'ts' must be epoch milliseconds \(int\); got str"),
        ("click", {**CLICK, "ts": 1_700_000_000}, r"not epoch milliseconds"),
        ("click", {**CLICK, "ts": True}, r"field 'ts' must be epoch milliseconds"),
        ("click", {**CLICK, "viewer_id": 42}, r"field 'viewer_id' must be a non-empty string; got int"),
        ("click", {**CLICK, "item_id": ""}, r"field 'item_id' must be a non-empty string"),
        ("click", {**CLICK, "item_id": "x" * 200}, r"field 'item_id' is 200 chars; limit is 128"),
        ("comment", {**CLICK, "text": "好" * 2001}, r"field 'text' is 2001 chars; limit is 2000"),
        ("comment", {**CLICK, "text": ["not", "text"]}, r"field 'text' must be a string; got list"),
        ("purchase", {**CLICK, "quantity": 0}, r"field 'quantity' must be an int in 1..10000"),
        ("purchase", {**CLICK, "price": -1}, r"field 'price' must be a non-negative number"),
        ("host", {"event_id": "h", "ts": TS, "room_id": "r", "action": "dance"}, r"field 'action' must be on_stage"),
        ("host", {"event_id": "h", "ts": TS, "room_id": "r", "action": "on_stage"}, r"needs 'item_id'"),
        ("presence", {**CLICK, "action": "wave"}, r"field 'action' must be join or leave"),
        ("teleport", CLICK, r"unknown event kind 'teleport'"),
    ],
)
def test_invalid_fields(kind: str, value: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidEvent, match=match):
        decode(kind, raw(value))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", r"empty value"),
        (b"{not json", r"value is not JSON"),
        (b"[1, 2]", r"must be a JSON object; got list"),
        (b'{"text": "\xff\xfe"}', r"not valid UTF-8 \(byte"),
        (b"{" + b" " * 70_000 + b"}", r"bytes; limit is 65536"),
    ],
)
def test_invalid_payloads(payload: bytes, match: str) -> None:
    with pytest.raises(InvalidEvent, match=match):
        decode("click", payload)


def test_lone_surrogate_in_text_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="lone surrogate"):
        decode("comment", json.dumps({**CLICK, "text": "\ud800"}).encode())


def test_enriched_round_trip() -> None:
    value = {**CLICK, "text": "3号链接有没有豆沙色", "sentiment": {"label": "neu", "score": 0.9}, "is_question": True,
             "entities": [{"start": 0, "end": 4, "type": "LINK", "text": "3号链接", "item_id": "i1"}], "model_version": "m"}
    e = decode("enriched", raw(value))
    assert isinstance(e, EnrichedComment) and e.item_ids() == ["i1"] and e.is_question
    d = to_dict(e)
    assert decode("enriched", raw(d)) == e
    assert d["sentiment"] == {"label": "neu", "score": 0.9}

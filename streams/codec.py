"""Encoding of room state for a key-value store: numbers as text, vectors as float32 bytes, lists as JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from streams.logic.room import COUNTERS, TOTALS, RoomMeta, RoomState, ViewerState

Hash = dict[str, bytes]


def _b(v: object) -> bytes:
    return repr(v).encode() if isinstance(v, float) else str(v).encode()


def _j(v: object) -> bytes:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")).encode()


def encode_item(room: RoomState, row: int) -> Hash:
    """One item's dynamic state: ``<counter>``/``<counter>_t`` pairs, totals, ``ctx`` (float32 bytes)."""
    h: Hash = {}
    for j, name in enumerate(COUNTERS):
        h[name] = _b(float(room.values[row, j]))
        h[f"{name}_t"] = _b(int(room.t_refs[row, j]))
    for j, name in enumerate(TOTALS):
        h[name] = _b(float(room.totals[row, j]))
    h["ctx"] = room.ctx[row].astype("<f4").tobytes()
    h["ctx_t"] = _b(int(room.ctx_t[row]))
    h["on_stage"] = b"1" if room.on_stage[row] else b"0"
    return h


def decode_item(room: RoomState, row: int, h: dict[bytes, bytes] | dict[str, bytes]) -> None:
    g = {(k.decode() if isinstance(k, bytes) else k): v for k, v in h.items()}
    for j, name in enumerate(COUNTERS):
        room.values[row, j] = float(g.get(name, b"0"))
        room.t_refs[row, j] = int(g.get(f"{name}_t", b"0"))
    for j, name in enumerate(TOTALS):
        room.totals[row, j] = float(g.get(name, b"0"))
    if "ctx" in g and len(g["ctx"]) == room.ctx.shape[1] * 4:
        room.set_ctx(row, np.frombuffer(g["ctx"], dtype="<f4").copy(), int(g.get("ctx_t", b"0")))
    room.on_stage[row] = g.get("on_stage", b"0") == b"1"
    room.invalidate()


def encode_viewer(v: ViewerState) -> Hash:
    return {
        "interest": v.interest.astype("<f4").tobytes(),
        "interest_t": _b(v.interest_t),
        "recent": _j(v.recent),
        "purchased": _j(v.purchased),
        "questions": _j(v.questions),
        "last_ts": _b(v.last_ts),
        "present": b"1" if v.present else b"0",
        "last_suggestion": _j(v.last_suggestion),
    }


def decode_viewer(viewer_id: str, h: dict[bytes, bytes] | dict[str, bytes], dim: int) -> ViewerState:
    g = {(k.decode() if isinstance(k, bytes) else k): v for k, v in h.items()}
    v = ViewerState(viewer_id)
    if len(g.get("interest", b"")) == dim * 4:
        v.interest = np.frombuffer(g["interest"], dtype="<f4").copy()
    v.interest_t = int(g.get("interest_t", b"0"))
    v.recent = [tuple(r) for r in json.loads(g.get("recent", b"[]"))]  # type: ignore[misc]
    v.purchased = json.loads(g.get("purchased", b"{}"))
    v.questions = [tuple(q) for q in json.loads(g.get("questions", b"[]"))]  # type: ignore[misc]
    v.last_ts = int(g.get("last_ts", b"0"))
    v.present = g.get("present", b"1") == b"1"
    v.last_suggestion = json.loads(g.get("last_suggestion", b"{}"))
    return v


def encode_meta(m: RoomMeta) -> Hash:
    return {"state": _j(m.__dict__)}


def decode_meta(h: dict[bytes, bytes] | dict[str, bytes]) -> RoomMeta:
    g = {(k.decode() if isinstance(k, bytes) else k): v for k, v in h.items()}
    raw: dict[str, Any] = json.loads(g["state"]) if "state" in g else {}
    return RoomMeta(**raw)

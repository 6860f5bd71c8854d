"""Compare two dumps of livecart's Redis state, on what must not depend on processing order or worker count.

Decayed counters and vectors are order-independent up to float rounding (streams/logic/decay.py), so
they compare with tolerances; scheduling fields (refresh throttle, the last suggestion a viewer got
mid-stream, dashboard snapshot timing) legitimately depend on interleaving across topics and are left out.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

ORDER_FREE_META = ("on_stage", "shown_content", "shown_ts", "max_ts")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def normalise(dump: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Strip the key prefix and keep the order-independent part of each value."""
    out: dict[str, Any] = {}
    for key, val in dump.items():
        k = key[len(prefix):]
        if ":item:" in k:
            h = {_s(a): b for a, b in val.items()}
            out[k] = {f: (np.frombuffer(v, "<f4") if f == "ctx" else float(v)) for f, v in h.items()}
        elif ":viewer:" in k:
            h = {_s(a): b for a, b in val.items()}
            out[k] = {"interest": np.frombuffer(h["interest"], "<f4"), "recent": json.loads(h["recent"]),
                      "purchased": json.loads(h["purchased"]), "questions": json.loads(h["questions"]),
                      "present": h["present"]}
        elif k.endswith(":meta"):
            h = {_s(a): b for a, b in val.items()}
            state = json.loads(h["state"])
            out[k] = {f: state[f] for f in ORDER_FREE_META}
        elif k.endswith(":active"):
            out[k] = {_s(m): s for m, s in val.items()}
        elif k.endswith(":dashboard"):
            d = json.loads(val)
            out[k] = {"totals": d["totals"], "items": d["items"], "questions": {q: v["count"] for q, v in d["questions"].items()}}
        elif ":seen:" in k:
            out[k] = True
    return out


def assert_close_vectors(x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Element-wise within 1e-4 relative plus 1e-6 of the vector's length.

    Context vectors reach norms of several hundred, summed in float32 in a different order per run; an
    element near zero then differs by ~1e-5 absolute (seen: 1.65e-5 at norm ~250) although the vectors
    agree to 1e-7 of their length, so a fixed absolute tolerance would reject equal states.
    """
    assert x.shape == y.shape, f"{what}: shape {x.shape} != {y.shape}"
    scale = max(1.0, float(np.linalg.norm(x)))
    bad = np.abs(x - y) > 1e-4 * np.abs(x) + 1e-6 * scale
    assert not bad.any(), f"{what}: {int(bad.sum())} elements differ, max {float(np.abs(x - y).max()):.3g} at norm {scale:.3g}"


def assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert sorted(a) == sorted(b), f"key sets differ: only left {sorted(set(a) - set(b))[:5]}, only right {sorted(set(b) - set(a))[:5]}"
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict) and any(isinstance(v, np.ndarray | float) for v in x.values()):
            assert x.keys() == y.keys(), k
            for f in x:
                if isinstance(x[f], np.ndarray):
                    assert_close_vectors(x[f], y[f], f"{k}.{f}")
                elif isinstance(x[f], float):
                    assert abs(x[f] - y[f]) <= 1e-6 * max(1.0, abs(x[f])), f"{k}.{f}: {x[f]} != {y[f]}"
                else:
                    assert x[f] == y[f], f"{k}.{f}: {x[f]!r} != {y[f]!r}"
        else:
            assert x == y, f"{k}: {x!r} != {y!r}"


def _numbers_close(x: Any, y: Any, path: str, bad: list[str]) -> None:
    """Walk two JSON values; numbers (not bools) within 1e-3 absolute, everything else exactly equal."""
    if isinstance(x, dict) and isinstance(y, dict):
        if x.keys() != y.keys():
            bad.append(f"{path}: keys {sorted(x)} != {sorted(y)}")
            return
        for f in x:
            _numbers_close(x[f], y[f], f"{path}.{f}", bad)
    elif isinstance(x, list | tuple) and isinstance(y, list | tuple):
        if len(x) != len(y):
            bad.append(f"{path}: {len(x)} entries != {len(y)}")
            return
        for i, (a, b) in enumerate(zip(x, y, strict=True)):
            _numbers_close(a, b, f"{path}[{i}]", bad)
    elif isinstance(x, int | float) and isinstance(y, int | float) and not isinstance(x, bool) and not isinstance(y, bool):
        if abs(x - y) > 1e-3:
            bad.append(f"{path}: {x} != {y}")
    elif x != y:
        bad.append(f"{path}: {x!r} != {y!r}")


def assert_same_suggestions(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """The same viewers, the same ids in the same order with the same reason codes; scores and weights within 1e-3.

    Published scores and weights are rounded to 4 decimals from float32 sums (vectors are float32 in Redis,
    design.md); two arrival orders of the same events differ by ~1e-7 of a vector's length, which can move
    the 4th decimal, so exact equality of those decimals is not a property the system has. Ids, their order
    and the reasons' codes and details are compared exactly.
    """
    bad: list[str] = []
    for v in sorted(set(got) | set(expected)):
        if v not in got or v not in expected:
            bad.append(f"{v}: only in {'kafka' if v in got else 'embedded'}")
        else:
            _numbers_close(got[v], expected[v], v, bad)
    assert not bad, f"{len(bad)} differences: " + "; ".join(bad[:20])

"""Event-time exponential decay with a commutative update rule.

A decayed quantity is stored as ``(value, t_ref)``: its value at event time ``t_ref`` (ms). Adding
weight ``w`` at time ``t`` keeps ``value * 2**(t_ref / h)`` a plain sum of ``w_i * 2**(t_i / h)``,
so the final state does not depend on the order the events arrive in (out-of-order events,
redelivery after a rebalance, two workers): only on the set of events. ``t_ref`` is the latest
event time seen, so values never grow without bound.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def factor(dt_ms: float, half_life_ms: float) -> float:
    """Decay multiplier after ``dt_ms`` milliseconds: 2 ** (-dt / half_life)."""
    return float(2.0 ** (-dt_ms / half_life_ms))


def add(value: float, t_ref: int, weight: float, ts: int, half_life_ms: float) -> tuple[float, int]:
    """Add ``weight`` at event time ``ts`` to a decayed value held at ``t_ref``; returns (value, t_ref)."""
    if ts >= t_ref:
        return value * factor(ts - t_ref, half_life_ms) + weight, ts
    return value + weight * factor(t_ref - ts, half_life_ms), t_ref


def at(value: float, t_ref: int, ts: int, half_life_ms: float) -> float:
    """The decayed value read at time ``ts`` (values are not extrapolated backwards past ``t_ref``)."""
    return value * factor(max(0, ts - t_ref), half_life_ms)


def add_vec(
    vec: NDArray[np.float32], t_ref: int, weight: float, x: NDArray[np.float32], ts: int, half_life_ms: float
) -> tuple[NDArray[np.float32], int]:
    """Vector form of :func:`add`; arrays stay float32 (their Redis encoding)."""
    if ts >= t_ref:
        out = vec * np.float32(factor(ts - t_ref, half_life_ms)) + np.float32(weight) * x
        return out.astype(np.float32, copy=False), ts
    out = vec + np.float32(weight * factor(t_ref - ts, half_life_ms)) * x
    return out.astype(np.float32, copy=False), t_ref


def at_array(values: NDArray[np.float64], t_refs: NDArray[np.int64], ts: int, half_life_ms: float) -> NDArray[np.float64]:
    """Vectorised :func:`at` over many items."""
    dt = np.maximum(0, ts - t_refs).astype(np.float64)
    return values * np.exp2(-dt / half_life_ms)

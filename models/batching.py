"""Length-bucketed batches and padding of token-id sequences (training side: the supervised loops and MLM)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch


def batches(lengths: Sequence[int], batch: int, rng: random.Random) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort chunks of 50 batches by length, shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    out: list[list[int]] = []
    chunk = batch * 50
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c:c + chunk], key=lambda i: lengths[i])
        out.extend(part[j:j + batch] for j in range(0, len(part), batch))
    rng.shuffle(out)
    return out


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    n = max(len(s) for s in seqs)
    return torch.tensor([list(s) + [value] * (n - len(s)) for s in seqs], dtype=torch.long)

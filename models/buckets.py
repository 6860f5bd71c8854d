"""Serving-side length bucketing (numpy only): how to cut one micro-batch of comments into padded runs.

A run of the graphs costs about ``overhead + rows x longest`` padded tokens: every row is padded to the
run's longest text, and each run has a fixed cost (session call, small kernels, feature building). Live
comments are short with a long tail (demo log: median 8 tokens, 90th percentile 16, max 42), so one
64-row run pads to the tail and computes mostly padding (28 % of a random 64-comment batch's padded tokens
are real). ``length_buckets`` cuts the length-sorted batch into contiguous runs that minimise the total
cost exactly (dynamic programming over cut points, O(n x max_batch)). ``lane_plan`` first deals the
sorted batch out to the lanes that ``CommentModel.predict`` runs concurrently, then cuts each lane's share.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# fixed cost of one run of both graphs in padded-token equivalents: graph time ~ 2-4 ms + 0.025 ms per padded
# token (both INT8 graphs, 2 threads, batch 1-64 x 8-48 tokens, 2026-12-03), i.e. ~100-160 tokens
RUN_OVERHEAD_TOKENS = 128


def run_cost(lengths: Sequence[int], cuts: Sequence[tuple[int, int]], overhead: int = RUN_OVERHEAD_TOKENS) -> int:
    """Padded-token cost of running ascending ``lengths`` as the runs ``cuts`` ([start, end) pairs)."""
    return sum(overhead + (e - s) * int(lengths[e - 1]) for s, e in cuts)


def length_buckets(lengths: Sequence[int], max_batch: int, overhead: int = RUN_OVERHEAD_TOKENS) -> list[tuple[int, int]]:
    """[start, end) runs over ascending ``lengths`` of at most ``max_batch`` rows each, minimising
    ``run_cost`` (sum of overhead + rows x the run's longest length)."""
    if max_batch < 1:
        raise ValueError("max_batch must be >= 1")
    n = len(lengths)
    if n == 0:
        return []
    lens = np.asarray(lengths, dtype=np.int64)
    if np.any(np.diff(lens) < 0):
        raise ValueError("lengths must be sorted ascending")
    best = np.zeros(n + 1, dtype=np.int64)
    cut = np.zeros(n + 1, dtype=np.int64)
    for i in range(1, n + 1):
        j0 = max(0, i - max_batch)
        starts = np.arange(j0, i)
        cost = best[j0:i] + overhead + (i - starts) * lens[i - 1]
        k = int(np.argmin(cost))
        best[i], cut[i] = cost[k], j0 + k
    out: list[tuple[int, int]] = []
    i = n
    while i > 0:
        out.append((int(cut[i]), i))
        i = int(cut[i])
    return out[::-1]


def lane_plan(lengths: Sequence[int], max_batch: int, lanes: int = 1) -> list[list[list[int]]]:
    """Per lane, the padded runs (lists of indices into ``lengths``) it executes: the indices with
    length > 2 (more than [CLS] [SEP]), ascending by length, dealt out round robin to ``lanes`` lanes
    (each lane gets the same mix of lengths), each lane's share cut by ``length_buckets``. Lanes with
    nothing to do are left out."""
    order = sorted((i for i, n in enumerate(lengths) if n > 2), key=lambda i: lengths[i])
    lanes = max(1, lanes)
    plan = []
    for lane in range(lanes):
        mine = order[lane::lanes]
        if mine:
            plan.append([mine[a:b] for a, b in length_buckets([lengths[i] for i in mine], max_batch)])
    return plan

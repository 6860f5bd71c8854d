"""Length bucketing of one serving batch: exact minimum padded-token cost, limits, and order kept."""

from __future__ import annotations

import itertools
import random

import pytest

from models.buckets import lane_plan, length_buckets, run_cost
from models.serving import CommentModel


def all_partitions(n: int, max_batch: int) -> list[list[tuple[int, int]]]:
    out = []
    for mask in itertools.product([False, True], repeat=n - 1):
        edges = [0] + [i + 1 for i, cut in enumerate(mask) if cut] + [n]
        runs = list(itertools.pairwise(edges))
        if all(e - s <= max_batch for s, e in runs):
            out.append(runs)
    return out


@pytest.mark.parametrize("seed", range(30))
def test_buckets_reach_the_brute_force_minimum(seed: int) -> None:
    rng = random.Random(seed)
    n, max_batch, overhead = rng.randint(1, 9), rng.randint(1, 6), rng.choice([0, 5, 40, 128])
    lengths = sorted(rng.randint(3, 60) for _ in range(n))
    got = length_buckets(lengths, max_batch, overhead)
    assert [s for s, _ in got] == [0] + [e for _, e in got[:-1]] and got[-1][1] == n  # contiguous cover
    assert all(0 < e - s <= max_batch for s, e in got)
    best = min(run_cost(lengths, p, overhead) for p in all_partitions(n, max_batch))
    assert run_cost(lengths, got, overhead) == best


def test_a_long_tail_gets_its_own_run_and_equal_lengths_fill_runs() -> None:
    lengths = [8] * 60 + [42] * 4
    assert length_buckets(lengths, 64) == [(0, 60), (60, 64)]  # 60*8 + 4*42 + 2*128 < 64*42 + 128
    runs = length_buckets([10] * 100, 64)
    assert len(runs) == 2 and run_cost([10] * 100, runs) == 2 * 128 + 1000  # fewest runs, no padding
    assert length_buckets([], 64) == []
    with pytest.raises(ValueError):
        length_buckets([5, 3], 64)
    with pytest.raises(ValueError):
        length_buckets([3], 0)


def test_predict_keeps_input_order_across_runs() -> None:
    # FP32: INT8 dynamic quantisation scales activations per run, so its logits depend slightly on the run's rows
    model = CommentModel.load(device="cpu", threads=1, max_batch=8, variant="fp32")
    short = ["好", "3号链接", "主播yyds", "有红色吗"]
    long = ["这个口红的颜色真的太好看了吧我上次买的豆沙色到现在还在用质量很好强烈推荐给大家"]
    texts = [t for pair in zip(short * 5, long * 20, strict=False) for t in pair]
    together = model.predict(texts)
    alone = [model.predict([t])[0] for t in texts]
    assert [a.sentiment for a in together] == [a.sentiment for a in alone]
    assert [a.entities for a in together] == [a.entities for a in alone]


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_lane_plan_deals_every_text_once_with_the_same_mix_of_lengths(lanes: int) -> None:
    rng = random.Random(lanes)
    lengths = [rng.choice([2, 2, *range(3, 50)]) for _ in range(150)]  # 2 = [CLS] [SEP] only: no run
    plan = lane_plan(lengths, 16, lanes)
    dealt = [i for runs in plan for run in runs for i in run]
    assert sorted(dealt) == [i for i, n in enumerate(lengths) if n > 2]  # each text with tokens once
    assert len(plan) == lanes
    sizes = [sum(len(r) for r in runs) for runs in plan]
    assert max(sizes) - min(sizes) <= 1
    for runs in plan:
        flat = [lengths[i] for run in runs for i in run]
        assert flat == sorted(flat) and all(0 < len(run) <= 16 for run in runs)
        assert [(len(r)) for r in runs] == [e - s for s, e in length_buckets(flat, 16)]
    tokens = [sum(lengths[i] for run in runs for i in run) for runs in plan]
    assert max(tokens) - min(tokens) <= max(lengths)  # round robin over the sorted order: same mix of lengths
    assert lane_plan([1, 2], 16, lanes) == [] and lane_plan([5], 16, lanes) == [[[0]]]


def test_lanes_give_the_same_analyses_as_one_lane() -> None:
    one = CommentModel.load(device="cpu", threads=2, lanes=1, max_batch=8, variant="fp32")
    two = CommentModel.load(device="cpu", threads=2, lanes=2, max_batch=8, variant="fp32")
    texts = ["好", "3号链接还有红色吗", "", "主播yyds", "发货好慢啊，等了一周", "上次买的起球了", "😀",
             "这个口红的颜色真的太好看了吧我上次买的豆沙色到现在还在用" * 12] * 4
    a, b = one.predict(texts), two.predict(texts)
    assert [x.sentiment for x in a] == [x.sentiment for x in b]
    assert [x.entities for x in a] == [x.entities for x in b] and [x.is_question for x in a] == [x.is_question for x in b]
    assert max(abs(x.sentiment_score - y.sentiment_score) for x, y in zip(a, b, strict=True)) < 1e-4

"""MovieLens conversion, RecBole-exact split and metrics on tiny synthetic tables (no RecBole, no download)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streams import movielens as ml
from streams.logic import ranking
from streams.logic.room import Params, RoomState, apply
from streams.records import decode_click
from tests import roomkit as k

INTER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
ITEM = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"


def inter(rows: list[tuple[str, str, int]]) -> str:
    return INTER + "".join(f"{u}\t{i}\t3\t{t}\n" for u, i, t in rows)


MOVIES = ITEM + "1\tToy Story\t1995\tAnimation Children's Comedy\n2\tGoldenEye\t1995\tAction Adventure Thriller\n" \
                "3\tFour Rooms\t1995\tThriller\n4\tGet Shorty\t1995\tAction Comedy Drama\n5\tCopycat\t\t\n"


# ---------------------------------------------------------------- parsing and catalog


def test_parse_ratings_and_movies() -> None:
    r = ml.parse_ratings(inter([("196", "1", 881250949), ("186", "2", 891717742)]))
    assert r.user.tolist() == ["196", "186"] and r.item.tolist() == ["1", "2"]
    assert r.ts.tolist() == [881250949, 891717742] and len(r) == 2
    movies = ml.parse_movies(MOVIES)
    assert movies[0] == ml.Movie("1", "Toy Story", "1995", ("Animation", "Children's", "Comedy"))
    assert movies[4] == ml.Movie("5", "Copycat", "", ())


def test_movie_catalog_uses_first_genre_as_category_and_genres_year_as_attributes() -> None:
    cat = ml.movie_catalog(ml.parse_movies(MOVIES), "r")
    toy = cat.products["1"]
    assert toy.category == "Animation" and toy.attributes["genre"] == ("Animation", "Children's", "Comedy")
    assert toy.attributes["year"] == ("1995",) and toy.title == "Toy Story"
    assert cat.products["5"].category == "unknown" and "year" not in cat.products["5"].attributes


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ml.MovielensError, match="lacks a column"):
        ml.parse_ratings("user_id:token\titem_id:token\n1\t2\n")


# ---------------------------------------------------------------- RecBole order and split


def test_equal_timestamps_keep_file_row_order() -> None:
    ts = np.array([50, 10, 50, 10, 90], np.int64)
    assert ml.recbole_order(ts).tolist() == [1, 3, 0, 2, 4]


def test_float32_scaling_collapses_neighbouring_seconds_like_recbole() -> None:
    # span 1e8 s: float32 spacing just below 1.0 is 2**-24 ≈ 6e-8, i.e. ~6 s, so 1e8 - 1 scales to
    # exactly 1.0 and ties with the max; RecBole then keeps file order (row 0 before row 2)
    ts = np.array([100_000_000, 0, 99_999_999], np.int64)
    assert ml.recbole_order(ts).tolist() == [1, 0, 2]
    # the exact (float64) order would differ: this is the case a plain sort on seconds gets wrong
    assert np.argsort(ts, kind="stable").tolist() == [1, 2, 0]


def test_event_times_are_strictly_increasing_in_recbole_order() -> None:
    ts = np.array([0, 100_000_000, 99_999_999, 99_999_999], np.int64)
    out = ml.event_times_ms(ts, offset_ms=0)
    assert out.tolist() == [0, 100_000_000_000, 100_000_000_001, 100_000_000_002]
    assert (np.diff(out) > 0).all()


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        (["a"], [ml.TRAIN]),
        (["a", "a"], [ml.TRAIN, ml.TEST]),
        (["a", "a", "a"], [ml.TRAIN, ml.VALID, ml.TEST]),
        (["a", "b", "a", "b", "a", "b", "b"], [0, 0, 1, 0, 2, 1, 2]),
    ],
)
def test_leave_one_out_matches_recbole_valid_and_test(users: list[str], expected: list[int]) -> None:
    assert ml.leave_one_out(users).tolist() == expected


def test_build_stream_targets_with_tied_timestamps() -> None:
    # user u: valid and test share a second -> the later file row is the test target (RecBole's order)
    rows = [("u", "3", 300), ("u", "1", 100), ("v", "1", 150), ("u", "4", 300), ("v", "2", 160), ("v", "3", 170),
            ("u", "2", 200)]
    s = ml.build_stream(ml.parse_ratings(inter(rows)))
    assert s.targets(ml.TEST) == {"u": "4", "v": "3"}
    assert s.targets(ml.VALID) == {"u": "3", "v": "2"}
    assert s.user.tolist() == ["u", "v", "v", "v", "u", "u", "u"]
    assert s.row.tolist() == [1, 2, 4, 5, 6, 0, 3]


def test_click_log_lines_decode_as_livecart_clicks() -> None:
    s = ml.build_stream(ml.parse_ratings(inter([("u", "1", 881250949), ("u", "2", 881250949), ("v", "1", 881250950)])))
    lines = list(ml.click_log(s, "room"))
    assert [ln["topic"] for ln in lines] == ["live.clicks"] * 3 and {ln["key"] for ln in lines} == {"room"}
    clicks = [decode_click(ln["value"]) for ln in lines]
    assert [c.event_id for c in clicks] == ["ml100k-0", "ml100k-1", "ml100k-2"]
    assert clicks[0].ts == 881250949 * 1000 + ml.OFFSET_MS and clicks[1].ts == clicks[0].ts + 1
    assert [(c.viewer_id, c.item_id) for c in clicks] == [("u", "1"), ("u", "2"), ("v", "1")]


# ---------------------------------------------------------------- metrics


def test_rank_metrics_hand_computed() -> None:
    m = ml.rank_metrics([0, 1, 9, 10])
    assert m["hr@10"] == pytest.approx(3 / 4)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(11)) / 4)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 10) / 4)
    assert ml.rank_metrics([])["hr@10"] == 0.0


def test_target_rank_counts_ties_against_the_target() -> None:
    sc = np.array([0.5, 0.9, 0.5, 0.1])
    assert ml.target_rank(sc, 1) == 0
    assert ml.target_rank(sc, 0) == 2 and ml.target_rank(sc, 2) == 2
    assert ml.target_rank(sc, 3) == 3


def test_ranks_of_masks_seen_items() -> None:
    sc = np.array([[0.9, 0.8, 0.1], [0.3, 0.2, 0.1]], np.float32)
    mask = np.array([[True, False, False], [False, False, False]])
    assert ml.ranks_of(sc, np.array([1, 2]), mask).tolist() == [0, 2]
    assert ml.ranks_of(sc, np.array([1, 2])).tolist() == [1, 2]
    assert ml.served_ranks([[4, 1, 2], [0]], np.array([1, 7])).tolist() == [1, ml.K]


# ---------------------------------------------------------------- livecart scoring and the proposal's store


def test_livecart_order_is_rank_without_diversity() -> None:
    cat = k.catalog().room(k.ROOM)
    assert cat is not None
    room = RoomState(cat)
    p = Params()
    for ev in (k.click("v1", "lip-3", 0), k.click("v2", "lip-4", 1_000), k.click("v1", "brush-6", 2_000),
               k.purchase("v1", "lip-4", 3_000), k.host("on_stage", 3_500, item="mask-7")):
        apply(room, ev, p)
    rp = ranking.RankParams(top_k=3, w_same_category=0.0)
    ts = k.T0 + 60_000
    order = ml.livecart_order(room, "v1", ts, rp)
    served = [room.index[e["id"]] for e in ranking.rank(room, room.viewers["v1"], ts, rp)["products"]]
    assert served and order[: len(served)] == served
    assert room.index["lip-4"] not in order  # bought, not repeatable
    assert sorted(order) == sorted(set(range(len(room.item_ids))) - {room.index["lip-4"]})
    sc = ml.order_scores(order, len(room.item_ids))
    assert ml.target_rank(sc, order[0]) == 0 and sc[room.index["lip-4"]] == -np.inf


def test_coengagement_pairs_are_windowed_symmetric_and_distance_weighted() -> None:
    co = ml.CoEngagement(4, recent_max=50, pair_window_ms=600_000)
    co.add("a", 0, 0)
    co.add("a", 1, 1_000)
    co.add("a", 2, 2_000)
    co.add("a", 3, 2_000_000)  # more than 10 min after the others: pairs with nothing
    assert co.pair[0, 1] == co.pair[1, 0] == 1.0 and co.pair[1, 2] == 1.0
    assert co.pair[0, 2] == pytest.approx(0.5)
    assert co.pair[3].sum() == 0.0 and co.whole[0, 3] == 1.0
    co.add("b", 0, 3_000_000)
    s = co.scores("b")
    assert s[1] > s[2] > 0 and s[3] == 0.0
    assert co.seen("b").tolist() == [True, False, False, False]


def test_replay_scores_valid_and_test_but_never_applies_test_events() -> None:
    rows = [("u", "1", 100), ("v", "1", 110), ("u", "2", 120), ("v", "2", 130), ("u", "3", 140), ("v", "3", 150),
            ("w", "1", 160), ("w", "2", 170), ("w", "4", 180), ("u", "4", 190), ("v", "4", 200)]
    s = ml.build_stream(ml.parse_ratings(inter(rows)))
    cat = ml.movie_catalog(ml.parse_movies(MOVIES), ml.ROOM_ID)
    rp = ml.replay(s, cat, progress=False)
    assert rp.events_applied == len(rows) - 3
    assert sorted(rp.split.tolist()) == [1, 1, 1, 2, 2, 2]
    assert all(len(top) == ml.K or len(top) == len(cat.products) for top in rp.served_top10)
    for q in np.flatnonzero(rp.split != ml.TRAIN):
        u = rp.users[q]
        prefix = sum(1 for r in rows if r[0] == u) - (1 if rp.split[q] == ml.TEST else 2)
        assert rp.seen[q].sum() == prefix  # the user's own earlier clicks, nothing else
        assert not rp.seen[q, rp.target[q]]

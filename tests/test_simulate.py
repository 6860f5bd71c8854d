"""Tests of the live-room simulator, the event-log reader/writer and the shipped demo data."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from streams import simdata
from streams.catalog import Catalog, parse_entry
from streams.errors import CatalogError, InvalidEvent
from streams.eventlog import read_log, write_log
from streams.simulate import run_simulate, simulate

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
DEMO_LOG = DATA / "demo_log.jsonl.gz"
# The exact arguments data/README.md records for the shipped demo log.
DEMO_ARGS: dict[str, Any] = {"seed": 11, "duration_s": 600, "viewers_per_room": 200}

Line = dict[str, Any]

# The event contract: required fields and their types per topic (bool is excluded from int below).
COMMON = {"event_id": str, "ts": int, "room_id": str}
CONTRACT: dict[str, dict[str, type]] = {
    "live.comments": {**COMMON, "viewer_id": str, "text": str},
    "live.clicks": {**COMMON, "viewer_id": str, "item_id": str},
    "live.purchases": {**COMMON, "viewer_id": str, "item_id": str, "quantity": int, "price": float},
    "live.presence": {**COMMON, "viewer_id": str, "action": str},
    "live.host": {**COMMON, "action": str},
}
HOST_EXTRA = {"on_stage": "item_id", "off_stage": "item_id", "show_content": "content_id"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="module")
def lines(catalog: Catalog) -> list[Line]:
    """A 5-minute, 3-room show: big enough for rate checks, small enough to run in ~0.5 s."""
    return list(simulate(catalog, seed=3, rooms=None, duration_s=300, viewers_per_room=120))


@pytest.fixture(scope="module")
def events(lines: list[Line]) -> list[dict[str, Any]]:
    return [ln["value"] for ln in lines if ln["topic"] != "live.catalog"]


def by_topic(lines: list[Line]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ln in lines:
        out[ln["topic"]].append(ln["value"])
    return out


def contract_errors(line: Line) -> list[str]:
    """Every way ``line`` breaks the event contract (empty: valid)."""
    topic, key, value = line.get("topic"), line.get("key"), line.get("value")
    if set(line) != {"topic", "key", "value"} or not isinstance(value, dict):
        return [f"line shape {sorted(line)}"]
    if topic == "live.catalog":
        entry = parse_entry(value)
        ident = getattr(entry, "item_id", None) or getattr(entry, "content_id", "")
        return [] if key == f"{value['room_id']}:{ident}" else [f"catalog key {key!r}"]
    if topic not in CONTRACT:
        return [f"unknown topic {topic!r}"]
    want = dict(CONTRACT[topic])
    if topic == "live.host":
        extra = HOST_EXTRA.get(value.get("action", ""))
        if extra is None:
            return [f"host action {value.get('action')!r}"]
        want[extra] = str
    errs = [f"{topic}: keys {sorted(value)} != {sorted(want)}"] if set(value) != set(want) else []
    for name, typ in want.items():
        v = value.get(name)
        if isinstance(v, bool) or not isinstance(v, typ) or v == "":
            errs.append(f"{topic}: {name}={v!r} is not a non-empty {typ.__name__}")
    if key != value.get("room_id"):
        errs.append(f"{topic}: key {key!r} != room_id")
    if topic == "live.presence" and value.get("action") not in ("join", "leave"):
        errs.append(f"presence action {value.get('action')!r}")
    if topic == "live.purchases" and not (isinstance(value.get("quantity"), int) and value["quantity"] >= 1):
        errs.append(f"quantity {value.get('quantity')!r}")
    return errs


# ---- determinism ---------------------------------------------------------------------------------
def test_same_seed_same_output(catalog: Catalog, lines: list[Line]) -> None:
    again = list(simulate(catalog, seed=3, rooms=None, duration_s=300, viewers_per_room=120))
    assert again == lines


def test_different_seed_different_output(catalog: Catalog, lines: list[Line]) -> None:
    other = list(simulate(catalog, seed=4, rooms=None, duration_s=300, viewers_per_room=120))
    assert [ln["value"] for ln in other[100:]] != [ln["value"] for ln in lines[100:]]
    ids = {ln["value"].get("event_id") for ln in lines} - {None}
    assert ids.isdisjoint(ln["value"].get("event_id") for ln in other), "two runs must not share event ids"


def test_room_does_not_depend_on_other_rooms(catalog: Catalog, lines: list[Line]) -> None:
    alone = list(simulate(catalog, seed=3, rooms=["food-02"], duration_s=300, viewers_per_room=120))
    assert alone == [ln for ln in lines if ln["value"]["room_id"] == "food-02"]


def test_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    # str hashing is salted per process; the simulator must not depend on it (set order, hash()).
    code = "from streams.simulate import run_simulate; import sys; run_simulate(sys.argv[1], duration_s=60, viewers_per_room=30)"
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"log{hash_seed}.jsonl.gz"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, cwd=ROOT, env=env, capture_output=True)
        digests.append(out.read_bytes())
    assert digests[0] == digests[1]


# ---- contract and order --------------------------------------------------------------------------
def test_catalog_entries_come_first_and_events_in_time_order(lines: list[Line]) -> None:
    topics = [ln["topic"] for ln in lines]
    n_cat = topics.count("live.catalog")
    assert n_cat > 0 and set(topics[:n_cat]) == {"live.catalog"}
    ts = [ln["value"]["ts"] for ln in lines[n_cat:]]
    assert ts == sorted(ts)
    assert 1_700_000_000_000 <= ts[0] and ts[-1] < 1_700_000_000_000 + 300_000


def test_every_line_meets_the_contract(lines: list[Line]) -> None:
    errors = [(i, e) for i, ln in enumerate(lines) for e in contract_errors(ln)]
    assert errors == []


def test_event_ids_unique(events: list[dict[str, Any]]) -> None:
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))


def test_purchase_follows_click_of_same_viewer_and_item(lines: list[Line], catalog: Catalog) -> None:
    last_click: dict[tuple[str, str], int] = {}
    n = 0
    for ln in lines:
        v = ln["value"]
        if ln["topic"] == "live.clicks":
            last_click[(v["viewer_id"], v["item_id"])] = v["ts"]
        elif ln["topic"] == "live.purchases":
            n += 1
            clicked = last_click.get((v["viewer_id"], v["item_id"]))
            assert clicked is not None and clicked < v["ts"], v
            assert v["price"] == catalog.rooms[v["room_id"]].products[v["item_id"]].price
    assert n > 0


def test_viewer_events_lie_between_join_and_leave(lines: list[Line]) -> None:
    joined: dict[str, int] = {}
    left: dict[str, int] = {}
    for ln in lines:
        v = ln["value"]
        if "viewer_id" not in v:
            continue
        vid = v["viewer_id"]
        assert vid not in left, f"{vid} acts after leaving: {v}"
        if ln["topic"] == "live.presence" and v["action"] == "join":
            assert vid not in joined
            joined[vid] = v["ts"]
        else:
            assert vid in joined, f"{vid} acts before joining: {v}"
            if ln["topic"] == "live.presence":
                left[vid] = v["ts"]
    assert left, "some viewers leave during a 5-minute show"


def test_host_schedule(lines: list[Line], catalog: Catalog) -> None:
    for room_id, room in catalog.rooms.items():
        host = [ln["value"] for ln in lines if ln["topic"] == "live.host" and ln["value"]["room_id"] == room_id]
        on: dict[str, Any] | None = None
        shows = 0
        for h in host:
            if h["action"] == "on_stage":
                assert on is None, "one product on stage at a time"
                assert h["item_id"] in room.products
                on = h
            elif h["action"] == "off_stage":
                assert on is not None and on["item_id"] == h["item_id"]
                assert 60_000 <= h["ts"] - on["ts"] <= 180_000
                on = None
            else:
                assert on is not None, "content is shown while a product is on stage"
                c = room.contents[h["content_id"]]
                p = room.products[on["item_id"]]
                assert p.item_id in c.related_items or p.category in c.categories
                shows += 1
        assert sum(h["action"] == "on_stage" for h in host) >= 2


# ---- realism -------------------------------------------------------------------------------------
def test_conversion_and_topic_mix(lines: list[Line]) -> None:
    n = Counter(ln["topic"] for ln in lines if ln["topic"] != "live.catalog")
    total = sum(n.values())
    assert 0.05 <= n["live.purchases"] / n["live.clicks"] <= 0.15
    assert 0.50 <= n["live.clicks"] / total <= 0.70
    assert 0.20 <= n["live.comments"] / total <= 0.40
    rest = n["live.purchases"] + n["live.host"] + n["live.presence"]
    assert 0.05 <= rest / total <= 0.18


def test_clicks_favour_the_on_stage_product(lines: list[Line]) -> None:
    stage: dict[str, str | None] = {}
    on = total = 0
    for ln in lines:
        v = ln["value"]
        if ln["topic"] == "live.host" and v["action"] in ("on_stage", "off_stage"):
            stage[v["room_id"]] = v["item_id"] if v["action"] == "on_stage" else None
        elif ln["topic"] == "live.clicks" and stage.get(v["room_id"]):
            total += 1
            on += v["item_id"] == stage[v["room_id"]]
    # 16-18 products per room: taste alone would give the on-stage one ~6 %.
    assert on / total > 0.35


def test_comments_use_catalog_and_real_sentences(by_topic_lines: dict[str, list[dict[str, Any]]]) -> None:
    texts = [c["text"] for c in by_topic_lines["live.comments"]]
    pos, neg = simdata.load_real_comments()
    assert any(t in pos for t in texts) and any(t in neg for t in texts)
    assert any("号链接还有" in t for t in texts)
    assert any(t in ("已拍", "已下单") or t.startswith("已拍") for t in texts)
    assert any(t in simdata.SLANG for t in texts)
    assert all(t and "{" not in t and "None" not in t for t in texts)


@pytest.fixture(scope="module")
def by_topic_lines(lines: list[Line]) -> dict[str, list[dict[str, Any]]]:
    return by_topic(lines)


def test_already_bought_comment_follows_own_purchase(by_topic_lines: dict[str, list[dict[str, Any]]]) -> None:
    first_buy: dict[str, int] = {}
    for p in by_topic_lines["live.purchases"]:
        first_buy.setdefault(p["viewer_id"], p["ts"])
    posts = [c for c in by_topic_lines["live.comments"] if c["text"] in ("已拍", "已下单", "拍了拍了")]
    assert posts
    for c in posts:
        assert c["viewer_id"] in first_buy and first_buy[c["viewer_id"]] < c["ts"]


@pytest.mark.parametrize(("rate", "duration_s"), [(200.0, 120.0), (1000.0, 90.0)])
def test_events_per_s_scales_the_rate(catalog: Catalog, rate: float, duration_s: float) -> None:
    n = sum(
        1 for ln in simulate(catalog, seed=5, rooms=None, duration_s=duration_s, viewers_per_room=100, events_per_s=rate)
        if ln["topic"] != "live.catalog"
    )
    assert 0.85 <= n / duration_s / rate <= 1.15


# ---- arguments and errors ------------------------------------------------------------------------
def test_unknown_room_raises(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="nope"):
        simulate(catalog, seed=1, rooms=["nope"], duration_s=10, viewers_per_room=1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"viewers_per_room": -1}, "viewers_per_room"),
        ({"events_per_s": 0.0}, "events_per_s"),
    ],
)
def test_bad_arguments_raise(catalog: Catalog, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"duration_s": 10.0, "viewers_per_room": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        simulate(catalog, seed=1, rooms=None, **args)  # checked on call, before iteration


def test_no_viewers_gives_host_only(catalog: Catalog) -> None:
    out = list(simulate(catalog, seed=1, rooms=["beauty-01"], duration_s=300, viewers_per_room=0))
    assert {ln["topic"] for ln in out} == {"live.catalog", "live.host"}


# ---- log files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.gz"])
def test_log_round_trip(lines: list[Line], tmp_path: Path, name: str) -> None:
    path = tmp_path / "sub" / name
    assert write_log(lines, path) == len(lines)
    assert list(read_log(path)) == lines
    if name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            assert json.loads(fh.readline()) == lines[0]


def test_gz_log_is_byte_identical(lines: list[Line], tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_log(lines[:500], a)
    write_log(lines[:500], b)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize(
    ("text", "match"),
    [("{not json\n", r"bad\.jsonl:2: not JSON"), ('{"key": "r"}\n', r"bad\.jsonl:2: expected")],
)
def test_read_log_rejects_bad_lines(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"topic": "live.clicks", "key": "r", "value": {}}\n' + text, encoding="utf-8")
    with pytest.raises(InvalidEvent, match=match):
        list(read_log(path))


def test_run_simulate_counts(tmp_path: Path) -> None:
    counts = run_simulate(str(tmp_path / "x.jsonl"), duration_s=60, viewers_per_room=20, rooms=["home-03"])
    written = Counter(ln["topic"] for ln in read_log(tmp_path / "x.jsonl"))
    assert counts == dict(written) and counts["live.catalog"] == 23


# ---- shipped data --------------------------------------------------------------------------------
def test_demo_catalog(catalog: Catalog) -> None:
    assert set(catalog.rooms) == {"beauty-01", "food-02", "home-03"}
    for room in catalog.rooms.values():
        assert 12 <= len(room.products) <= 25 and 5 <= len(room.contents) <= 10
        assert sorted(p.slot or 0 for p in room.products.values()) == list(range(1, len(room.products) + 1))
        for c in room.contents.values():
            assert c.related_items and set(c.related_items) <= set(room.products), c
    beauty = catalog.rooms["beauty-01"]
    lipstick = beauty.by_slot(3)
    assert lipstick is not None and lipstick.category == "口红"
    assert lipstick.attributes["色号"] == ("豆沙色", "正红色", "枫叶红")
    assert "豆沙色口红" in lipstick.aliases and "卸妆" in lipstick.complements
    tutorial = [c for c in beauty.contents.values() if "教程" in c.title and c.content_kind in ("course", "video")]
    assert any(lipstick.item_id in c.related_items and {"口红", "彩妆"} <= set(c.categories) for c in tutorial)


def test_real_comments_file() -> None:
    rows = (DATA / "comments_real.txt").read_text(encoding="utf-8").splitlines()
    assert 200 <= len(rows) <= 1000
    labels = Counter(r.split("\t", 1)[0] for r in rows)
    assert set(labels) == {"pos", "neg"}
    assert all(0 < len(r.split("\t", 1)[1]) <= 40 for r in rows)
    assert "MIT" in (DATA / "README.md").read_text(encoding="utf-8")


def test_real_comment_selection_skips_the_test_split() -> None:
    # Texts encode their deduplicated index; duplicates and cross-file texts must not shift it.
    pos = ["东西好用1", "", "  东西好用1  ", "都有"] + [f"东西好用{i}" for i in range(2, 40)]
    neg = ["都有"] + [f"质量太差{i}" for i in range(1, 40)]
    rows = simdata.select_real_comments(pos, neg, per_label=1000)
    for label, text in rows:
        i = int(text[4:]) - 1  # "东西好用1" is index 0 once "", the duplicate and "都有" are dropped
        assert i % 10 != 9, (label, text)
    assert len(rows) == 2 * (39 - 3)  # indices 9, 19, 29 of 0..38 are the test split


def test_demo_log_is_what_the_recorded_command_makes(tmp_path: Path) -> None:
    assert DEMO_LOG.stat().st_size <= 3 * 1024 * 1024
    counts = run_simulate(str(tmp_path / "demo.jsonl.gz"), **DEMO_ARGS)
    assert 20_000 <= sum(counts.values()) - counts["live.catalog"] <= 60_000
    assert (tmp_path / "demo.jsonl.gz").read_bytes() == DEMO_LOG.read_bytes()


def test_slotless_bare_catalog_still_simulates() -> None:
    # Catalogs from other sources may lack slots, attributes, brands and contents.
    cat = Catalog.from_entries(
        [
            {"kind": "product", "room_id": "r", "item_id": f"i{k}", "title": f"商品{k}", "category": "杂货", "price": 10.0}
            for k in range(3)
        ]
    )
    out = list(simulate(cat, seed=2, rooms=None, duration_s=300, viewers_per_room=40))
    assert [e for ln in out for e in contract_errors(ln)] == []
    texts = [ln["value"]["text"] for ln in out if ln["topic"] == "live.comments"]
    assert texts and all("None" not in t and "{" not in t for t in texts)

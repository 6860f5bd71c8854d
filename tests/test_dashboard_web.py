"""Dashboard web service: the hub, access control and headers over HTTP, SSE, and the page in headless Chromium.

The snapshots come from the real ``DashboardState.step`` folding a scripted show (``show_snapshots``), not
from hand-made dicts. The browser test runs a real aiohttp server on a free loopback port and Debian's
chromium driven by playwright-core (``tests/browser/dashboard.mjs``); ``scripts/install_browser.sh``
installs both. It fails, never skips, when they are missing: a skipped browser test looks green.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from streams.errors import InvalidEvent
from streams.logic.dashboard import DashboardState
from streams.records import RoomEvent
from streams.web import SnapshotHub, SnapshotPacer, WebSettings, make_app, serve_replay, start_server
from streams.web.server import CSP, STATIC
from tests import roomkit as k

REPO = Path(__file__).resolve().parent.parent
NODE_SCRIPT = REPO / "tests" / "browser" / "dashboard.mjs"
SCREENSHOT = REPO / "reports" / "dashboard.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
Q1, Q2, Q3 = "3号链接有没有豆沙色？", "今天下单几天能发货", "敏感肌能用这个卸妆水吗"
PACE_S = 0.08  # between streamed snapshots: ~2 s for the show, slow enough that the page renders each one
BROWSER_DEADLINE_S = 90.0  # chromium start (~1-3 s here) + the stream; only a broken run gets near it


# ---------------------------------------------------------------- a scripted show -> real snapshots


def show_events() -> list[RoomEvent]:
    """Two minutes of a beauty room: viewers arriving, a product on stage, questions repeated, a hostile comment."""
    evs: list[RoomEvent] = [k.join(f"v{i:02d}", i * 3_000) for i in range(40)]
    evs.append(k.host("on_stage", 4_000, item="lip-3"))
    chat: list[tuple[int, str, str, str, bool, tuple[str, ...]]] = [
        (6_000, "v01", "主播好漂亮！", "pos", False, ()),
        (9_000, "v02", "这个口红颜色好好看", "pos", False, ("lip-3",)),
        (14_000, "v03", "刚来，今天有什么福利", "neu", False, ()),
        (22_000, "v04", Q1, "neu", True, ("lip-3",)),
        (27_000, "v05", "3号链接 有没有豆沙色", "neu", True, ("lip-3",)),
        (31_000, "v06", "卸妆水回购第三瓶了，好用", "pos", False, ("remover-5",)),
        (38_000, "v07", Q2, "neu", True, ()),
        (44_000, "v08", "3号链接有没有豆沙色??", "neu", True, ("lip-3",)),
        (52_000, "v09", "上次买的面膜过敏了，客服也不理人", "neg", False, ("mask-7",)),
        (58_000, "v10", "今天下单 几天能发货？", "neu", True, ()),
        (63_000, "v11", Q3, "neu", True, ("remover-5",)),
        (70_000, "v12", "3号链接，有没有豆沙色！", "neu", True, ("lip-3",)),
        (76_000, "v13", "质量太差了，别买", "neg", False, ()),
        (83_000, "v14", "已拍两支，期待", "pos", False, ("lip-3",)),
        (91_000, "v15", "价格能再便宜点吗", "neu", True, ()),
        (97_000, "v16", XSS, "neg", False, ()),
        (104_000, "v17", "试色好显白！", "pos", False, ("lip-3",)),
        (112_000, "v18", "刷子套装还有货吗", "neu", True, ("brush-6",)),
    ]
    for dt, viewer, text, sentiment, question, items in chat:
        evs.append(k.comment(viewer, text, dt, items=items, question=question, sentiment=sentiment))
    for i, dt in enumerate(range(10_000, 110_000, 6_000)):
        evs.append(k.click(f"v{i:02d}", "lip-3" if i % 3 else "remover-5", dt))
    for i, dt in enumerate((33_000, 61_000, 86_000, 101_000)):
        evs.append(k.purchase(f"v{i * 3 + 1:02d}", "lip-3", dt, qty=1 + i % 2, price=129.0))
    evs.append(k.purchase("v02", "remover-5", 72_000, price=99.0))
    evs.append(k.click("v19", "brush-6", 118_000))
    return sorted(evs, key=lambda e: e.ts)


def show_snapshots(interval_ms: int = 5_000) -> list[dict[str, Any]]:
    """The snapshots ``DashboardState`` emits for the show, plus the closing one at the last event time."""
    cat = k.catalog().room(k.ROOM)
    st = DashboardState(k.ROOM, interval_ms=interval_ms)
    snaps: list[dict[str, Any]] = []
    for ev in show_events():
        snaps += st.step(ev, cat)
    snaps.append(st.snapshot(st.max_ts + 1, cat))
    return snaps


def test_show_exercises_every_panel() -> None:
    snaps = show_snapshots()
    first, last = snaps[0], snaps[-1]
    assert first["active_viewers"] < last["active_viewers"] and not first["open_questions"]
    assert [(q["text"], q["count"]) for q in last["open_questions"][:2]] == [(Q1, 4), (Q2, 2)]
    assert Q3 in [q["text"] for q in last["open_questions"]]
    assert len(last["sentiment_trend"]) > len(first["sentiment_trend"])
    assert any(c["text"] == XSS and c["sentiment"] == "neg" for c in last["recent_comments"])
    assert last["on_stage"]["item_id"] == "lip-3" and last["totals"]["gmv"] > 0


# ---------------------------------------------------------------- hub


def _snap(room: str = k.ROOM, ts: int = k.T0, **extra: Any) -> dict[str, Any]:
    return {"room_id": room, "ts": ts, "active_viewers": 1, "comments_per_min": 0, "totals": {"gmv": 0.0}, **extra}


async def test_hub_primes_subscribers_and_drops_oldest_for_slow_ones() -> None:
    hub = SnapshotHub(queue_size=2)
    hub.publish(_snap(ts=1))
    with hub.subscribe(k.ROOM) as sub:
        first = await sub.get()
        assert first is not None and first.ts == 1  # the latest snapshot, at once
        for ts in range(2, 7):
            hub.publish(_snap(ts=ts))
        got = [await sub.get(), await sub.get()]
        assert [f.ts for f in got if f] == [5, 6] and sub.dropped == 3
        assert hub.subscribers(k.ROOM) == 1
    assert hub.subscribers(k.ROOM) == 0
    assert hub.latest(k.ROOM).ts == 6  # type: ignore[union-attr]
    assert hub.rooms() == [{"room_id": k.ROOM, "ts": 6, "active_viewers": 1, "comments_per_min": 0, "gmv": 0.0}]


async def test_hub_publish_from_another_thread_delivers_on_the_loop() -> None:
    hub = SnapshotHub()
    hub.bind(asyncio.get_running_loop())
    with hub.subscribe("r") as sub:
        t = threading.Thread(target=hub.publish, args=(_snap("r", 7),))
        t.start()
        t.join()
        frame = await asyncio.wait_for(sub.get(), 5)
        assert frame is not None and frame.ts == 7


@pytest.mark.parametrize(("raw", "match"), [
    (b"not json", "not UTF-8 JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"ts": 1}', "non-empty string 'room_id'"),
    (b'{"room_id": "r", "ts": "soon"}', "integer 'ts'"),
])
def test_hub_rejects_bad_snapshots(raw: bytes, match: str) -> None:
    with pytest.raises(InvalidEvent, match=match):
        SnapshotHub().publish_json(raw)


def test_hub_taps_pipeline_messages() -> None:
    from streams.pipeline import Outgoing
    from streams.records import dumps

    hub = SnapshotHub()
    outs = [Outgoing("live.suggestions", "v1", b"{}"), Outgoing("live.dashboard", k.ROOM, dumps(_snap(ts=9)))]
    assert hub.publish_messages(outs) == 1 and hub.latest(k.ROOM).ts == 9  # type: ignore[union-attr]


async def test_pacer_spaces_snapshots_by_event_time() -> None:
    hub = SnapshotHub()
    rooms: list[str] = []
    pacer = SnapshotPacer(hub, speed=20.0, on_new_room=rooms.append)  # 1 s of event time = 50 ms
    pacer.start()
    seen: list[tuple[int, float]] = []
    with hub.subscribe("r") as sub:
        t0 = time.monotonic()
        for i in range(4):
            pacer.put(_snap("r", k.T0 + i * 1_000))
        await asyncio.wait_for(pacer.join(), 5)
        while not sub.queue.empty():
            f = await sub.get()
            assert f is not None
            seen.append((f.ts - k.T0, time.monotonic() - t0))
    await pacer.close()
    assert [ts for ts, _ in seen] == [0, 1_000, 2_000, 3_000] and rooms == ["r"]
    assert time.monotonic() - t0 >= 0.15  # three 50 ms steps: paced, not all at once


async def test_pacer_shortens_long_silences(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.web import pacer as pacer_mod

    monkeypatch.setattr(pacer_mod, "MAX_GAP_S", 0.05)
    hub = SnapshotHub()
    pacer = SnapshotPacer(hub, speed=1.0)
    pacer.start()
    t0 = time.monotonic()
    pacer.put(_snap("r", k.T0))
    pacer.put(_snap("r", k.T0 + 3_600_000))  # an hour later in event time
    await asyncio.wait_for(pacer.join(), 5)
    await pacer.close()
    assert hub.latest("r").ts == k.T0 + 3_600_000 and time.monotonic() - t0 < 2  # type: ignore[union-attr]


@pytest.mark.parametrize("speed", [0.0, 400.0])  # 400: the 2-minute show paced into ~0.3 s
async def test_serve_replay_serves_and_taps_the_recorder(speed: float) -> None:
    from streams.pipeline import Outgoing
    from streams.records import dumps

    snaps = show_snapshots()
    recorded: list[Any] = []
    threads: set[str] = set()
    hub = SnapshotHub()

    async def replay(record: Any) -> int:
        threads.add(threading.current_thread().name)
        for s in snaps:
            record([Outgoing("live.dashboard", k.ROOM, dumps(s)), Outgoing("live.suggestions", "v1", b"{}")])
        return len(snaps)

    with hub.subscribe(k.ROOM) as sub:
        n = await asyncio.wait_for(serve_replay(replay, recorded.extend, host="127.0.0.1", port=0, token="",
                                                speed=speed, linger=False, hub=hub), 10)
        frames = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        kept = [f.ts for f in frames if f.room_id]  # less the end-of-stream markers of the shutdown
        assert kept == sorted(kept) and kept[-1] == snaps[-1]["ts"]  # reached the page's queue, in order
        assert len(kept) + sub.dropped >= len(snaps)
    assert n == len(snaps) and len(recorded) == 2 * len(snaps) and threads == {"livecart-replay"}
    assert json.loads(hub.latest(k.ROOM).data) == snaps[-1]  # type: ignore[union-attr]


# ---------------------------------------------------------------- HTTP: token, CORS, headers, SSE


async def _client(hub: SnapshotHub, **settings: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(hub, WebSettings(**settings))))
    await client.start_server()
    return client


@pytest.fixture
async def hub() -> SnapshotHub:
    h = SnapshotHub()
    h.publish(show_snapshots()[-1])
    return h


ROOM_PATHS = ["/", f"/rooms/{k.ROOM}", f"/rooms/{k.ROOM}/snapshot", f"/rooms/{k.ROOM}/events"]


async def test_token_guards_page_stream_and_json(hub: SnapshotHub) -> None:
    client = await _client(hub, token="s3cret")
    try:
        for path in ROOM_PATHS:
            for params, headers in (({}, {}), ({"token": "wrong"}, {}), ({}, {"Authorization": "Bearer wrong"})):
                r = await client.get(path, params=params, headers=headers)
                assert r.status == 401, (path, params, headers)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
                assert r.headers["Content-Security-Policy"] == CSP  # error responses carry the headers too
        for path in ROOM_PATHS[:3]:
            assert (await client.get(path, params={"token": "s3cret"})).status == 200
            assert (await client.get(path, headers={"Authorization": "Bearer s3cret"})).status == 200
        # Liveness and the generic static files need no token; they hold no room data.
        for path in ("/healthz", "/static/dashboard.js", "/static/dashboard.css"):
            assert (await client.get(path)).status == 200, path
        assert (await client.get("/static/room.html", params={"token": "s3cret"})).status == 404  # whitelisted assets only
    finally:
        await client.close()


async def test_no_token_configured_means_open(hub: SnapshotHub) -> None:
    client = await _client(hub)
    try:
        for path in ROOM_PATHS[:3]:
            assert (await client.get(path)).status == 200, path
        snap = await (await client.get(f"/rooms/{k.ROOM}/snapshot")).json()
        assert snap == show_snapshots()[-1]
        assert (await client.get("/rooms/nobody/snapshot")).status == 404
    finally:
        await client.close()


async def test_cors_closed_by_default_and_opened_per_origin(hub: SnapshotHub) -> None:
    origin = {"Origin": "https://studio.example"}
    closed = await _client(hub)
    try:
        r = await closed.get(f"/rooms/{k.ROOM}/snapshot", headers=origin)
        assert r.status == 200 and "Access-Control-Allow-Origin" not in r.headers
        pre = await closed.options(f"/rooms/{k.ROOM}/snapshot", headers={**origin, "Access-Control-Request-Method": "GET"})
        assert pre.status == 403 and "Access-Control-Allow-Origin" not in pre.headers
    finally:
        await closed.close()
    opened = await _client(hub, cors_origins=("https://studio.example",), token="t")
    try:
        r = await opened.get(f"/rooms/{k.ROOM}/snapshot", headers={**origin, "Authorization": "Bearer t"})
        assert r.headers["Access-Control-Allow-Origin"] == "https://studio.example" and "Origin" in r.headers["Vary"]
        pre = await opened.options(f"/rooms/{k.ROOM}/snapshot", headers={**origin, "Access-Control-Request-Method": "GET"})
        assert pre.status == 204 and pre.headers["Access-Control-Allow-Origin"] == "https://studio.example"
        assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
        other = await opened.get(f"/rooms/{k.ROOM}/snapshot", headers={"Origin": "https://evil.example", "Authorization": "Bearer t"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        await opened.close()


async def test_security_headers_and_an_offline_page(hub: SnapshotHub) -> None:
    client = await _client(hub)
    try:
        r = await client.get(f"/rooms/{k.ROOM}")
        assert r.headers["Content-Type"].startswith("text/html")
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        page = await r.text()
        assert '<script src="/static/dashboard.js" defer></script>' in page and page.count("<script") == 1
    finally:
        await client.close()
    # Offline: no file the page loads names another host (no CDN); the only URL is the SVG namespace.
    for f in STATIC.iterdir():
        text = f.read_text(encoding="utf-8").replace("http://www.w3.org/2000/svg", "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name


async def test_room_list_escapes_room_ids() -> None:
    hub = SnapshotHub()
    hub.publish(_snap(room="<b>r&1</b>"))
    client = await _client(hub, token="t t")
    try:
        body = await (await client.get("/", params={"token": "t t"})).text()
        assert "&lt;b&gt;r&amp;1&lt;/b&gt;" in body and "<b>r" not in body
        assert 'href="/rooms/%3Cb%3Er%261%3C%2Fb%3E?token=t%20t"' in body
    finally:
        await client.close()


async def _sse_events(resp: ClientResponse, n: int) -> AsyncIterator[dict[str, Any]]:
    """Yield the first ``n`` ``snapshot`` events of an SSE response, decoded."""
    event, data = "", ""
    while n:
        line = (await asyncio.wait_for(resp.content.readline(), 5)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and event == "snapshot":
            yield json.loads(data)
            event, n = "", n - 1


async def test_sse_sends_latest_at_once_then_each_new_snapshot() -> None:
    snaps = show_snapshots()
    hub = SnapshotHub()
    hub.publish(snaps[0])
    client = await _client(hub)
    try:
        resp = await client.get(f"/rooms/{k.ROOM}/events")
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        got = []
        async for snap in _sse_events(resp, 3):
            got.append(snap)
            if len(got) == 1:
                for s in snaps[1:3]:
                    hub.publish(s)
        assert got == snaps[:3]
        resp.close()
    finally:
        await client.close()


# ---------------------------------------------------------------- the page in headless Chromium


def _browser_tools() -> str:
    node = shutil.which("node")
    missing = [what for what, ok in (("node", node), ("chromium at " + CHROMIUM, os.access(CHROMIUM, os.X_OK)),
                                      ("node_modules/playwright-core", (REPO / "node_modules" / "playwright-core").is_dir()))
               if not ok]
    if missing:
        pytest.fail(f"browser test needs {', '.join(missing)}: run `bash scripts/install_browser.sh`")
    assert node is not None
    return node


async def test_page_updates_live_and_renders_comments_as_text() -> None:
    node = _browser_tools()
    snaps = show_snapshots()
    hub = SnapshotHub()
    hub.publish(snaps[0])
    server = await start_server(hub, host="127.0.0.1", port=0, token="page-token", cors_origins=())
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        node, str(NODE_SCRIPT), server.room_url(k.ROOM, token="page-token"), str(snaps[-1]["ts"]), str(SCREENSHOT),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert proc.stdout is not None and proc.stderr is not None
    reports: dict[str, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(BROWSER_DEADLINE_S):
            while "final" not in reports:
                line = await proc.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
                reports[msg["event"]] = msg
                if msg["event"] == "initial":
                    # The page shows the first snapshot: now let the events flow, paced like a live show.
                    for s in snaps[1:]:
                        await asyncio.sleep(PACE_S)
                        hub.publish(s)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await server.close()
    stderr = (await proc.stderr.read()).decode(errors="replace")
    assert proc.returncode == 0 and "final" in reports, f"browser run failed (rc {proc.returncode}):\n{stderr[-3000:]}"
    first, last = reports["initial"], reports["final"]

    assert first["csp"] == CSP
    assert first["viewers"] == str(snaps[0]["active_viewers"]) and first["questions"] == []
    assert last["viewers"] == str(snaps[-1]["active_viewers"]) != first["viewers"]
    # The question list gained the asked questions, most asked first (ties: most recent first).
    assert [(q["text"], q["count"]) for q in last["questions"][:2]] == [(Q1, 4), (Q2, 2)]
    assert [q["text"] for q in last["questions"]] == [q["text"] for q in snaps[-1]["open_questions"]]
    assert Q3 in [q["text"] for q in last["questions"]]
    # The sentiment chart redrew with more buckets and more bars.
    assert last["trend_buckets"] == len(snaps[-1]["sentiment_trend"]) > first["trend_buckets"]
    assert last["trend_rects"] > first["trend_rects"]
    # Changes showed while events flowed, not only at the end: the page passed through intermediate states.
    seen = last["seen"]
    assert len({s["viewers"] for s in seen}) >= 3 and len({s["trend_rects"] for s in seen}) >= 3
    assert len(seen) >= len(snaps) // 2
    # The injected markup is text on the page, highlighted as negative, and nothing of it ran.
    xss = [c for c in last["feed"] if c["text"] == XSS]
    assert len(xss) == 1 and "neg" in xss[0]["cls"].split()
    assert last["feed_elements"] == 0 and last["pwned"] is None
    assert last["status"] == "live" and last["errors"] == []
    assert "丝绒雾面口红" in last["stage"] and last["products"] > 0
    assert SCREENSHOT.stat().st_size > 10_000


# ---------------------------------------------------------------- Kafka feeder (real broker)

FEED_DEADLINE_S = 30.0  # aiokafka bootstrap + metadata on a cold broker takes ~1-3 s; a hang still fails


@pytest.mark.integration
async def test_kafka_feed_fills_the_hub(kafka: Any, uid: str) -> None:
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    from streams.web.feed import consume_dashboard

    snaps = show_snapshots()
    topic = f"{uid}.live.dashboard"
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    # Published before the dashboard starts: the lookback must find them. A bad value is skipped, not fatal.
    for s in snaps[:3]:
        producer.send(topic, key=k.ROOM.encode(), value=json.dumps(s, ensure_ascii=False).encode())
    producer.send(topic, key=k.ROOM.encode(), value=b"{not json")
    producer.flush()
    hub = SnapshotHub()
    feed = asyncio.create_task(consume_dashboard(hub, kafka.url, topic, lookback=10))
    try:
        async with asyncio.timeout(FEED_DEADLINE_S):
            while (f := hub.latest(k.ROOM)) is None or f.ts != snaps[2]["ts"]:
                await asyncio.sleep(0.05)
            for s in snaps[3:]:
                producer.send(topic, key=k.ROOM.encode(), value=json.dumps(s, ensure_ascii=False).encode())
            producer.flush()
            while (f := hub.latest(k.ROOM)) is None or f.ts != snaps[-1]["ts"]:
                await asyncio.sleep(0.05)
        assert json.loads(f.data) == snaps[-1]
    finally:
        feed.cancel()
        await asyncio.gather(feed, return_exceptions=True)
        producer.close()

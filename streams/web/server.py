"""The dashboard's aiohttp app: a room list, a page per room, its live snapshot stream (SSE) and JSON.

Routes (all GET):

- ``/healthz``                    liveness, never needs the token;
- ``/``                           room list (server-rendered, every value escaped);
- ``/rooms/{room_id}``            the room page: one static HTML file; ``/static/dashboard.js`` and
                                  ``/static/dashboard.css`` draw it (no library, no CDN: it works offline);
- ``/rooms/{room_id}/events``     server-sent events: the latest snapshot at once, then each new one;
- ``/rooms/{room_id}/snapshot``   the latest snapshot as JSON (404 before the first one).

Safety: with ``LIVECART_DASHBOARD_TOKEN`` set, every route but ``/healthz`` and the two static files (generic
code, no data) answers 401 unless the request carries ``?token=`` or ``Authorization: Bearer``. No
``Access-Control-Allow-Origin`` is sent unless ``LIVECART_DASHBOARD_CORS_ORIGINS`` lists the request's
origin. Every response carries a Content-Security-Policy without inline script, so even a rendering bug
cannot run a comment's markup; the page itself writes comment text with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from streams.web.hub import SnapshotHub

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
# Whitelisted static files -> content type; nothing else under static/ is served (no directory listing).
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
# A comment line every 15 s keeps idle proxies (commonly 30-60 s timeouts) from closing the stream and
# lets the server notice a client that went away (aiohttp does not cancel handlers on disconnect).
HEARTBEAT_S = 15.0
RETRY_MS = 2_000  # EventSource reconnect delay after a dropped stream
SHUTDOWN_TIMEOUT_S = 2.0  # streams end via the hub at shutdown; this bounds any straggler

@dataclass(frozen=True)
class WebSettings:
    """Dashboard service settings; each field reads the environment variable named in its comment."""

    host: str = "127.0.0.1"  # LIVECART_DASHBOARD_HOST: bind address; loopback unless you mean to expose it
    port: int = 8080  # LIVECART_DASHBOARD_PORT: TCP port (0: any free port)
    token: str = ""  # LIVECART_DASHBOARD_TOKEN: access token for page, stream and JSON; empty: no auth
    cors_origins: tuple[str, ...] = ()  # LIVECART_DASHBOARD_CORS_ORIGINS: comma-separated origins; empty: CORS closed

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> WebSettings:
        env = os.environ if environ is None else environ
        origins = tuple(o.strip().rstrip("/") for o in env.get("LIVECART_DASHBOARD_CORS_ORIGINS", "").split(",") if o.strip())
        return cls(host=env.get("LIVECART_DASHBOARD_HOST", cls.host), port=int(env.get("LIVECART_DASHBOARD_PORT", cls.port)),
                   token=env.get("LIVECART_DASHBOARD_TOKEN", ""), cors_origins=origins)


HUB_KEY = web.AppKey("hub", SnapshotHub)
SETTINGS_KEY = web.AppKey("web_settings", WebSettings)


# ---------------------------------------------------------------- access control and headers


def _authorized(request: web.Request, token: str) -> bool:
    if not token:
        return True
    given = request.query.get("token", "")
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    # Constant-time: the comparison's duration must not reveal how many leading characters matched.
    return hmac.compare_digest(given.encode(), token.encode())


_PUBLIC = {"/healthz", *(f"/static/{name}" for name in ASSETS)}


@web.middleware
async def _access(request: web.Request, handler: Any) -> web.StreamResponse:
    settings = request.app[SETTINGS_KEY]
    if request.method == "OPTIONS":
        # A CORS preflight carries no credentials; answer it here, allowed origins only.
        origin = request.headers.get("Origin", "").rstrip("/")
        if origin and origin in settings.cors_origins:
            return web.Response(status=204, headers={"Access-Control-Allow-Methods": "GET",
                                                     "Access-Control-Allow-Headers": "Authorization",
                                                     "Access-Control-Max-Age": "600"})
        return web.Response(status=403, text="403: origin not allowed\n")
    if request.path not in _PUBLIC and not _authorized(request, settings.token):
        return web.Response(status=401, text="401: a valid token is required (?token= or Authorization: Bearer)\n",
                            headers={"WWW-Authenticate": 'Bearer realm="livecart-dashboard"'})
    result: web.StreamResponse = await handler(request)
    return result


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: set on every response, streamed and error ones included, before it is sent."""
    h = response.headers
    h["Content-Security-Policy"] = CSP
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "no-referrer"  # a ?token= in the page URL must not leak through Referer
    h.setdefault("Cache-Control", "no-store")
    origin = request.headers.get("Origin", "").rstrip("/")
    if origin and origin in request.app[SETTINGS_KEY].cors_origins:
        h["Access-Control-Allow-Origin"] = origin
        h.add("Vary", "Origin")


# ---------------------------------------------------------------- handlers


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _index(request: web.Request) -> web.Response:
    hub = request.app[HUB_KEY]
    query = f"?token={quote(request.query['token'], safe='')}" if "token" in request.query else ""
    rows = []
    for r in hub.rooms():
        href = f"/rooms/{quote(r['room_id'], safe='')}{query}"
        rows.append(f'<li><a href="{html.escape(href)}">{html.escape(r["room_id"])}</a>'
                    f'<span class="muted"> · {html.escape(str(r["active_viewers"]))} watching'
                    f' · {html.escape(str(r["comments_per_min"]))} comments/min</span></li>')
    body = "\n".join(rows) or '<li class="muted">No room has published a snapshot yet.</li>'
    page = (INDEX_HTML.replace("{rooms}", body))
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def _room_page(request: web.Request) -> web.FileResponse:
    # One static file for every room: the script reads the room id from the URL, so nothing is templated.
    return web.FileResponse(STATIC / "room.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def _asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise web.HTTPNotFound()
    return web.FileResponse(STATIC / name, headers={"Content-Type": ASSETS[name], "Cache-Control": "no-cache"})


async def _snapshot(request: web.Request) -> web.Response:
    frame = request.app[HUB_KEY].latest(request.match_info["room_id"])
    if frame is None:
        return web.json_response({"error": "no snapshot yet for this room"}, status=404)
    return web.Response(text=frame.data, content_type="application/json", charset="utf-8")


async def _events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    room = request.match_info["room_id"]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                       "X-Accel-Buffering": "no"})  # nginx: do not buffer the stream
    await resp.prepare(request)
    try:
        await resp.write(f"retry: {RETRY_MS}\n\n".encode())
        with hub.subscribe(room) as sub:
            while True:
                try:
                    frame = await asyncio.wait_for(sub.get(), HEARTBEAT_S)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if frame is None:  # server shutting down
                    break
                await resp.write(f"id: {frame.ts}\nevent: snapshot\ndata: {frame.data}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass  # the page went away
    return resp


def make_app(hub: SnapshotHub, settings: WebSettings | None = None) -> web.Application:
    """The dashboard application over ``hub``; ``settings`` default to ``WebSettings.from_env()``."""
    app = web.Application(middlewares=[_access])
    app[HUB_KEY] = hub
    app[SETTINGS_KEY] = settings or WebSettings.from_env()
    app.on_response_prepare.append(_headers)

    async def _close_streams(app: web.Application) -> None:
        hub.close_subscribers()

    app.on_shutdown.append(_close_streams)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _asset)
    app.router.add_get("/rooms/{room_id}", _room_page)
    app.router.add_get("/rooms/{room_id}/events", _events)
    app.router.add_get("/rooms/{room_id}/snapshot", _snapshot)
    return app


# ---------------------------------------------------------------- running it


@dataclass
class DashboardServer:
    """A started server: ``url`` is its base (``http://host:port``); ``await close()`` stops it."""

    runner: web.AppRunner
    hub: SnapshotHub
    url: str
    token: str = ""  # the token it requires ("" : none); never printed

    def room_url(self, room_id: str, token: str = "") -> str:
        return f"{self.url}/rooms/{quote(room_id, safe='')}" + (f"?token={quote(token, safe='')}" if token else "")

    async def close(self) -> None:
        self.hub.close_subscribers()
        await self.runner.cleanup()


async def start_server(hub: SnapshotHub, *, host: str | None = None, port: int | None = None, token: str | None = None,
                       cors_origins: tuple[str, ...] | None = None) -> DashboardServer:
    """Serve ``hub`` on ``host:port`` from the running event loop; returns once it listens.

    Arguments left ``None`` come from ``WebSettings.from_env()``; ``token=""`` turns auth off and
    ``cors_origins=()`` keeps CORS closed whatever the environment says. ``port=0`` picks a free port
    (read it from ``.url``). Raises ``OSError`` when the address is taken.
    """
    env = WebSettings.from_env()
    settings = WebSettings(host=env.host if host is None else host, port=env.port if port is None else port,
                           token=env.token if token is None else token,
                           cors_origins=env.cors_origins if cors_origins is None else tuple(o.rstrip("/") for o in cors_origins))
    hub.bind(asyncio.get_running_loop())
    runner = web.AppRunner(make_app(hub, settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return DashboardServer(runner, hub, f"http://{shown}:{bound_port}", settings.token)


async def wait_for_stop() -> None:
    """Return on SIGINT or SIGTERM (Ctrl-C, ``kill``): how a served page is kept up until the person is done."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGINT, signal.SIGTERM)
    for sig in sigs:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)


def run_dashboard(*, host: str | None = None, port: int | None = None, broker: str | None = None,
                  topic_prefix: str | None = None, token: str | None = None,
                  cors_origins: tuple[str, ...] | None = None) -> None:
    """Serve the dashboard fed from Kafka's ``<prefix>live.dashboard`` until SIGINT/SIGTERM (blocking).

    ``broker``/``topic_prefix`` default to ``Settings.from_env()`` (``LIVECART_BROKER``, ``LIVECART_TOPIC_PREFIX``);
    ``host``/``port``/``token``/``cors_origins`` to ``WebSettings.from_env()`` (``LIVECART_DASHBOARD_*``).
    The page serves even while Kafka is unreachable; the feeder retries with backoff.
    """
    asyncio.run(_serve_kafka(host=host, port=port, broker=broker, topic_prefix=topic_prefix, token=token,
                             cors_origins=cors_origins))


async def _serve_kafka(*, host: str | None, port: int | None, broker: str | None, topic_prefix: str | None,
                       token: str | None, cors_origins: tuple[str, ...] | None) -> None:
    from streams import topics
    from streams.config import Settings
    from streams.web.feed import consume_dashboard

    settings = Settings.from_env()
    hub = SnapshotHub()
    server = await start_server(hub, host=host, port=port, token=token, cors_origins=cors_origins)
    topic = f"{settings.topic_prefix if topic_prefix is None else topic_prefix}{topics.DASHBOARD.name}"
    secured = " (token required)" if server.token else ""
    # The person who ran `livecart dashboard` needs the address whatever the logging setup: stderr, not a log record.
    print(f"livecart dashboard on {server.url}/{secured}, fed by {topic} from {broker or settings.broker}",
          file=sys.stderr, flush=True)
    feed = asyncio.create_task(consume_dashboard(hub, broker or settings.broker, topic))
    waiter = asyncio.create_task(wait_for_stop())
    try:
        await asyncio.wait({feed, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if feed.done():
            feed.result()  # the feeder only returns by raising: surface it
    finally:
        for t in (feed, waiter):
            t.cancel()
        await asyncio.gather(feed, waiter, return_exceptions=True)
        await server.close()


INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>livecart · rooms</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
</head>
<body>
<header class="top"><h1>livecart <span class="muted">· live rooms</span></h1></header>
<main class="rooms"><ul class="room-list">
{rooms}
</ul></main>
</body>
</html>
"""

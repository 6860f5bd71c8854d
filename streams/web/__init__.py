"""Host dashboard web service: a page per room fed live (server-sent events) from ``live.dashboard`` snapshots.

``hub`` holds the latest snapshot per room and fans new ones out; ``server`` is the aiohttp app and
``run_dashboard`` (``livecart dashboard``); ``feed`` fills a hub from Kafka; ``pacer`` and ``replay``
(``serve_replay``) let the in-process replay serve the page at the show's own pace. docs/dashboard.md has more.
"""

from __future__ import annotations

from streams.web.hub import SnapshotHub
from streams.web.pacer import SnapshotPacer
from streams.web.replay import serve_replay
from streams.web.server import DashboardServer, WebSettings, make_app, run_dashboard, start_server, wait_for_stop

__all__ = ["DashboardServer", "SnapshotHub", "SnapshotPacer", "WebSettings", "make_app", "run_dashboard", "serve_replay", "start_server",
           "wait_for_stop"]

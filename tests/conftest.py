"""Shared pytest fixtures: real Kafka (KRaft) and Redis servers started by the session, and unique test names.

The servers come from ``scripts/services.py``: started once per session on free loopback ports, stopped at the
end. If one cannot start, every test that uses it errors with the server's log tail: these fixtures never skip,
because a silently skipped integration suite looks green. ``scripts/install_services.sh`` installs what they need.

This file imports neither ``streams`` nor faust, so the service fixtures work on their own.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# `scripts` is a folder of the repository, not an installed package: make it importable from any rootdir/cwd.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from scripts.services import KafkaServer, RedisServer  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """Register our markers here too, so `--strict-markers` passes even without the pyproject entries."""
    config.addinivalue_line("markers", "integration: needs the real Kafka and/or Redis servers started by tests/conftest.py")


@pytest.fixture(scope="session")
def kafka() -> Iterator[KafkaServer]:
    """A single-node Kafka 4.1 broker on 127.0.0.1 for the whole session (``.bootstrap``, ``.url``).

    Tests may ``restart()`` / ``stop()`` + ``start()`` it (same port, same data); it must be running when the
    test ends, which the fixture checks.
    """
    server = KafkaServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` on 127.0.0.1 for the whole session (``.url``, ``.client()``), without persistence."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _services_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a shared server stopped, instead of the unrelated tests that come after it."""
    yield
    for name in ("kafka", "redis_server"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            if not server.is_running():
                server.start()
                pytest.fail(f"test left the session {name} server stopped; it was restarted")


@pytest.fixture
def uid() -> str:
    """A short unique id (8 hex chars) for topic prefixes, consumer group ids and Redis key prefixes."""
    return uuid.uuid4().hex[:8]

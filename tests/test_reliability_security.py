"""Security settings: Kafka SASL/TLS and Redis AUTH/TLS from the environment, a real AUTH round trip, no secrets in the repo.

The dashboard's token and output escaping are covered by tests/test_dashboard_web.py; docs/security.md lists it all.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path

import faust
import pytest
import redis
from redis.asyncio.connection import SSLConnection

from scripts.services import RedisServer
from streams.logic.room import Effects, RoomState
from streams.security import broker_credentials
from streams.store import RedisStore, connect
from tests import roomkit

REPO = Path(__file__).resolve().parent.parent


def test_plaintext_by_default() -> None:
    assert broker_credentials({}) is None


def test_sasl_plaintext_maps_every_variable() -> None:
    pw = uuid.uuid4().hex
    creds = broker_credentials({"LIVECART_KAFKA_SECURITY": "SASL_PLAINTEXT", "LIVECART_KAFKA_USERNAME": "svc",
                                "LIVECART_KAFKA_PASSWORD": pw, "LIVECART_KAFKA_SASL_MECHANISM": "scram-sha-512"})
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password, creds.ssl_context) == ("svc", pw, None)
    assert str(creds.mechanism.value if hasattr(creds.mechanism, "value") else creds.mechanism) == "SCRAM-SHA-512"


def test_sasl_ssl_and_ssl_carry_a_verifying_context() -> None:
    sasl = broker_credentials({"LIVECART_KAFKA_SECURITY": "sasl_ssl", "LIVECART_KAFKA_USERNAME": "svc",
                               "LIVECART_KAFKA_PASSWORD": "x"})
    assert isinstance(sasl, faust.SASLCredentials) and sasl.ssl_context is not None
    assert sasl.ssl_context.check_hostname
    tls = broker_credentials({"LIVECART_KAFKA_SECURITY": "ssl"})
    assert isinstance(tls, faust.SSLCredentials)
    assert tls.context.verify_mode.name == "CERT_REQUIRED"


def test_explicit_environ_is_not_mixed_with_os_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Before the fix, _ssl_context() read os.environ even when broker_credentials got an explicit mapping.
    monkeypatch.setenv("LIVECART_KAFKA_CAFILE", str(tmp_path / "missing-ca.pem"))
    assert isinstance(broker_credentials({"LIVECART_KAFKA_SECURITY": "ssl"}), faust.SSLCredentials)


@pytest.mark.parametrize("env, match", [
    ({"LIVECART_KAFKA_SECURITY": "tls"}, "LIVECART_KAFKA_SECURITY"),
    ({"LIVECART_KAFKA_SECURITY": "sasl_plaintext", "LIVECART_KAFKA_USERNAME": "u", "LIVECART_KAFKA_SASL_MECHANISM": "GSSAPI"},
     "LIVECART_KAFKA_SASL_MECHANISM"),
    ({"LIVECART_KAFKA_SECURITY": "sasl_ssl"}, "LIVECART_KAFKA_USERNAME"),
])
def test_unknown_or_incomplete_settings_are_rejected(env: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        broker_credentials(env)


def test_redis_url_carries_password_and_tls() -> None:
    pw = uuid.uuid4().hex
    tls = connect(f"rediss://svc:{pw}@cache.example:6380/2")
    kw = tls.connection_pool.connection_kwargs
    assert tls.connection_pool.connection_class is SSLConnection
    assert (kw["username"], kw["password"], kw["host"], kw["port"], kw["db"]) == ("svc", pw, "cache.example", 6380, 2)
    plain = connect(f"redis://:{pw}@127.0.0.1:6379/0").connection_pool.connection_kwargs
    assert plain["password"] == pw and plain.get("username") is None


@pytest.mark.integration
def test_store_authenticates_against_a_real_redis(uid: str) -> None:
    """A private redis-server with --requirepass: the password in the URL works, none or a wrong one fails fast."""
    pw = f"pw-{uuid.uuid4().hex}"
    with RedisServer(password=pw) as server:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port or 0).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port or 0, password="wrong").ping()

        async def go() -> tuple[int, set[str]]:
            store = RedisStore(connect(server.url), f"lc{uid}")
            try:
                room = RoomState(roomkit.catalog().rooms[roomkit.ROOM])
                await store.commit(room, "rooms", ["e1"], Effects(), 0)
                return await store.check(room.room_id, "rooms", ["e1", "e2"])
            finally:
                await store.close()

        version, seen = asyncio.run(go())
        assert version == 1 and seen == {"e1"}


# Shapes of real credentials; placeholders in docs ("<password>", "${...}", "changeme") do not match.
SECRET_PATTERNS = [
    re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    re.compile(rb"AKIA[0-9A-Z]{16}"),  # AWS access key id
    re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}"),  # GitHub token
    re.compile(rb"xox[abpr]-[A-Za-z0-9-]{10,}"),  # Slack token
    re.compile(rb"sk-[A-Za-z0-9]{32,}"),  # OpenAI-style API key
    re.compile(rb"rediss?://[^\s:/@'\"]*:(?![<$]|password@|changeme@|secret@|pw@)[^\s@/'\"{]{6,}@"),  # Redis URL with a password
    re.compile(rb"LIVECART_KAFKA_PASSWORD=(?![<$\"'\s(])\S{6,}"),
]


def test_no_secrets_in_the_repository() -> None:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.split(b"\0")
    hits = []
    for name in filter(None, files):
        path = REPO / name.decode()
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        data = path.read_bytes()
        hits += [f"{name.decode()}: {m.group()[:30]!r}" for p in SECRET_PATTERNS for m in p.finditer(data)]
    assert hits == []

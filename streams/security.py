"""Kafka SASL/TLS settings from environment variables (secrets come from the environment, never the repo).

| variable                     | default | meaning                                            |
|------------------------------|---------|----------------------------------------------------|
| LIVECART_KAFKA_SECURITY      | ``""``  | ``""`` (plaintext), ``ssl``, ``sasl_plaintext`` or ``sasl_ssl`` |
| LIVECART_KAFKA_SASL_MECHANISM| PLAIN   | PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512              |
| LIVECART_KAFKA_USERNAME      | ``""``  | SASL user                                          |
| LIVECART_KAFKA_PASSWORD      | ``""``  | SASL password                                      |
| LIVECART_KAFKA_CAFILE        | ``""``  | CA bundle for TLS (system default when empty)      |
| LIVECART_KAFKA_CERTFILE / _KEYFILE | ``""`` | client certificate for mutual TLS           |

Redis AUTH and TLS go in LIVECART_REDIS_URL (``rediss://user:password@host:port/0``).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

import faust


def _ssl_context(env: Mapping[str, str]) -> ssl.SSLContext:
    # Reads the same mapping as broker_credentials: an explicit ``environ`` must not mix with os.environ.
    ctx = ssl.create_default_context(cafile=env.get("LIVECART_KAFKA_CAFILE") or None)
    cert = env.get("LIVECART_KAFKA_CERTFILE")
    if cert:
        ctx.load_cert_chain(cert, env.get("LIVECART_KAFKA_KEYFILE") or None)
    return ctx


def broker_credentials(environ: Mapping[str, str] | None = None) -> Any:
    """faust credentials for the configured security protocol, or None for plaintext.

    Raises ValueError for an unknown LIVECART_KAFKA_SECURITY or LIVECART_KAFKA_SASL_MECHANISM, and for
    SASL without a username: a typo must stop the worker, not fall back to plaintext or an anonymous login.
    """
    env = os.environ if environ is None else environ
    mode = env.get("LIVECART_KAFKA_SECURITY", "").lower()
    if not mode:
        return None
    if mode == "ssl":
        return faust.SSLCredentials(_ssl_context(env))
    if mode in ("sasl_plaintext", "sasl_ssl"):
        mechanism = env.get("LIVECART_KAFKA_SASL_MECHANISM", "PLAIN").upper()
        if mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise ValueError(f"LIVECART_KAFKA_SASL_MECHANISM must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; got {mechanism!r}")
        if not env.get("LIVECART_KAFKA_USERNAME"):
            raise ValueError(f"LIVECART_KAFKA_SECURITY={mode} needs LIVECART_KAFKA_USERNAME (and _PASSWORD)")
        return faust.SASLCredentials(
            username=env.get("LIVECART_KAFKA_USERNAME", ""),
            password=env.get("LIVECART_KAFKA_PASSWORD", ""),
            mechanism=mechanism,
            ssl_context=_ssl_context(env) if mode == "sasl_ssl" else None,
        )
    raise ValueError(f"LIVECART_KAFKA_SECURITY must be ssl, sasl_plaintext or sasl_ssl; got {mode!r}")

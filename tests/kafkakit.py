"""Helpers for tests against the real broker: a worker subprocess, producing events, reading topics until a condition holds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer  # type: ignore[import-untyped]

from streams.eventlog import log_value

REPO = Path(__file__).resolve().parent.parent
# A cold worker on 2 shared cores: Python + onnxruntime import, model load, consumer-group join (~5-15 s);
# the deadline is generous so a loaded CI machine does not flake, and a hung worker still fails the test.
WORKER_DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(bootstrap: str, redis_url: str, uid: str, catalog: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "LIVECART_BROKER": f"kafka://{bootstrap}", "LIVECART_REDIS_URL": redis_url, "LIVECART_APP_ID": f"lc-{uid}",
        "LIVECART_TOPIC_PREFIX": f"{uid}.", "LIVECART_KEY_PREFIX": f"lc{uid}", "LIVECART_CATALOG": str(catalog),
        "LIVECART_PARTITIONS": "4", "LIVECART_BATCH_WITHIN_MS": "10", "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


class Worker:
    """``faust -A streams.app worker`` as a real process with its own web port and data dir."""

    def __init__(self, env: dict[str, str], workdir: Path, name: str = "w1") -> None:
        self.log = workdir / f"{name}.log"
        self.workdir = workdir
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        faust = str(Path(sys.executable).with_name("faust"))
        argv = [faust, "-A", "streams.app", "worker", "-l", "info", "--web-port", str(free_port()), "--web-host", "127.0.0.1"]
        fh = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, cwd=self.workdir, env={**self.env, "PYTHONPATH": str(REPO)}, stdout=fh,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, n: int = 80) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:]) if self.log.exists() else ""


class Producer:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.p = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", linger_ms=0)
        self.prefix = prefix

    def send(self, topic: str, value: Any, key: str | None = None) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        if key is None and isinstance(value, dict):
            key = value.get("room_id")
        self.p.send(self.prefix + topic, key=key.encode() if key else None, value=raw).get(timeout=30)

    def close(self) -> None:
        self.p.close()


class Reader:
    """Accumulates everything on some topics; ``wait`` polls until a predicate on what was read holds."""

    def __init__(self, bootstrap: str, prefix: str, topics: list[str]) -> None:
        self.c = KafkaConsumer(*(prefix + t for t in topics), bootstrap_servers=[bootstrap], auto_offset_reset="earliest",
                               enable_auto_commit=False, group_id=None, consumer_timeout_ms=200,
                               metadata_max_age_ms=500)
        self.prefix = prefix
        self.seen: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}

    def poll(self) -> None:
        for batch in self.c.poll(timeout_ms=200).values():
            for m in batch:
                self.seen[m.topic[len(self.prefix):]].append(log_value(m.value))  # warm-up garbage stays raw

    def wait(self, what: str, cond: Callable[[dict[str, list[dict[str, Any]]]], Any], deadline_s: float,
             worker: Worker | None = None) -> Any:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            self.poll()
            got = cond(self.seen)
            if got:
                return got
            if worker is not None and not worker.alive():
                raise AssertionError(f"worker died while waiting for {what}:\n{worker.tail()}")
        tail = worker.tail() if worker else ""
        raise AssertionError(f"timed out after {deadline_s}s waiting for {what}; seen counts "
                             f"{ {k: len(v) for k, v in self.seen.items()} }\n{tail}")

    def close(self) -> None:
        self.c.close()

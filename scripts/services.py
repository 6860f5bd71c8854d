"""Throwaway Kafka (KRaft, single node) and Redis servers on loopback ports, for tests and local development.

Kafka runs from the Maven Central jars listed in ``scripts/kafka/pom.xml``, resolved once into
``.cache/kafka/libs`` (Maven's local repository in ``.cache/m2``); no Kafka tarball, no Docker.
Redis runs the ``redis-server`` binary found on ``PATH`` (``scripts/install_services.sh`` installs it).

Each server lives in its own temporary folder (config, data, logs), listens on 127.0.0.1 only, and can be
stopped and started again on the same port with the same data (broker restarts, Redis outages).

Command line (for local development)::

    python -m scripts.services up          # start both, print LIVECART_BROKER / LIVECART_REDIS_URL, wait for Ctrl-C
    python -m scripts.services jars        # only resolve the Kafka jars (scripts/install_services.sh runs this)
    python -m scripts.services measure --cold --runs 5   # the start-up timings of docs/services.md, as JSON

Environment variables:

- ``LIVECART_CACHE_DIR``: where jars and the Maven repository go (default ``<repo>/.cache``).
- ``LIVECART_KEEP_SERVICE_DIRS=1``: keep the servers' temporary folders (logs, data) after ``close()``.

Only the standard library, kafka-python and redis-py are used, so this works before livecart is installed.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

import redis
from kafka import KafkaAdminClient  # type: ignore[import-untyped]  # kafka-python ships no type information

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "scripts" / "kafka" / "pom.xml"
LOOPBACK = "127.0.0.1"

# A cold JVM on a 2-core machine reaches "broker ready" in about 5 s (docs/services.md); 90 s leaves room for a
# loaded CI runner without letting a hung broker stall a test session for long.
KAFKA_STARTUP_TIMEOUT_S = 90.0
# redis-server answers PING within ~10 ms of starting; 10 s only matters on a badly overloaded machine.
REDIS_STARTUP_TIMEOUT_S = 10.0
# A single-node broker shuts down cleanly in 0.3-0.6 s here (docs/services.md); past this we SIGKILL (the data dir stays usable: Kafka
# recovers unflushed segments on the next start, which is what a crash test wants anyway).
STOP_GRACE_S = 20.0
# Maven resolution from an empty cache takes ~10-20 s here; 15 min covers a slow mirror.
MVN_TIMEOUT_S = 900.0
# Ports picked by binding port 0 can be taken by someone else before the server binds them; retry with new ones.
PORT_ATTEMPTS = 3
# JVM flags of the broker and the storage tool (heap is set per process).
KAFKA_JVM_OPTIONS: tuple[str, ...] = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# C1-only JIT: on 2 cores it cut broker start from ~6.5 s to ~4.9 s and a restart from ~7 s to ~3.4 s
# (docs/services.md). Peak broker throughput is lower, which only a benchmark of Kafka itself would notice;
# pass KafkaServer(fast_startup=False) there.
KAFKA_FAST_STARTUP_OPTIONS: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)
# How often readiness is polled.
POLL_INTERVAL_S = 0.1

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class ServiceError(RuntimeError):
    """A service could not be installed, started or stopped; the message carries the log tail."""


def cache_dir() -> Path:
    """The cache folder: ``$LIVECART_CACHE_DIR`` or ``<repo>/.cache`` (git-ignored)."""
    return Path(os.environ.get("LIVECART_CACHE_DIR") or REPO_ROOT / ".cache").resolve()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _mvn_executable() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("mvn not found on PATH: run scripts/install_services.sh (apt-get install maven)")
    return mvn


def _java_executable() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "java not found on PATH: Kafka 4.1 needs Java 17+; run scripts/install_services.sh (apt-get install default-jre-headless)"
        )
    return java


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so parallel test processes resolve the jars once instead of racing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_kafka_jars(*, cache: Path | None = None, pom: Path = KAFKA_POM) -> Path:
    """Resolve the Kafka broker jars into ``<cache>/kafka/libs`` with Maven and return that folder.

    Idempotent: a stamp file holds the SHA-256 of ``pom``; when it matches, nothing runs (a few ms).
    Otherwise ``mvn dependency:copy-dependencies`` runs with ``-Dmaven.repo.local=<cache>/m2`` into a
    side folder that replaces ``libs`` only once complete, so an interrupted run never leaves half a classpath.

    Raises ServiceError if ``mvn`` is missing or the resolution fails (the Maven output is in the message).
    """
    root = (cache or cache_dir()).resolve()
    libs = root / "kafka" / "libs"
    stamp = libs / ".pom.sha256"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()

    def fresh() -> bool:
        return stamp.is_file() and stamp.read_text().strip() == digest

    if fresh():
        return libs
    with _file_lock(root / "kafka" / ".lock"):
        if fresh():  # another process finished while we waited for the lock
            return libs
        partial = root / "kafka" / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [
            _mvn_executable(),
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={partial}",  # absolute: Maven resolves relative paths against the pom's folder
            f"-Dmaven.repo.local={root / 'm2'}",
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"mvn did not finish within {MVN_TIMEOUT_S:.0f} s: {' '.join(cmd)}") from exc
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr)[-4000:]
            raise ServiceError(f"mvn failed with exit code {proc.returncode}: {' '.join(cmd)}\n{output}")
        if not list(partial.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"mvn succeeded but {partial} holds no kafka_2.13 jar; check {pom}")
        (partial / ".pom.sha256").write_text(digest + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    return libs


# --- process handling shared by both servers ---------------------------------------------------------------

_LIVE: weakref.WeakSet[_ManagedServer] = weakref.WeakSet()


def _child_setup() -> None:
    """Runs in the child between fork and exec: have Linux SIGTERM it if our process dies.

    Without this a killed pytest (SIGKILL, OOM, CI timeout) leaves a 512 MB JVM and a redis-server behind,
    holding ports for the next run. Only installed for children started from the main thread: Linux sends the
    signal when the *thread* that forked exits, which would kill a server started from a short-lived thread.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class _ManagedServer:
    """A background process with a work folder, a log file and SIGTERM-then-SIGKILL stopping."""

    name = "server"

    def __init__(self) -> None:
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._probe_error = "none"  # why the last readiness probe failed, for the timeout message
        self.timings: dict[str, float] = {}  # seconds spent in the phases of the last start(), for docs/services.md
        _LIVE.add(self)

    @property
    def workdir(self) -> Path:
        """The temporary folder with this server's config, data and logs (exists after the first start)."""
        if self._dir is None:
            raise ServiceError(f"{self.name} was never started")
        return self._dir

    @property
    def stdout_path(self) -> Path:
        """The file that receives the process's stdout and stderr."""
        return self.workdir / "stdout.log"

    @property
    def pid(self) -> int | None:
        """The process id while running, else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def is_running(self) -> bool:
        """True while the server process is alive (not necessarily ready)."""
        return self._proc is not None and self._proc.poll() is None

    def _make_dir(self, prefix: str) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=prefix))
        return self._dir

    def _spawn(self, argv: Sequence[str], *, env: dict[str, str] | None = None) -> None:
        main_thread = threading.current_thread() is threading.main_thread()
        with self.stdout_path.open("ab") as out:
            self._proc = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                # Own session: a Ctrl-C in the terminal reaches only us, and we stop the servers in order.
                start_new_session=True,
                preexec_fn=_child_setup if main_thread else None,  # noqa: PLW1509 (see _child_setup)
            )

    def _wait_until(self, ready: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise ServiceError(f"{self.name} exited during startup (exit code {code})\n{self.log_tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                self._kill()
                raise ServiceError(
                    f"{self.name} not ready after {timeout_s:.0f} s (last probe: {self._probe_error})\n{self.log_tail()}"
                )
            time.sleep(POLL_INTERVAL_S)

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the process: SIGTERM, then SIGKILL after ``grace_s`` seconds. Keeps the port and data."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """``stop()`` then ``start()``: same port (Kafka: same data too; Redis keeps no data)."""
        self.stop()
        self.start()

    def kill(self) -> None:
        """SIGKILL the process (a crash, for reliability tests). Keeps the port and data."""
        self._kill()

    def close(self) -> None:
        """Stop and delete the work folder (kept if ``LIVECART_KEEP_SERVICE_DIRS=1``)."""
        self.stop()
        if self._dir is not None and os.environ.get("LIVECART_KEEP_SERVICE_DIRS") != "1":
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's log files, for failure messages."""
        if self._dir is None:
            return "(no logs: never started)"
        parts = [f"--- {path} ---\n{_tail(path, lines)}" for path in self._log_files() if path.exists()]
        return "\n".join(parts) or f"(no log files in {self._dir})"

    def _log_files(self) -> list[Path]:
        return [self.stdout_path]

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


@atexit.register
def _stop_all() -> None:
    """Safety net for a process that exits without closing its servers."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(grace_s=5.0)


# --- Kafka -----------------------------------------------------------------------------------------------

_LOG4J2 = """\
# Kafka's log4j2 output goes to a file in the work folder; the console stays quiet.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# One line per request at DEBUG otherwise; WARN keeps only problems.
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's ``Uuid.toString``).

    Like Kafka's ``Uuid.randomUuid`` we redraw ids that start with "-": the storage tool's argument parser would
    read one as an option (about 1 draw in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaServer(_ManagedServer):
    """A single-node Kafka 4.1 broker+controller (KRaft) on 127.0.0.1, run from the cached Maven jars.

    ``start()`` picks free ports (unless given), writes ``server.properties`` and a log4j2 config in a temp
    folder, formats the log dir with ``kafka.tools.StorageTool`` and launches ``kafka.Kafka``; it returns once
    a Kafka ``DescribeCluster`` request lists the broker. ``stop()``/``start()`` (or ``restart()``) and
    ``kill()``/``start()`` reuse the same ports, cluster id and data, so produced messages and committed offsets
    survive; ``close()`` stops it and deletes the folder.

    Arguments: ``port``/``controller_port`` fixed TCP ports (default: free ones); ``heap_mb`` JVM max heap, MiB;
    ``num_partitions`` of auto-created topics; ``fast_startup`` C1-only JIT (see KAFKA_FAST_STARTUP_OPTIONS);
    ``startup_timeout_s`` deadline for readiness, s; ``extra_properties`` override ``server_properties()``;
    ``cache`` jar cache folder (default ``cache_dir()``).
    """

    name = "kafka"

    def __init__(
        self,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap_mb: int = 512,
        num_partitions: int = 4,
        fast_startup: bool = True,
        startup_timeout_s: float = KAFKA_STARTUP_TIMEOUT_S,
        extra_properties: dict[str, str] | None = None,
        cache: Path | None = None,
    ) -> None:
        super().__init__()
        self.cache = cache
        self._fixed_ports = port is not None
        self.port = port
        self.controller_port = controller_port
        self.heap_mb = heap_mb
        self.fast_startup = fast_startup
        self.num_partitions = num_partitions
        self.startup_timeout_s = startup_timeout_s
        self.extra_properties = dict(extra_properties or {})
        self.cluster_id = _new_cluster_id()
        self._libs: Path | None = None
        self._formatted = False

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients (kafka-python, aiokafka)."""
        if self.port is None:
            raise ServiceError("kafka was never started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port``: the form of ``LIVECART_BROKER`` / faust's ``broker``."""
        return f"kafka://{self.bootstrap}"

    @property
    def log_path(self) -> Path:
        """Kafka's own log (log4j2)."""
        return self.workdir / "kafka.log"

    def _log_files(self) -> list[Path]:
        return [self.stdout_path, self.workdir / "format.log", self.log_path]

    def close(self) -> None:
        """Stop and delete the work folder; a later ``start()`` formats a new, empty log dir."""
        super().close()
        if self._dir is None:
            self._formatted = False

    def server_properties(self) -> dict[str, str]:
        """The broker configuration written to ``server.properties``."""
        assert self.port is not None and self.controller_port is not None
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static quorum: the voter set lives in the config, so a restart on the same ports needs nothing else.
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": str(self.num_partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "auto.create.topics.enable": "true",
            "offsets.topic.replication.factor": "1",
            # The default 50 partitions make the first consumer-group join create 50 logs: first consume+commit
            # took 0.73-0.83 s with 50 and 0.42-0.47 s with 8 on 2 cores.
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests start one consumer at a time; the 3 s default delay would only slow every first join.
            "group.initial.rebalance.delay.ms": "0",
            # After a crash (SIGKILL) the restarted broker cannot register until the controller has fenced its
            # previous incarnation, i.e. until this session times out: 9 s by default, measured 13.5 s from kill
            # to ready. 4 s (heartbeat 1 s) halves that and still tolerates a few missed heartbeats on a busy CI box.
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
        }
        props.update(self.extra_properties)
        return props

    def _write_config(self) -> Path:
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in self.server_properties().items()))
        (self.workdir / "log4j2.properties").write_text(_LOG4J2.format(log=self.log_path))
        return path

    def _java_argv(self, main: str, *args: str, heap_mb: int) -> list[str]:
        assert self._libs is not None
        return [
            _java_executable(),
            f"-Xmx{heap_mb}m",
            "-Xms64m",
            *KAFKA_JVM_OPTIONS,
            *(KAFKA_FAST_STARTUP_OPTIONS if self.fast_startup else ()),
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{self._libs}/*",
            main,
            *args,
        ]

    def _format(self, config: Path) -> None:
        # Kafka 4.1: `kafka-storage format -t <cluster id> -c <config>`; --standalone is only for a dynamic
        # quorum (controller.quorum.bootstrap.servers), and we use a static one.
        argv = self._java_argv("kafka.tools.StorageTool", "format", "-t", self.cluster_id, "-c", str(config), heap_mb=256)
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=self.workdir, capture_output=True, text=True, timeout=120, check=False)
        self.timings["format_s"] = time.monotonic() - started
        (self.workdir / "format.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            raise ServiceError(f"kafka storage format failed (exit code {proc.returncode})\n{proc.stdout}{proc.stderr}")
        self._formatted = True

    def _ready(self) -> bool:
        assert self.port is not None
        if not _port_open(LOOPBACK, self.port):  # cheap check first: kafka-python logs every refused connection
            self._probe_error = f"port {self.port} closed"
            return False
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="livecart-readiness",
                request_timeout_ms=5000,
                bootstrap_timeout_ms=2000,
            )
        except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends while the broker boots
            self._probe_error = repr(exc)
            return False
        try:
            cluster = admin.describe_cluster()
        except Exception as exc:
            self._probe_error = repr(exc)
            return False
        finally:
            admin.close()
        # The listener can answer before the broker is registered and unfenced; until then no broker is listed
        # and topic auto-creation would fail.
        brokers = [b for b in cluster.get("brokers", []) if not b.get("is_fenced", False)]
        self._probe_error = f"DescribeCluster listed no unfenced broker: {cluster!r}"
        return bool(brokers)

    def _launch_and_wait(self) -> None:
        config = self.workdir / "server.properties"
        started = time.monotonic()
        self._spawn(self._java_argv("kafka.Kafka", str(config), heap_mb=self.heap_mb))
        self._wait_until(self._ready, self.startup_timeout_s)
        self.timings["ready_s"] = time.monotonic() - started

    def start(self) -> None:
        """Start the broker (formatting it on the first call) and return once it serves requests.

        Raises ServiceError (with the log tail) if Java/Maven are missing, the jars cannot be resolved, or the
        broker does not become ready within ``startup_timeout_s``.
        """
        if self.is_running():
            return
        self.timings = {}
        if self._formatted:
            self._launch_and_wait()
            return
        started = time.monotonic()
        self._libs = ensure_kafka_jars(cache=self.cache)
        self.timings["jars_s"] = time.monotonic() - started
        self._make_dir("livecart-kafka-")
        attempts = 1 if self._fixed_ports else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            if not self._fixed_ports:
                self.port = free_port()
                self.controller_port = free_port()
                while self.controller_port == self.port:
                    self.controller_port = free_port()
            elif self.controller_port is None:
                self.controller_port = free_port()
            shutil.rmtree(self.workdir / "data", ignore_errors=True)
            self._format(self._write_config())
            try:
                self._launch_and_wait()
                return
            except ServiceError:
                if attempt == attempts or "Address already in use" not in self.log_tail(400):
                    raise
                self._formatted = False  # new ports: start over with a fresh data dir


# --- Redis -----------------------------------------------------------------------------------------------


def redis_executable() -> str:
    """The ``redis-server`` binary on PATH; raises ServiceError with the install hint if absent."""
    path = shutil.which("redis-server")
    if path is None:
        raise ServiceError("redis-server not found on PATH: run scripts/install_services.sh (apt-get install redis-server)")
    return path


class RedisServer(_ManagedServer):
    """A ``redis-server`` on 127.0.0.1 without persistence; ``stop()``/``start()`` keep the port (data is lost).

    ``start()`` returns once the server answers PING. Persistence is off (``--save "" --appendonly no``):
    tests want a clean, fast server, and an outage test wants exactly "the server went away".
    """

    name = "redis"

    def __init__(
        self,
        *,
        port: int | None = None,
        startup_timeout_s: float = REDIS_STARTUP_TIMEOUT_S,
        password: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        """``password``: require AUTH (``--requirepass``; ``url`` and ``client()`` carry it). ``extra_args``: more
        ``redis-server`` options, after ours so they win (e.g. ``--appendonly yes`` to survive ``stop()``)."""
        super().__init__()
        self.password = password
        self.extra_args = tuple(extra_args)
        self._fixed_port = port is not None
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._started_once = False

    @property
    def url(self) -> str:
        """``redis://host:port/0``: the form of ``LIVECART_REDIS_URL``."""
        if self.port is None:
            raise ServiceError("redis was never started")
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{LOOPBACK}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """redis-server's own log."""
        return self.workdir / "redis.log"

    def _log_files(self) -> list[Path]:
        return [self.stdout_path, self.log_path]

    def client(self) -> redis.Redis:
        """A new redis-py client for this server (the caller closes it)."""
        return redis.Redis.from_url(self.url)

    def _ready(self) -> bool:
        assert self.port is not None
        try:
            with redis.Redis(host=LOOPBACK, port=self.port, password=self.password, socket_timeout=1.0,
                             socket_connect_timeout=1.0) as client:
                return bool(client.ping())
        except redis.RedisError as exc:
            self._probe_error = repr(exc)
            return False

    def _launch_and_wait(self) -> None:
        assert self.port is not None
        argv = [
            redis_executable(),
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            *(("--requirepass", self.password) if self.password else ()),
            *self.extra_args,
        ]  # fmt: skip
        started = time.monotonic()
        self._spawn(argv)
        self._wait_until(self._ready, self.startup_timeout_s)
        self.timings["ready_s"] = time.monotonic() - started

    def start(self) -> None:
        """Start redis-server (on the same port as before, if it ran already) and wait for PING.

        Raises ServiceError if the binary is missing or the server does not answer in time.
        """
        if self.is_running():
            return
        redis_executable()
        self._make_dir("livecart-redis-")
        if self._started_once or self._fixed_port:
            self._launch_and_wait()
            self._started_once = True
            return
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = free_port()
            try:
                self._launch_and_wait()
                self._started_once = True
                return
            except ServiceError:
                if attempt == PORT_ATTEMPTS or "Address already in use" not in self.log_tail(100):
                    raise


# --- start-up measurement (docs/services.md) --------------------------------------------------------------


def _timed(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return round(time.monotonic() - started, 3)


def _summary(samples: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = sorted({key for sample in samples for key in sample})
    return {
        key: {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }
        for key in keys
        if (values := [sample[key] for sample in samples if key in sample])
    }


def _java_version() -> str:
    proc = subprocess.run([_java_executable(), "-version"], capture_output=True, text=True, check=False)
    return (proc.stderr or proc.stdout).splitlines()[0] if (proc.stderr or proc.stdout) else "unknown"


def measure_startup(*, runs: int = 3, cold: bool = False) -> dict[str, object]:
    """Time the start, restart and stop of both servers; returns a JSON-ready dict (seconds).

    ``cold``: first start one broker with a new, empty cache folder, so the time includes Maven resolving every
    jar and plugin from Maven Central (what a fresh checkout pays once). Then ``runs`` warm rounds with the
    normal cache: Kafka start (format + JVM + ready), restart (stop + start on the same port and data), start
    after a SIGKILL, stop;
    Redis start and stop + start. "Ready" is the same test the fixtures use (DescribeCluster lists an unfenced
    broker; Redis answers PING).
    """
    result: dict[str, object] = {
        "host": {
            "cpus": os.cpu_count(),
            "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
            "java": _java_version(),
            "python": sys.version.split()[0],
            "redis_server": subprocess.run(
                [redis_executable(), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
        "runs": runs,
    }
    if cold:
        empty_cache = Path(tempfile.mkdtemp(prefix="livecart-cold-cache-"))
        try:
            broker = KafkaServer(cache=empty_cache)
            total = _timed(broker.start)
            result["kafka_cold"] = {"start_s": total, **{k: round(v, 3) for k, v in broker.timings.items()}}
            broker.close()
        finally:
            shutil.rmtree(empty_cache, ignore_errors=True)
    kafka_runs: list[dict[str, float]] = []
    redis_runs: list[dict[str, float]] = []
    for _ in range(runs):
        broker = KafkaServer()
        try:
            sample = {"start_s": _timed(broker.start), **broker.timings}
            sample["restart_s"] = _timed(broker.restart)
            broker.kill()
            sample["crash_restart_s"] = _timed(broker.start)  # SIGKILL then start: the reliability tests' case
            sample["stop_s"] = _timed(broker.stop)
        finally:
            broker.close()
        kafka_runs.append(sample)
        store = RedisServer()
        try:
            redis_sample = {"start_s": _timed(store.start)}
            redis_sample["restart_s"] = _timed(store.restart)
        finally:
            store.close()
        redis_runs.append(redis_sample)
    result["kafka_warm"] = _summary(kafka_runs)
    result["redis"] = _summary(redis_runs)
    return result


# --- command line ----------------------------------------------------------------------------------------


def run_up(*, kafka: bool = True, redis_: bool = True, kafka_port: int | None = None, redis_port: int | None = None) -> int:
    """Start the services, print their env vars, block until SIGINT/SIGTERM, stop them. Returns the exit code."""
    servers: list[_ManagedServer] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell without job control starts background commands with SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        lines = []
        if kafka:
            started = time.monotonic()
            broker = KafkaServer(port=kafka_port)
            servers.append(broker)
            broker.start()
            print(f"kafka ready in {time.monotonic() - started:.1f} s; logs in {broker.workdir}", file=sys.stderr)
            lines.append(f"LIVECART_BROKER={broker.url}")
        if redis_:
            started = time.monotonic()
            store = RedisServer(port=redis_port)
            servers.append(store)
            store.start()
            print(f"redis ready in {time.monotonic() - started:.1f} s; logs in {store.workdir}", file=sys.stderr)
            lines.append(f"LIVECART_REDIS_URL={store.url}")
        print("export " + " ".join(lines), flush=True)
        print("running; Ctrl-C stops the services", file=sys.stderr, flush=True)
        while True:
            for server in servers:
                if not server.is_running():
                    print(f"{server.name} exited unexpectedly\n{server.log_tail()}", file=sys.stderr)
                    return 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(servers):
            server.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m scripts.services``."""
    parser = argparse.ArgumentParser(prog="python -m scripts.services", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start Kafka and Redis in the foreground until Ctrl-C")
    up.add_argument("--no-kafka", action="store_true", help="do not start Kafka")
    up.add_argument("--no-redis", action="store_true", help="do not start Redis")
    up.add_argument("--kafka-port", type=int, default=None, help="fixed Kafka port (default: a free one)")
    up.add_argument("--redis-port", type=int, default=None, help="fixed Redis port (default: a free one)")
    sub.add_parser("jars", help="resolve the Kafka jars into the cache and print their folder")
    measure = sub.add_parser("measure", help="time start/restart/stop of both servers, print JSON")
    measure.add_argument("--runs", type=int, default=3, help="warm rounds (default 3)")
    measure.add_argument("--cold", action="store_true", help="first time one start with an empty jar cache")
    args = parser.parse_args(argv)
    if args.command == "measure":
        print(json.dumps(measure_startup(runs=args.runs, cold=args.cold), indent=2))
        return 0
    if args.command == "jars":
        try:
            print(ensure_kafka_jars())
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    return run_up(kafka=not args.no_kafka, redis_=not args.no_redis, kafka_port=args.kafka_port, redis_port=args.redis_port)


if __name__ == "__main__":
    sys.exit(main())

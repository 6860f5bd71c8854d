"""Settings: one frozen object filled from environment variables, each with its default and unit."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Literal

Device = Literal["auto", "cpu", "cuda"]
ModelVariant = Literal["auto", "fp32", "int8"]


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Every field reads the environment variable named in its metadata."""

    broker: str = field(
        default="kafka://127.0.0.1:9092",
        metadata={"env": "LIVECART_BROKER", "doc": "Kafka bootstrap URL(s); faust's BROKER_URL also works."},
    )
    redis_url: str = field(
        default="redis://127.0.0.1:6379/0",
        metadata={"env": "LIVECART_REDIS_URL", "doc": "Redis URL (redis:// or rediss:// for TLS)."},
    )
    app_id: str = field(default="livecart", metadata={"env": "LIVECART_APP_ID", "doc": "Faust app id = consumer group."})
    topic_prefix: str = field(
        default="", metadata={"env": "LIVECART_TOPIC_PREFIX", "doc": "Prefix prepended to every topic name (tests use a uuid)."}
    )
    key_prefix: str = field(
        default="lc", metadata={"env": "LIVECART_KEY_PREFIX", "doc": "Prefix of every Redis key."}
    )
    partitions: int = field(default=4, metadata={"env": "LIVECART_PARTITIONS", "doc": "Partitions per topic when livecart creates them."})
    metadata_refresh_s: float = field(
        default=5.0,
        metadata={"env": "LIVECART_METADATA_REFRESH_S", "doc": "How often a worker re-reads topic metadata: a topic or partition that appears after its consumer group formed is consumed within about this long (faust's default: 300 s)."},
    )
    catalog_path: str = field(
        default="", metadata={"env": "LIVECART_CATALOG", "doc": "Catalog JSONL loaded at start (empty: the demo catalog)."}
    )
    model_dir: str = field(default="", metadata={"env": "LIVECART_MODEL_DIR", "doc": "Folder of the ONNX models (empty: the shipped ones)."})
    device: Device = field(default="auto", metadata={"env": "LIVECART_DEVICE", "doc": "ONNX device: auto, cpu or cuda."})
    model_variant: ModelVariant = field(
        default="fp32",
        metadata={"env": "LIVECART_MODEL_VARIANT", "doc": "fp32 (scores independent of micro-batching: replay = live) or int8 (faster on CPU; dynamic quantisation makes scores depend on the batch) or auto."},
    )
    # 1 thread: on 2 cores shared with Kafka, Redis and the event loop, 1 thread gave 2x the comment
    # throughput of the library default (bench/variants_500eps.json).
    ort_threads: int = field(default=1, metadata={"env": "LIVECART_ORT_THREADS", "doc": "Cores the comment models may use (0: all); intra-op threads of each run when LIVECART_ORT_LANES is 1."})
    ort_lanes: int = field(default=1, metadata={"env": "LIVECART_ORT_LANES", "doc": "Runs of one micro-batch executed concurrently, each with LIVECART_ORT_THREADS // lanes threads (on a dedicated 2-core box, 2 threads as 2 lanes was fastest: models/README.md)."})
    analysis_cache: int = field(
        default=50_000,
        metadata={"env": "LIVECART_ANALYSIS_CACHE", "doc": "Distinct comment texts whose model output is memoised (LRU; 0: off). Live comments repeat: 83 % of the demo log's are repeats."},
    )
    batch_size: int = field(default=64, metadata={"env": "LIVECART_BATCH_SIZE", "doc": "Max events per micro-batch."})
    batch_within_ms: int = field(default=20, metadata={"env": "LIVECART_BATCH_WITHIN_MS", "doc": "Max wait to fill a micro-batch, ms."})
    publish_timeout_s: float = field(
        default=120.0,
        metadata={"env": "LIVECART_PUBLISH_TIMEOUT_S", "doc": "A batch's sends unacknowledged this long: the worker exits (non-zero) for its supervisor to restart it; uncommitted input is re-read."},
    )
    state_ttl_s: int = field(default=86_400, metadata={"env": "LIVECART_STATE_TTL_S", "doc": "TTL of room/viewer state keys, s."})
    dedupe_ttl_s: int = field(default=86_400, metadata={"env": "LIVECART_DEDUPE_TTL_S", "doc": "TTL of event_id dedupe markers, s."})
    half_life_s: float = field(default=300.0, metadata={"env": "LIVECART_HALF_LIFE_S", "doc": "Half-life of room counters and context vectors, s."})
    viewer_half_life_s: float = field(
        default=600.0, metadata={"env": "LIVECART_VIEWER_HALF_LIFE_S", "doc": "Half-life of a viewer's interest vector, s."}
    )
    top_k: int = field(default=5, metadata={"env": "LIVECART_TOP_K", "doc": "Suggestions per list (products, knowledge)."})
    room_refresh_ms: int = field(
        default=2_000, metadata={"env": "LIVECART_ROOM_REFRESH_MS", "doc": "Min event-time gap between room-wide refreshes, ms."}
    )
    max_room_refresh_viewers: int = field(
        default=200, metadata={"env": "LIVECART_MAX_ROOM_REFRESH_VIEWERS", "doc": "Most recently active viewers refreshed on a room change."}
    )
    dashboard_interval_ms: int = field(
        default=1_000, metadata={"env": "LIVECART_DASHBOARD_INTERVAL_MS", "doc": "Event-time period of dashboard snapshots, ms."}
    )
    max_text_chars: int = field(default=2_000, metadata={"env": "LIVECART_MAX_TEXT_CHARS", "doc": "Longer comments are dead-lettered."})
    max_future_ms: int = field(
        default=86_400_000, metadata={"env": "LIVECART_MAX_FUTURE_MS", "doc": "Events whose ts is further ahead of the wall clock are dead-lettered, ms."}
    )
    max_event_bytes: int = field(default=65_536, metadata={"env": "LIVECART_MAX_EVENT_BYTES", "doc": "Larger raw events are dead-lettered."})
    web_port: int = field(default=6066, metadata={"env": "LIVECART_WEB_PORT", "doc": "Faust web port of a worker."})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); faust's ``BROKER_URL`` is honoured."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None and name == "LIVECART_BROKER":
                raw = env.get("BROKER_URL")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, raw, f.default)
        return cls(**values)  # type: ignore[arg-type]

    def topic(self, name: str) -> str:
        """The full topic name for a default name such as ``live.comments``."""
        return f"{self.topic_prefix}{name}"


def _coerce(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if name == "device" and raw not in ("auto", "cpu", "cuda"):
        raise ValueError(f"LIVECART_DEVICE must be auto, cpu or cuda; got {raw!r}")
    if name == "model_variant" and raw not in ("auto", "fp32", "int8"):
        raise ValueError(f"LIVECART_MODEL_VARIANT must be auto, fp32 or int8; got {raw!r}")
    return raw


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, doc) for every setting: the README table and ``livecart config`` use it."""
    return [(f.metadata["env"], repr(f.default), f.metadata["doc"]) for f in fields(Settings)]

"""In-process replay: the same stages as the worker, with an in-process transport and store (no servers).

The store is ``RedisStore`` over fakeredis's in-process Redis, so the code that writes state is the
code the worker runs against a real Redis. Messages flow between stages in log order, one
micro-batch (``LIVECART_BATCH_SIZE`` log lines) at a time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from streams import topics
from streams.config import Settings
from streams.errors import InvalidEvent
from streams.eventlog import read_log, value_bytes
from streams.pipeline import Incoming, Outgoing, catalog_upsert, dead_letter, now_ms
from streams.runtime import Runtime, build
from streams.store import RedisStore


def embedded_store(settings: Settings) -> RedisStore:
    import fakeredis

    return RedisStore(fakeredis.FakeAsyncRedis(), settings.key_prefix, settings.state_ttl_s, settings.dedupe_ttl_s)


class Recorder:
    """Collects published messages per topic, optionally appending them to JSONL files in ``out``."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.counts: dict[str, int] = {}
        self.files: dict[str, Any] = {}
        self.keep: dict[str, list[dict[str, Any]]] = {}
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)

    def __call__(self, outs: Iterable[Outgoing]) -> None:
        for o in outs:
            self.counts[o.topic] = self.counts.get(o.topic, 0) + 1
            line = {"topic": o.topic, "key": o.key, "value": json.loads(o.value)}
            self.keep.setdefault(o.topic, []).append(line)
            if self.out is not None:
                fh = self.files.get(o.topic)
                if fh is None:
                    fh = self.files[o.topic] = open(self.out / f"{o.topic}.jsonl", "w", encoding="utf-8")
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()


async def replay_lines(
    lines: Iterable[dict[str, Any]], rt: Runtime, record: Callable[[Iterable[Outgoing]], None],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Push log lines through the stages in order; returns the number of lines consumed."""
    batch_size = rt.settings.batch_size
    chunk: list[Incoming] = []
    n = 0

    async def flush() -> None:
        comments = [m for m in chunk if m.topic == topics.COMMENTS.name]
        enriched: dict[int, Incoming] = {}
        if comments:
            outs = await rt.comments.process(comments)
            record(outs)
            it = iter(o for o in outs if o.topic == topics.ENRICHED.name)
            ok = {json.loads(o.value)["event_id"]: o for o in it}
            for m in comments:
                try:
                    eid = json.loads(m.value or b"{}").get("event_id")
                except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
                    continue
                if eid in ok:
                    o = ok.pop(eid)
                    enriched[id(m)] = Incoming(topics.ENRICHED.name, o.value, o.key.encode(), 0, m.offset, m.received_ms)
        room_batch = [enriched[id(m)] if id(m) in enriched else m for m in chunk
                      if m.topic != topics.COMMENTS.name or id(m) in enriched]

        async def send(outs: list[Outgoing]) -> None:
            record(outs)

        if room_batch:
            await rt.rooms.process(room_batch, send)
            record(await rt.dashboard.process(room_batch))
        chunk.clear()

    for line in lines:
        n += 1
        topic, raw = line["topic"], value_bytes(line["value"])
        key = line.get("key")
        msg = Incoming(topic, raw, key.encode() if isinstance(key, str) else None, 0, n, now_ms())
        if topic == topics.CATALOG.name:
            await flush()
            try:
                rt.rooms.forget_room(catalog_upsert(rt.catalog, msg))
            except InvalidEvent as err:
                record([dead_letter(msg, err, "catalog")])
            continue
        if topic not in topics.BY_NAME or topics.BY_NAME[topic].kind is None:
            record([dead_letter(msg, InvalidEvent(f"topic {topic!r} is not an input topic"), "replay")])
            continue
        chunk.append(msg)
        if len(chunk) >= batch_size:
            await flush()
        if on_progress is not None:
            on_progress(n)
    await flush()
    record(rt.dashboard.flush())
    return n


def run_embedded(log: str, *, out: str | None = "out/embedded", settings: Settings | None = None,
                 progress: bool = True, limit: int | None = None, serve: bool = False, host: str | None = None,
                 port: int | None = None, pace: float = 1.0) -> dict[str, Any]:
    """Replay ``log`` fully in-process; writes ``<topic>.jsonl`` and ``summary.json`` to ``out``; returns the summary.

    ``serve``: also serve the host dashboard (streams/web) while replaying, snapshots released at
    event-time spacing × ``pace`` (0: as fast as possible); the page stays up after the show until Ctrl-C.
    """
    from tqdm import tqdm

    settings = settings or Settings.from_env()
    rt = build(settings, store=embedded_store(settings))
    rec = Recorder(Path(out) if out else None)
    t0 = time.perf_counter()
    def lines_of_log() -> Iterable[dict[str, Any]]:
        return read_log(log) if limit is None else (x for i, x in enumerate(read_log(log)) if i < limit)

    lines = lines_of_log()
    bar = tqdm(desc="replay", unit="ev", disable=not progress, mininterval=0.5)
    last = 0

    def tick(n: int) -> None:
        nonlocal last
        bar.update(n - last)
        last = n

    try:
        if serve:
            from streams.web import serve_replay

            n = asyncio.run(serve_replay(lambda record: replay_lines(lines, rt, record, tick), rec,
                                         host=host, port=port, speed=pace))
        else:
            n = asyncio.run(replay_lines(lines, rt, rec, tick))
    finally:
        bar.close()
        rec.close()
    elapsed = time.perf_counter() - t0
    summary: dict[str, Any] = {
        "log": str(log), "events": n, "seconds": round(elapsed, 2), "events_per_s": round(n / elapsed, 1) if elapsed else None,
        "published": dict(sorted(rec.counts.items())),
        "stages": {s.name: s.counters.__dict__ for s in (rt.comments, rt.rooms, rt.dashboard)},
        "model": rt.comments.model.version,
    }
    stats = getattr(rt.comments.model, "stats", None)
    if callable(stats):
        summary["analysis_cache"] = stats()
    from streams.evaluation import evaluate_suggestions

    summary["evaluation"] = evaluate_suggestions(lines_of_log(), rec.keep.get(topics.SUGGESTIONS.name, []))
    if out:
        Path(out, "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary

"""Event logs: JSONL (optionally gzipped), one ``{"topic", "key", "value"}`` per line in event-time order.

A value is the event's JSON object; bytes that are not JSON travel as ``{"$raw_b64": ...}`` so a
recorded malformed event replays byte for byte.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from streams.errors import InvalidEvent


def write_log(lines: Iterable[dict[str, Any]], path: str | Path, *, progress: bool = False) -> int:
    """Write log lines as JSONL (gzip when ``path`` ends in .gz); returns the number written.

    ``progress`` shows a tqdm bar on stderr. Parent folders are created. Raises OSError.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with ExitStack() as stack:
        fh: TextIO
        if p.suffix == ".gz":
            raw = stack.enter_context(p.open("wb"))
            # mtime=0 and no name in the header: the same lines give byte-identical files.
            gz = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6))
            fh = stack.enter_context(io.TextIOWrapper(gz, encoding="utf-8", newline="\n"))
        else:
            fh = stack.enter_context(p.open("w", encoding="utf-8", newline="\n"))
        bar = stack.enter_context(tqdm(desc=f"writing {p.name}", unit=" ev", disable=not progress))
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
            n += 1
            if n % 1000 == 0:  # per-line bar updates would cost more than the JSON encoding
                bar.update(1000)
        bar.update(n % 1000)
    return n


def read_log(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the ``{"topic", "key", "value"}`` lines of a JSONL (optionally .gz) event log.

    Raises InvalidEvent naming ``path:line`` for a line that is not JSON or lacks a string
    ``topic`` or a ``value``; OSError if the file cannot be read.
    """
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidEvent(f"not JSON ({exc.msg} at column {exc.colno})", f"{p}:{n}") from exc
            if not isinstance(line, dict) or not isinstance(line.get("topic"), str) or "value" not in line:
                got = sorted(line) if isinstance(line, dict) else type(line).__name__
                raise InvalidEvent(f"expected {{topic: str, key, value}}; got {got}", f"{p}:{n}")
            yield line


def value_bytes(value: Any) -> bytes:
    """The wire bytes of a log value: JSON is encoded compactly; ``{"$raw_b64": ...}`` carries bytes that are not JSON."""
    if isinstance(value, dict) and set(value) == {"$raw_b64"}:
        return base64.b64decode(value["$raw_b64"])
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def log_value(raw: bytes | None) -> Any:
    """Inverse of :func:`value_bytes`: JSON values as objects, anything else kept byte-exact as base64."""
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"$raw_b64": base64.b64encode(raw).decode()}

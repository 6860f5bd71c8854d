"""``livecart analyze``: comments one per line on stdin -> one JSON object per line on stdout.

Run directly with ``python -m models.analyze [--catalog FILE] [--room ROOM] [--device cpu]``.
Lines are read in batches of ``batch_size`` and analysed together (length-bucketed inside
``CommentModel.predict``), so piping thousands of lines is fast. The trailing newline (``\\n`` or
``\\r\\n``) is removed; everything else of the line, spaces included, is the text the character
offsets refer to. Lone surrogates (from undecodable input bytes) are written as U+FFFD.

Linking with ``--catalog`` and no ``--room``: mentions are linked against the first room of the
file (in file order), which is the common single-room case; pass ``--room`` to choose another.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from models.linking import link
from models.serving import CommentModel, Device, replace_surrogates
from streams.catalog import Catalog, RoomCatalog


def _room(catalog_path: str | None, room_id: str | None) -> RoomCatalog | None:
    if catalog_path is None and room_id is None:
        return None
    cat = Catalog.load(catalog_path)
    if room_id is not None:
        room = cat.room(room_id)
        if room is None:
            raise SystemExit(f"room {room_id!r} not in catalog {catalog_path or 'demo'}; rooms: {sorted(cat.rooms)}")
        return room
    return next(iter(cat.rooms.values()), None)


def _chunks(inp: TextIO, n: int) -> Iterator[list[str]]:
    buf: list[str] = []
    for line in inp:
        buf.append(line.rstrip("\n").rstrip("\r"))
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def run_analyze(inp: TextIO, out: TextIO, *, catalog_path: str | None = None, room_id: str | None = None,
                model_dir: str | None = None, device: Device = "auto", batch_size: int = 64, threads: int = 0,
                lanes: int = 1) -> int:
    """Analyse every line of ``inp`` and write JSON lines to ``out``; returns the number written.

    Raises ModelLoadError when the model folder cannot be loaded, CatalogError for a bad catalog.
    """
    if isinstance(inp, io.TextIOWrapper):  # undecodable bytes become lone surrogates, then U+FFFD
        inp.reconfigure(errors="surrogateescape")
    model = CommentModel.load(model_dir, device=device, threads=threads, lanes=lanes)
    room = _room(catalog_path, room_id)
    n = 0
    for lines in _chunks(inp, max(1, batch_size)):
        texts = [replace_surrogates(s) for s in lines]
        for text, a in zip(texts, model.predict(texts), strict=True):
            linked = type(a)(a.sentiment, a.sentiment_score, link(text, a.entities, room), a.is_question)
            out.write(json.dumps(linked.to_json(text), ensure_ascii=False) + "\n")
            n += 1
    out.flush()
    return n


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", default=None, help="catalog JSONL to link mentions against")
    ap.add_argument("--room", default=None, help="room_id inside the catalog (default: the first room)")
    ap.add_argument("--model-dir", default=None, help="model folder (default: shipped models/artifacts)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="cores the models may use (0: all)")
    ap.add_argument("--lanes", type=int, default=1, help="runs of a batch executed at once, threads // lanes each")
    args = ap.parse_args(argv)
    run_analyze(sys.stdin, sys.stdout, catalog_path=args.catalog, room_id=args.room, model_dir=args.model_dir,
                device=args.device, batch_size=args.batch_size, threads=args.threads, lanes=args.lanes)


if __name__ == "__main__":
    main()

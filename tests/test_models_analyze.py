"""``livecart analyze`` end to end: run_analyze on StringIO, and the module entry point in a subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from models.analyze import run_analyze

ROOT = Path(__file__).resolve().parent.parent
CATALOG = [
    {"kind": "product", "room_id": "r1", "item_id": "lip-3", "title": "雕花口红", "brand": "花西子", "category": "口红",
     "price": 169.0, "slot": 3, "attributes": {"色号": ["豆沙色"]}, "aliases": ["口红"]},
    {"kind": "product", "room_id": "r2", "item_id": "other-3", "title": "牛肉干", "brand": "草原", "category": "食品",
     "price": 50.0, "slot": 3, "attributes": {}, "aliases": []},
]


def _catalog(tmp_path: Path) -> str:
    p = tmp_path / "cat.jsonl"
    p.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in CATALOG) + "\n", encoding="utf-8")
    return str(p)


def test_run_analyze_writes_one_object_per_line(tmp_path: Path) -> None:
    lines = ["3号链接有没有豆沙色", "质量太差了，退货", "", "😂😂", "太好用了，非常喜欢"] * 30
    out = io.StringIO()
    n = run_analyze(io.StringIO("\n".join(lines) + "\n"), out, catalog_path=_catalog(tmp_path), batch_size=16)
    rows = [json.loads(s) for s in out.getvalue().splitlines()]
    assert n == len(rows) == len(lines)
    assert [r["text"] for r in rows] == lines
    first = rows[0]
    assert first["is_question"] is True
    assert {"start": 0, "end": 4, "type": "LINK", "text": "3号链接", "item_id": "lip-3"} in first["entities"]
    assert rows[1]["sentiment"]["label"] == "neg" and rows[4]["sentiment"]["label"] == "pos"
    assert rows[2] == {"text": "", "sentiment": {"label": "neu", "score": 1.0}, "entities": [], "is_question": False}
    for r in rows:
        for e in r["entities"]:
            assert r["text"][e["start"]:e["end"]] == e["text"]


def test_room_selection_and_no_catalog(tmp_path: Path) -> None:
    out = io.StringIO()
    run_analyze(io.StringIO("3号链接\n"), out, catalog_path=_catalog(tmp_path), room_id="r2")
    ents = json.loads(out.getvalue())["entities"]
    assert any(e["type"] == "LINK" and e.get("item_id") == "other-3" for e in ents), ents
    out = io.StringIO()
    run_analyze(io.StringIO("3号链接\n"), out)
    assert all("item_id" not in e for e in json.loads(out.getvalue())["entities"])


def test_module_entry_point_pipes_lines_with_bad_bytes(tmp_path: Path) -> None:
    data = "3号链接还有吗\r\n".encode() + b"\xff\xfe bad bytes\n" + "主播yyds\n".encode()
    res = subprocess.run([sys.executable, "-m", "models.analyze", "--catalog", _catalog(tmp_path), "--device", "cpu"],
                         input=data, capture_output=True, cwd=ROOT, check=True, timeout=120)
    rows = [json.loads(s) for s in res.stdout.decode("utf-8").splitlines()]
    assert [r["text"] for r in rows] == ["3号链接还有吗", "\ufffd\ufffd bad bytes", "主播yyds"]
    assert rows[0]["entities"][0]["item_id"] == "lip-3"

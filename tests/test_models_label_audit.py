"""Sentiment label audit: the shipped annotation file, the agreement statistics and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.label_audit import AUDIT, agreement, load_audit, markdown, wilson


def test_shipped_annotation_has_200_distinct_labelled_lines() -> None:
    rows = load_audit()
    assert len(rows) == 200
    assert len({r["text"] for r in rows}) == 200
    assert {r["label"] for r in rows} == {"pos", "neg"}
    assert 0 < sum(not r["clear"] for r in rows) < 200


def test_bad_annotation_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps({"text": "房间很干净", "label": "neu", "clear": True}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="bad audit row"):
        load_audit(path)
    assert AUDIT.exists()


def test_wilson_interval_matches_the_closed_form_and_brackets_the_rate() -> None:
    lo, hi = wilson(176, 200)
    assert lo == pytest.approx(0.82766, abs=1e-4) and hi == pytest.approx(0.91802, abs=1e-4)
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson(10, 10)
    assert hi == pytest.approx(1.0) and 0.65 < lo < 0.75


def test_agreement_counts_matches_and_rejects_unequal_lengths() -> None:
    a = agreement(["pos", "neg", "pos", "neg"], ["pos", "pos", "pos", "neg"])
    assert (a["n"], a["agree"], a["rate"]) == (4, 3, 0.75)
    assert a["ci95"][0] < 0.75 < a["ci95"][1]
    with pytest.raises(ValueError):
        agreement(["pos"], [])


def test_markdown_lists_every_clear_disagreement() -> None:
    cell = {"n": 2, "agree": 1, "rate": 0.5, "ci95": [0.1, 0.9]}
    report = {"sample": {"size": 2, "of": 10, "seed": 1, "clear": 1, "no_clear_sentiment": 1},
              "annotator_vs_gold": {"all": cell, "clear": cell, "no_clear_sentiment": cell},
              "tfidf_vs_gold": {"all": cell, "clear": cell, "no_clear_sentiment": cell},
              "tfidf_vs_annotator": {"all": cell, "clear": cell},
              "clear_disagreements": [{"text": "不值房价|早餐太糟", "gold": "pos", "annotator": "neg", "tfidf": "neg"}]}
    md = markdown(report)
    assert "| 不值房价/早餐太糟 | pos | neg | neg |" in md
    assert "1/2 = 50.0 % [10.0 %, 90.0 %]" in md

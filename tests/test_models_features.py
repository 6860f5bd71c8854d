"""Faster forms of model pieces compute exactly what their plain definitions compute: the width-3
convolution as one matrix product, the hashed n-gram counts, the per-token lexicon flags."""

from __future__ import annotations

import random
import unicodedata
import zlib
from collections import Counter

import numpy as np
import torch
from torch import nn

from models.modeling import LocalConv, conv_as_linear
from models.serving import LEX_DIM, NGRAM_BUCKETS, NGRAM_ORDERS, Lexicon, ngram_counts


def test_conv_as_linear_equals_the_conv1d_it_replaces() -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(8, 8, 3, padding=1)
    x = torch.randn(3, 7, 8)
    ref = conv(x.transpose(1, 2)).transpose(1, 2)
    assert torch.allclose(conv_as_linear(conv, x), ref, atol=1e-5)
    # one position: the taps are x[t-1], x[t], x[t+1] against weight[:, :, 0 / 1 / 2]
    w = conv.weight
    y3 = w[:, :, 0] @ x[0, 2] + w[:, :, 1] @ x[0, 3] + w[:, :, 2] @ x[0, 4] + conv.bias
    assert torch.allclose(conv_as_linear(conv, x)[0, 3], y3, atol=1e-5)


def test_local_conv_output_does_not_depend_on_padding() -> None:
    torch.manual_seed(1)
    block = LocalConv(8).eval()
    x = torch.randn(1, 5, 8)
    mask = torch.ones(1, 5, dtype=torch.long)
    padded = torch.cat([x, torch.randn(1, 3, 8)], 1)
    pmask = torch.tensor([[1, 1, 1, 1, 1, 0, 0, 0]])
    with torch.no_grad():
        assert torch.allclose(block(x, mask), block(padded, pmask)[:, :5], atol=1e-5)


def test_ngram_counts_equal_the_crc32_definition() -> None:
    rng = random.Random(0)
    texts = ["3号链接还有红色吗", "主播yyds！！", "", "a", "😀😀😀", "\ud800x", "ＡＢｃ 12"]
    texts += ["".join(chr(rng.randint(32, 0x2FFFF)) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    for text in texts:
        t = unicodedata.normalize("NFKC", text).lower()
        want = Counter(1 + zlib.crc32(f"{n}:{t[i:i + n]}".encode("utf-8", "replace")) % (NGRAM_BUCKETS - 1)
                       for n in NGRAM_ORDERS for i in range(len(t) - n + 1))
        assert ngram_counts(text) == want, text


def test_token_flags_are_the_union_of_each_tokens_character_flags() -> None:
    lex = Lexicon({"北京": 2, "北京大学": 4, "王": 1, "小明": 1, "京大": 2})
    text = "我在北京大学见到王小明了"
    chars = lex.char_flags(text)
    assert chars.shape == (len(text), LEX_DIM) and chars.any()
    # special tokens, multi-character tokens, a gap between tokens (no token covers "到" or "了"),
    # an empty offset
    offsets = [(0, 0), (0, 1), (1, 2), (2, 4), (4, 6), (6, 7), (8, 9), (9, 11), (11, 11), (0, 0)]
    special = [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    got = lex.token_flags(text, offsets, special)
    want = np.zeros((len(offsets), LEX_DIM), dtype=np.float32)
    for k, ((a, b), sp) in enumerate(zip(offsets, special, strict=True)):
        if not sp and b > a:
            want[k] = chars[a:b].max(axis=0)
    assert np.array_equal(got, want)
    assert got[3].any() and got[6].any() and not got[0].any() and not got[8].any()
    assert not lex.token_flags("", [(0, 0), (0, 0)], [1, 1]).any()
    assert lex.matches(text) == [(2, 4, 2), (2, 6, 4), (3, 5, 2), (8, 9, 1), (9, 11, 1)]
    assert lex.matches("3号链接有红色吗") == [] and not lex.token_flags("红色", [(0, 0), (0, 2), (0, 0)], [1, 0, 1]).any()

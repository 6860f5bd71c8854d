"""Whole-paragraph NER decoding over overlapping windows, and the CRF expert of the NER model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.modeling import NER_LABELS, NerModel, bert_config
from models.serving import (
    CTX_BUCKETS,
    LEX_DIM,
    CommentModel,
    Window,
    context_ids,
    paragraph_spans,
    viterbi_bio,
    window_owners,
    window_starts,
)
from models.train import MAX_LEN, add_crf_expert, fit_crf_expert, load_or_build_tokenizer


def test_window_starts_cover_every_token_and_end_at_the_last() -> None:
    assert window_starts(0, 126, 63) == [0]
    assert window_starts(126, 126, 63) == [0]
    assert window_starts(127, 126, 63) == [0, 1]
    assert window_starts(300, 126, 63) == [0, 63, 126, 174]
    for n in (1, 125, 127, 250, 1000):
        starts = window_starts(n, 126, 63)
        covered = np.zeros(n, dtype=bool)
        for s in starts:
            covered[s:s + 126] = True
        assert covered.all() and starts[-1] + 126 >= n and all(b - a <= 63 for a, b in zip(starts, starts[1:], strict=False))
    with pytest.raises(ValueError):
        window_starts(10, 126, 0)


def test_window_owners_pick_the_window_where_the_token_is_most_central() -> None:
    starts = window_starts(300, 126, 63)
    own = window_owners(300, 126, starts)
    for t, o in enumerate(own):
        s = starts[o]
        assert s <= t < s + 126
        best = max(min(t - x, x + 125 - t) for x in starts if x <= t < x + 126)
        assert min(t - s, s + 125 - t) == best
    # away from the paragraph's ends every token keeps at least a quarter window on each side
    assert all(min(t - starts[o], starts[o] + 125 - t) >= 31 for t, o in enumerate(own) if 31 <= t < 300 - 31)


def test_paragraph_spans_read_each_token_from_its_central_window() -> None:
    """Logits that are right only away from the inner window edges (wrong within 20 tokens of an edge
    that is not the paragraph's start or end) still give the exact spans, including an entity across
    the boundary of back-to-back windows."""
    tok = load_or_build_tokenizer()
    text = "的" * 120 + "北京" + "的" * 200 + "上海" + "的" * 20
    gold = {(120, 122, "LOC"), (322, 324, "LOC")}
    lab = {t: i for i, t in enumerate(NER_LABELS)}

    def logits_of(texts: list[str], windows: list[Window]) -> list[np.ndarray]:
        out = []
        for text_, (ids, offs, _special) in zip(texts, windows, strict=True):
            lg = np.zeros((len(ids), len(NER_LABELS)), dtype=np.float32)
            at_start, at_end = offs[1][0] == 0, offs[-2][1] == len(text_)
            for i, (a, _) in enumerate(offs):
                inner = (at_start or i > 20) and (at_end or len(ids) - 1 - i > 20)
                tag = "O"
                if a in (120, 322):
                    tag = "B-LOC"
                elif a in (121, 323):
                    tag = "I-LOC"
                lg[i, lab[tag if inner else "B-PER"]] = 5.0
            out.append(lg)
        return out

    got = paragraph_spans(tok.encode_batch([text]), [text], MAX_LEN, NER_LABELS, None, logits_of)
    assert [set(g) for g in got] == [gold]


@pytest.fixture(scope="module")
def tiny_windows() -> tuple[list[list[int]], list[list[int]]]:
    """Token windows of a toy corpus: 城 after one of five place names is LOC (B + I + I)."""
    tok = load_or_build_tokenizer()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    rng = np.random.default_rng(0)
    places, filler = ["长沙", "广州", "成都", "杭州", "南京"], list("我们今天去看了一下很好的地方")
    xs, ys = [], []
    for _ in range(200):
        words = [str(rng.choice(filler)) for _ in range(6)]
        k = int(rng.integers(0, 6))
        place = places[int(rng.integers(0, 5))]
        text = "".join(words[:k]) + place + "城" + "".join(words[k:])
        ids = [tok.token_to_id(c) for c in text]
        tags = ["O"] * len(text)
        tags[k], tags[k + 1], tags[k + 2] = "B-LOC", "I-LOC", "I-LOC"
        xs.append([cls_id, *ids, sep_id])
        ys.append([-100, *[NER_LABELS.index(t) for t in tags], -100])
    return xs, ys


def test_crf_expert_alone_tags_its_training_pattern(tiny_windows: tuple[list[list[int]], list[list[int]]]) -> None:
    xs, ys = tiny_windows
    state, trans = fit_crf_expert(xs, ys)
    assert state.shape == (CTX_BUCKETS, len(NER_LABELS)) and trans.shape == (len(NER_LABELS), len(NER_LABELS))
    assert np.count_nonzero(state) > 0
    # the learnt transitions favour I-LOC after B-LOC over O after B-LOC
    b, i, o = NER_LABELS.index("B-LOC"), NER_LABELS.index("I-LOC"), NER_LABELS.index("O")
    assert trans[b, i] > trans[b, o]
    ids = np.asarray([xs[0]], dtype=np.int64)
    emissions = state[context_ids(ids)].sum(2)
    mask = np.ones(ids.shape, dtype=bool)
    mask[0, [0, -1]] = False
    pred = viterbi_bio(emissions, NER_LABELS, mask, (np.zeros(len(NER_LABELS), np.float32), trans))
    assert [NER_LABELS[t] for t in pred[0, 1:-1]] == [NER_LABELS[t] for t in ys[0][1:-1]]


def test_add_crf_expert_sums_the_tables_into_the_model() -> None:
    cfg = bert_config(100, 16, 1, 2, MAX_LEN, len(NER_LABELS), bigram_vocab=10, lexicon_dim=LEX_DIM,
                      ctx_buckets=CTX_BUCKETS, crf=True)
    model = NerModel(cfg)
    before_w = model.wide.weight.weight.detach().clone()
    before_t = model.crf.trans.detach().clone()
    rng = np.random.default_rng(1)
    state = rng.normal(size=(CTX_BUCKETS, len(NER_LABELS))).astype(np.float32)
    state[0] = 0.0
    trans = rng.normal(size=(len(NER_LABELS), len(NER_LABELS))).astype(np.float32)
    add_crf_expert(model, state, trans)
    assert torch.allclose(model.wide.weight.weight, before_w + torch.from_numpy(state))
    assert torch.allclose(model.crf.trans, before_t + torch.from_numpy(trans))
    plain = NerModel(bert_config(100, 16, 1, 2, MAX_LEN, len(NER_LABELS)))
    with pytest.raises(ValueError):
        add_crf_expert(plain, state, trans)


def test_predict_finds_entities_past_the_first_window() -> None:
    """A comment longer than one window (128 tokens) keeps its entities after the window: the same
    LINK / ATTR mentions as in the short comment, at the shifted offsets."""
    model = CommentModel.load(threads=1)
    head = "主播今天的衣服真好看，我已经下单了两件。" * 12
    tail = "3号链接还有红色吗"
    short, long = model.predict([tail, head + tail])
    assert len(model.tokenizer.encode(head + tail).ids) == model.max_len  # truncated for the graphs
    want = {(e.start + len(head), e.end + len(head), e.type) for e in short.entities}
    assert {(0 + len(head), 4 + len(head), "LINK"), (6 + len(head), 8 + len(head), "ATTR")} <= want
    got = {(e.start, e.end, e.type) for e in long.entities}
    assert want <= got
    assert all((head + tail)[e.start:e.end] == e.text for e in long.entities)

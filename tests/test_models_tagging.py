"""The NER tagging pieces of comment models v3: hashed context features, the CRF loss, CRF decoding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from models.modeling import NER_LABELS, CrfTransitions
from models.serving import CTX_BUCKETS, CTX_TEMPLATES, context_ids, viterbi_bio


def test_context_ids_depend_only_on_the_token_window() -> None:
    ids = np.array([[2, 100, 200, 300, 400, 3, 0, 0],
                    [2, 100, 200, 300, 401, 3, 0, 0]])
    c = context_ids(ids)
    assert c.shape == (2, 8, len(CTX_TEMPLATES)) and c.dtype == np.int64
    assert (c[:, 6:] == 0).all()  # padding
    assert ((c[:, :6] >= 1) & (c[:, :6] < CTX_BUCKETS)).all()
    # position 1 sees ids 0..3 (offsets -2..+2 reach 400/401 only from position 2 on): identical rows
    assert (c[0, 1] == c[1, 1]).all()
    # position 2's +2 unigram differs (400 vs 401), its other templates do not
    diff = [f for f in range(len(CTX_TEMPLATES)) if c[0, 2, f] != c[1, 2, f]]
    assert diff == [CTX_TEMPLATES.index((2,))]
    # the same window in another row and position gives the same ids (batch composition does not matter)
    shifted = np.array([[7, 2, 100, 200, 300, 400, 3, 0]])
    assert (context_ids(shifted)[0, 3] == c[0, 2]).all()
    # templates of the same ids are hashed apart (the unigram "200" at -1, 0 and +1 of different tokens)
    assert len({int(c[0, 3, 1]), int(c[0, 2, 2]), int(c[0, 1, 3])}) == 3


def test_crf_nll_equals_the_brute_force_sum_over_paths() -> None:
    torch.manual_seed(0)
    crf = CrfTransitions(3)
    with torch.no_grad():
        crf.start.normal_()
        crf.trans.normal_()
    em = torch.randn(2, 6, 3)
    tags = torch.tensor([[-100, 1, 2, 0, 1, -100], [-100, 2, -100, 1, -100, -100]])

    def brute(r: int) -> torch.Tensor:
        pos = [i for i in range(6) if tags[r, i] >= 0]

        def score(path: tuple[int, ...]) -> torch.Tensor:
            s = crf.start[path[0]] + em[r, pos[0], path[0]]
            for k in range(1, len(path)):
                s = s + crf.trans[path[k - 1], path[k]] + em[r, pos[k], path[k]]
            return s

        z = torch.logsumexp(torch.stack([score(p) for p in itertools.product(range(3), repeat=len(pos))]), 0)
        return z - score(tuple(int(tags[r, i]) for i in pos))

    with torch.no_grad():
        assert abs(float(crf.nll(em, tags)) - float((brute(0) + brute(1)) / 2)) < 1e-4


def test_crf_decoding_with_zero_scores_equals_log_softmax_decoding() -> None:
    rng = np.random.default_rng(1)
    k = len(NER_LABELS)
    logits = rng.normal(size=(4, 12, k)).astype(np.float32) * 3
    mask = np.ones((4, 12), dtype=bool)
    mask[:, 0] = mask[:, -1] = False
    zero = (np.zeros(k, np.float32), np.zeros((k, k), np.float32))
    assert (viterbi_bio(logits, NER_LABELS, mask, zero) == viterbi_bio(logits, NER_LABELS, mask)).all()


def test_crf_transitions_change_the_decoded_path() -> None:
    k = len(NER_LABELS)
    b_per, i_per = NER_LABELS.index("B-PER"), NER_LABELS.index("I-PER")
    logits = np.zeros((1, 3, k), dtype=np.float32)
    logits[0, 0, b_per] = 2.0
    logits[0, 1, 0] = 1.0  # "O" wins the second position on emissions alone
    logits[0, 1, i_per] = 0.5
    mask = np.ones((1, 3), dtype=bool)
    trans = np.zeros((k, k), np.float32)
    assert viterbi_bio(logits, NER_LABELS, mask, (np.zeros(k, np.float32), trans))[0, 1] == 0
    trans[b_per, i_per] = 1.0  # a learnt B-PER -> I-PER bonus flips it
    assert viterbi_bio(logits, NER_LABELS, mask, (np.zeros(k, np.float32), trans))[0, 1] == i_per
    # BIO constraints still hold whatever the learnt scores say: I-PER never starts a path
    start = np.zeros(k, np.float32)
    start[i_per] = 100.0
    assert viterbi_bio(logits, NER_LABELS, mask, (start, trans))[0, 0] != i_per


LABELS = ["O", "B-X", "I-X", "B-Y", "I-Y"]


def path_score(logits: np.ndarray, path: tuple[int, ...], start: np.ndarray, trans: np.ndarray) -> float:
    s = float(start[path[0]] + logits[0, path[0]])
    for i in range(1, len(path)):
        s += float(trans[path[i - 1], path[i]] + logits[i, path[i]])
    return s


def bio_ok(path: tuple[int, ...]) -> bool:
    prev = "O"
    for j in path:
        lab = LABELS[j]
        if lab.startswith("I-") and prev[2:] != lab[2:]:
            return False
        prev = lab
    return True


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_finds_the_best_valid_bio_path_over_the_masked_positions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b, t, k = 3, 5, len(LABELS)
    logits = rng.normal(0, 2, (b, t, k)).astype(np.float32)
    mask = rng.random((b, t)) > 0.3
    start, trans = rng.normal(0, 1, k).astype(np.float32), rng.normal(0, 1, (k, k)).astype(np.float32)
    got = viterbi_bio(logits, LABELS, mask, (start, trans))
    for r in range(b):
        pos = np.flatnonzero(mask[r])
        if not len(pos):
            continue
        sub = logits[r, pos]
        best = max((p for p in itertools.product(range(k), repeat=len(pos)) if bio_ok(p)),
                   key=lambda p: path_score(sub, p, start, trans))
        assert tuple(got[r, pos]) == best

"""MLM pretraining of the sentiment encoder: BERT masking, corpus windows, and a toy run that learns."""

from __future__ import annotations

import torch

from models.modeling import SentimentModel, bert_config
from models.pretrain import N_SPECIAL, mask_tokens, pretrain_encoder, windows

MASK, VOCAB = 4, 50


def test_masking_never_touches_special_or_padding_and_labels_the_chosen_positions() -> None:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(N_SPECIAL, VOCAB, (200, 60), generator=gen)
    ids[:, 0], ids[:, 40] = 2, 3  # [CLS] ... [SEP]
    ids[:, 41:] = 0  # padding
    inputs, labels = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, gen=gen)
    chosen = labels >= 0
    assert not chosen[ids < N_SPECIAL].any()
    assert torch.equal(inputs[ids < N_SPECIAL], ids[ids < N_SPECIAL])
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are left as they are
    rate = chosen.sum().item() / (ids >= N_SPECIAL).sum().item()
    assert 0.13 < rate < 0.17
    masked = (inputs[chosen] == MASK).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()  # the 10 % kept (+ random draws of the same id)
    assert 0.77 < masked < 0.83 and 0.08 < kept < 0.13
    assert (inputs[chosen] >= N_SPECIAL).logical_or(inputs[chosen] == MASK).all()  # random ids are never special


def test_masking_is_reproducible_from_the_generator_seed() -> None:
    ids = torch.randint(N_SPECIAL, VOCAB, (8, 30), generator=torch.Generator().manual_seed(1))
    a = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, gen=torch.Generator().manual_seed(7))
    b = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, gen=torch.Generator().manual_seed(7))
    c = mask_tokens(ids, mask_id=MASK, vocab_size=VOCAB, gen=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_windows_cover_a_long_sequence_in_order_and_wrap_each_piece() -> None:
    seq = list(range(10, 30))
    out = windows(seq, 8, 2, 3)
    assert all(w[0] == 2 and w[-1] == 3 and len(w) <= 8 for w in out)
    assert [t for w in out for t in w[1:-1]] == seq
    assert windows([11, 12], 8, 2, 3) == [[2, 11, 12, 3]]
    assert windows([], 8, 2, 3) == [[2, 3]]


def test_pretraining_learns_a_predictable_corpus_and_leaves_the_heads_alone() -> None:
    torch.manual_seed(0)
    model = SentimentModel(bert_config(VOCAB, 32, 1, 2, 32, 3))
    heads = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("sentiment.", "question."))}
    # every sequence counts up from a random start: a masked token is its left neighbour + 1
    gen = torch.Generator().manual_seed(3)
    starts = torch.randint(N_SPECIAL, VOCAB - 20, (256,), generator=gen).tolist()
    corpus = [[2, *range(s, s + 16), 3] for s in starts]
    losses = pretrain_encoder(model, corpus, steps=120, batch=32, lr=3e-3, mask_id=MASK, seed=0)
    assert len(losses) == 120
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.5 * first, (first, last)
    for k, v in model.state_dict().items():
        if k in heads:
            assert torch.equal(v, heads[k]), k

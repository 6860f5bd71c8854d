"""Masked-language-model pretraining of the sentiment encoder on unlabelled TRAIN text (training side only).

The deep branch of ``SentimentModel`` is a transformer trained from scratch on ~14k reviews; before its
supervised epochs, ``pretrain_encoder`` teaches the same encoder (token embeddings, ``LocalConv``, BERT
layers) to restore masked tokens of TRAIN-only text: BERT's recipe (15 % of the non-special tokens
chosen; 80 % of those become [MASK], 10 % a random token, 10 % stay), with an output layer tied to the
token embeddings. No label is read, and no DEV or TEST text is in the corpus (``models.train``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch import nn
from tqdm import tqdm

from models.batching import batches, pad
from models.modeling import SentimentModel

MLM_RATE = 0.15
N_SPECIAL = 5  # ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK] (models.tokenizer.SPECIAL): never chosen, never drawn


def mask_tokens(ids: torch.Tensor, *, mask_id: int, vocab_size: int, gen: torch.Generator, rate: float = MLM_RATE
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``ids`` [batch, seq] -> (inputs, labels): labels hold the original id at chosen
    positions and -100 elsewhere; special ids (< ``N_SPECIAL``, padding included) are never chosen."""
    chosen = (torch.rand(ids.shape, generator=gen) < rate) & (ids >= N_SPECIAL)
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=gen)
    inputs = torch.where(chosen & (r < 0.8), torch.full_like(ids, mask_id), ids)
    random_ids = torch.randint(N_SPECIAL, vocab_size, ids.shape, generator=gen)
    inputs = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, inputs)
    return inputs, labels


class MlmHead(nn.Module):
    """BERT's prediction head: dense + GELU + LayerNorm, then the (tied) token embeddings + a bias."""

    def __init__(self, hidden: int, vocab_size: int) -> None:
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, h: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        return self.transform(h) @ embeddings.T + self.bias


def windows(ids: Sequence[int], size: int, cls_id: int, sep_id: int) -> list[list[int]]:
    """A token sequence without [CLS]/[SEP] cut into back-to-back pieces of at most ``size`` - 2 tokens,
    each wrapped in [CLS] ... [SEP] (long People's Daily paragraphs become several examples)."""
    step = size - 2
    return [[cls_id, *ids[s:s + step], sep_id] for s in range(0, max(len(ids), 1), step)]


def pretrain_encoder(model: SentimentModel, corpus: Sequence[Sequence[int]], *, steps: int, batch: int, lr: float,
                     mask_id: int, seed: int) -> list[float]:
    """Train ``model``'s encoder in place for ``steps`` MLM steps over length-bucketed batches of
    ``corpus`` (AdamW, weight decay 0.01, 5 % warm-up then linear decay, clipping 1.0). Returns the loss
    of every step. The heads of ``model`` are not touched (they get no gradient)."""
    vocab = model.bert.embeddings.word_embeddings
    head = MlmHead(model.config.hidden_size, vocab.num_embeddings)
    params = [p for n, p in model.named_parameters() if not n.startswith(("sentiment.", "question.", "wide."))]
    params += list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    lengths = [len(x) for x in corpus]
    losses: list[float] = []
    model.train()
    bar = tqdm(total=steps, desc="mlm", unit="step")
    while len(losses) < steps:
        for b in batches(lengths, batch, rng):
            ids = pad([corpus[i] for i in b], 0)
            inputs, labels = mask_tokens(ids, mask_id=mask_id, vocab_size=vocab.num_embeddings, gen=gen)
            chosen = labels >= 0
            if not chosen.any():
                continue
            h = model.encode(inputs, (ids != 0).long(), {})[chosen]
            loss = nn.functional.cross_entropy(head(h, vocab.weight), labels[chosen])
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if len(losses) >= steps:
                break
    bar.close()
    return losses

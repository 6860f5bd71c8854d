"""PyTorch model definitions (training/export side only; serving never imports this module).

* ``SentimentModel``: a BERT encoder (transformers ``BertModel``) with two heads on the masked mean
  of the last hidden states: sentiment (neg/neu/pos) and is-question (no/yes).
* ``NerModel``: transformers ``BertForTokenClassification`` with BIO tags over ``ENTITY_TYPES``.
Both put a small local n-gram block (``LocalConv``: two residual 1-D convolutions of width 3 over the
token embeddings) in front of the transformer: a character model trained from scratch on ~20k texts
learns word-like n-grams far faster with it (round 1 without it: DEV NER F1 0.39 after an epoch).
Both take ``input_ids`` and ``attention_mask`` (int64, [batch, seq]) and return logits only.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertForTokenClassification, BertModel

from models.data import ENTITY_TYPES

SENTIMENT_LABELS: tuple[str, ...] = ("neg", "neu", "pos")
NER_LABELS: tuple[str, ...] = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))


def bert_config(vocab_size: int, hidden: int, layers: int, heads: int, max_len: int, num_labels: int = 2) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_len, type_vocab_size=1,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=num_labels,  # type: ignore[call-arg]
    )


class LocalConv(nn.Module):
    """Two residual width-3 convolutions over token embeddings; padding positions are zeroed first,
    so a text's output does not depend on how much padding its batch has."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, 3, padding=1) for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(2))

    def forward(self, emb: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).to(emb.dtype)
        x = emb
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = conv((x * m).transpose(1, 2)).transpose(1, 2)
            x = norm(x + nn.functional.gelu(y))
        return x * m


class SentimentModel(nn.Module):
    """LocalConv + BERT encoder + mean pooling + sentiment head (3) + question head (2)."""

    config: BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.local = LocalConv(config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.sentiment = nn.Linear(config.hidden_size, len(SENTIMENT_LABELS))
        self.question = nn.Linear(config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.local(self.bert.embeddings.word_embeddings(input_ids), attention_mask)
        h = self.bert(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = self.dropout((h * m).sum(1) / m.sum(1).clamp(min=1.0))
        return self.sentiment(pooled), self.question(pooled)


class NerModel(nn.Module):
    """LocalConv + ``BertForTokenClassification``, returning only the logits tensor (a clean ONNX signature)."""

    config: BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.inner = BertForTokenClassification(config)
        self.local = LocalConv(config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        emb = self.local(self.inner.bert.embeddings.word_embeddings(input_ids), attention_mask)
        out: torch.Tensor = self.inner(inputs_embeds=emb, attention_mask=attention_mask).logits
        return out

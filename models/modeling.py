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

import numpy as np
import torch
from torch import nn
from transformers import BertConfig, BertForTokenClassification, BertModel

from models.data import ENTITY_TYPES

SENTIMENT_LABELS: tuple[str, ...] = ("neg", "neu", "pos")
NER_LABELS: tuple[str, ...] = ("O", *(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I")))


def bert_config(vocab_size: int, hidden: int, layers: int, heads: int, max_len: int, num_labels: int = 2,
                *, bigram_vocab: int = 0, lexicon_dim: int = 0, ngram_buckets: int = 0, ctx_buckets: int = 0,
                crf: bool = False) -> BertConfig:
    """``bigram_vocab`` / ``lexicon_dim`` / ``ngram_buckets`` / ``ctx_buckets`` > 0 switch on the extra
    inputs (see ``ExtraEmbeddings``, ``WideNgrams`` and ``WideTagger``); 0 keeps a plain ids + mask model.
    ``crf``: the NER model trains a linear-chain CRF over its tag logits (``CrfTransitions``)."""
    return BertConfig(
        vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, max_position_embeddings=max_len, type_vocab_size=1,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, num_labels=num_labels,  # type: ignore[call-arg]
        bigram_vocab=bigram_vocab, lexicon_dim=lexicon_dim, ngram_buckets=ngram_buckets, ctx_buckets=ctx_buckets,
        crf=crf,
    )


class LocalConv(nn.Module):
    """Two residual width-3 convolutions over token embeddings (computed by ``conv_as_linear``); padding
    positions are zeroed first, so a text's output does not depend on how much padding its batch has."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, 3, padding=1) for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(2))

    def forward(self, emb: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        m = attention_mask.unsqueeze(-1).to(emb.dtype)
        x = emb
        for conv, norm in zip(self.convs, self.norms, strict=True):
            assert isinstance(conv, nn.Conv1d)
            x = norm(x + nn.functional.gelu(conv_as_linear(conv, x * m)))
        return x * m


def conv_as_linear(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``conv`` (width 3, padding 1) over ``x`` [batch, seq, channels], computed as one matrix product of
    the three shifted copies of ``x`` side by side: the same function (and parameters) as the Conv1d,
    but it exports to ONNX as Pad/Slice/Concat/MatMul instead of Conv. ONNX Runtime's 1-D Conv was the
    slowest node of both graphs (b64 live comments, 2 threads: 5.9 ms per conv vs ~1.7 ms in PyTorch,
    2026-12-02); PyTorch eager runs both forms equally fast (1.7-1.9 ms)."""
    s = x.shape[1]
    p = nn.functional.pad(x, (0, 0, 1, 1))
    w = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)  # [out, 3 * in], tap-major
    return nn.functional.linear(torch.cat([p[:, 0:s], p[:, 1:s + 1], p[:, 2:s + 2]], -1), w, conv.bias)


BIGRAM_DIM = 64  # bigram embeddings are learnt at 64 dimensions and projected to the hidden size


class ExtraEmbeddings(nn.Module):
    """Token embeddings plus optional extra inputs, summed before ``LocalConv``:
    a token-bigram embedding (``config.bigram_vocab`` > 0; id 0 = unknown) and a projection of the
    lexicon match flags (``config.lexicon_dim`` > 0)."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        n_bigrams = int(getattr(config, "bigram_vocab", 0))
        lex_dim = int(getattr(config, "lexicon_dim", 0))
        self.bigram = nn.Embedding(n_bigrams + 1, BIGRAM_DIM, padding_idx=0) if n_bigrams else None
        self.bigram_proj = nn.Linear(BIGRAM_DIM, config.hidden_size, bias=False) if n_bigrams else None
        self.lexicon = nn.Linear(lex_dim, config.hidden_size, bias=False) if lex_dim else None

    def input_names(self) -> tuple[str, ...]:
        return (("bigram_ids",) if self.bigram is not None else ()) + (("lexicon",) if self.lexicon is not None else ())

    def forward(self, emb: torch.Tensor, extra: dict[str, torch.Tensor]) -> torch.Tensor:
        """``emb``: the token embeddings [batch, seq, hidden]."""
        if self.bigram is not None and self.bigram_proj is not None:
            emb = emb + self.bigram_proj(self.bigram(extra["bigram_ids"]))
        if self.lexicon is not None:
            emb = emb + self.lexicon(extra["lexicon"])
        return emb


class WideNgrams(nn.Module):
    """The wide branch of the sentiment model: a linear model over hashed character n-grams with
    TF-IDF weighting (sublinear tf from serving, idf stored per bucket, l2-normalised per text).
    ``idf`` and ``weight`` are fitted by logistic regression in ``models.train`` and then fixed."""

    def __init__(self, buckets: int, n_out: int) -> None:
        super().__init__()
        self.idf = nn.Embedding(buckets, 1, padding_idx=0)
        self.weight = nn.Embedding(buckets, n_out, padding_idx=0)
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = nn.Parameter(torch.ones(()))
        for p in (self.idf.weight, self.weight.weight):
            nn.init.zeros_(p)

    def forward(self, ngram_ids: torch.Tensor, ngram_tf: torch.Tensor) -> torch.Tensor:
        x = ngram_tf * self.idf(ngram_ids).squeeze(-1)  # [batch, n]
        x = x / torch.sqrt((x * x).sum(1, keepdim=True)).clamp(min=1e-6)
        return self.scale * ((x.unsqueeze(-1) * self.weight(ngram_ids)).sum(1) + self.bias)


class WideTagger(nn.Module):
    """The wide branch of the NER model: a linear tagger over hashed token-context features (the
    character CRF's window templates, built by ``serving.context_ids``): per position, the sum of one
    learnt row of tag scores per feature, added to the deep tag logits. Trained jointly with them."""

    def __init__(self, buckets: int, n_tags: int) -> None:
        super().__init__()
        self.weight = nn.Embedding(buckets, n_tags, padding_idx=0)
        nn.init.zeros_(self.weight.weight)

    def forward(self, ctx_ids: torch.Tensor) -> torch.Tensor:
        """``ctx_ids`` [batch, seq, features] -> [batch, seq, tags]."""
        out: torch.Tensor = self.weight(ctx_ids).sum(2)
        return out


class CrfTransitions(nn.Module):
    """Linear-chain CRF scores over tags: ``start`` [tags] and ``trans`` [prev, cur], trained with the
    sequence log-likelihood (``nll``). Serving decodes with them (``serving.viterbi_bio``); they are
    written into the model folder's manifest by ``export.onnx``, not into the ONNX graph."""

    def __init__(self, n_tags: int) -> None:
        super().__init__()
        self.start = nn.Parameter(torch.zeros(n_tags))
        self.trans = nn.Parameter(torch.zeros(n_tags, n_tags))

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(start, transitions) as float32 arrays, the form ``serving.viterbi_bio`` decodes with."""
        return (self.start.detach().numpy().astype(np.float32), self.trans.detach().numpy().astype(np.float32))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor) -> torch.Tensor:
        """Mean over rows of -log p(tags | emissions); positions with tag -100 are skipped (the path
        carries its state across them). ``emissions`` [batch, seq, tags], ``tags`` [batch, seq]."""
        mask = tags >= 0
        y = tags.clamp(min=0)
        b = emissions.shape[0]
        rows = torch.arange(b)
        alpha = self.start.unsqueeze(0).expand(b, -1)
        started = torch.zeros(b, dtype=torch.bool)
        gold = torch.zeros(b, dtype=emissions.dtype)
        prev = torch.zeros(b, dtype=torch.long)
        for i in range(emissions.shape[1]):
            m, e, yi = mask[:, i], emissions[:, i], y[:, i]
            stepped = torch.logsumexp(alpha.unsqueeze(2) + self.trans.unsqueeze(0), 1) + e
            new = torch.where(started.unsqueeze(1), stepped, alpha + e)
            alpha = torch.where(m.unsqueeze(1), new, alpha)
            g = e[rows, yi] + torch.where(started, self.trans[prev, yi], self.start[yi])
            gold = gold + torch.where(m, g, torch.zeros_like(g))
            prev = torch.where(m, yi, prev)
            started = started | m
        log_z = torch.logsumexp(alpha, 1)
        return torch.where(started, log_z - gold, torch.zeros_like(gold)).mean()


class SentimentModel(nn.Module):
    """LocalConv + BERT encoder + mean pooling + sentiment head (3) + question head (2);
    with ``config.ngram_buckets`` > 0 a wide n-gram branch is added to the sentiment logits."""

    config: BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.local = LocalConv(config.hidden_size)
        self.embed = ExtraEmbeddings(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.sentiment = nn.Linear(config.hidden_size, len(SENTIMENT_LABELS))
        self.question = nn.Linear(config.hidden_size, 2)
        buckets = int(getattr(config, "ngram_buckets", 0))
        self.wide = WideNgrams(buckets, len(SENTIMENT_LABELS)) if buckets else None

    def input_names(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask", *self.embed.input_names(),
                *(("ngram_ids", "ngram_tf") if self.wide is not None else ()))

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, extra: dict[str, torch.Tensor]
               ) -> torch.Tensor:
        """The encoder's last hidden states [batch, seq, hidden] (also what ``models.pretrain`` trains)."""
        emb = self.local(self.embed(self.bert.embeddings.word_embeddings(input_ids), extra), attention_mask)
        h: torch.Tensor = self.bert(inputs_embeds=emb, attention_mask=attention_mask).last_hidden_state
        return h

    def deep(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, extra: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encode(input_ids, attention_mask, extra)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = self.dropout((h * m).sum(1) / m.sum(1).clamp(min=1.0))
        return self.sentiment(pooled), self.question(pooled)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *extra_inputs: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        extra = dict(zip(self.input_names()[2:], extra_inputs, strict=True))
        s, q = self.deep(input_ids, attention_mask, extra)
        if self.wide is not None:
            s = s + self.wide(extra["ngram_ids"], extra["ngram_tf"])
        return s, q


class NerModel(nn.Module):
    """ExtraEmbeddings + LocalConv + ``BertForTokenClassification`` (+ ``WideTagger`` when
    ``config.ctx_buckets`` > 0), returning only the logits tensor (a clean ONNX signature)."""

    config: BertConfig

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.inner = BertForTokenClassification(config)
        self.local = LocalConv(config.hidden_size)
        self.embed = ExtraEmbeddings(config)
        buckets = int(getattr(config, "ctx_buckets", 0))
        n_tags = int(config.num_labels or 0)
        self.wide = WideTagger(buckets, n_tags) if buckets else None
        self.crf = CrfTransitions(n_tags) if getattr(config, "crf", False) else None

    def input_names(self) -> tuple[str, ...]:
        return ("input_ids", "attention_mask", *self.embed.input_names(), *(("ctx_ids",) if self.wide is not None else ()))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *extra_inputs: torch.Tensor) -> torch.Tensor:
        extra = dict(zip(self.input_names()[2:], extra_inputs, strict=True))
        emb = self.local(self.embed(self.inner.bert.embeddings.word_embeddings(input_ids), extra), attention_mask)
        out: torch.Tensor = self.inner(inputs_embeds=emb, attention_mask=attention_mask).logits
        if self.wide is not None:
            out = out + self.wide(extra["ctx_ids"])
        return out

"""ONNX Runtime serving of the comment models: sentiment + question + entity mentions, no torch.

Imports only onnxruntime, numpy, tokenizers, the stdlib and livecart's numpy-only helpers. ``CommentModel.load()`` reads the shipped
artefacts in ``models/artifacts/`` (``manifest.json`` names the files); ``predict(texts)`` sorts the
batch by token length, deals it out to ``lanes`` (every lanes-th text of the sorted order, so the lanes
get the same mix of lengths), cuts each lane's texts into the runs of at most ``max_batch`` texts that
cost the fewest padded tokens (``models.buckets.length_buckets``), pads each run to its own longest
text, runs both models (the lanes concurrently, one thread each, on the same two sessions) and maps
token tags back to character offsets of the input.

Odd input never raises: non-strings are coerced with ``str``; lone surrogates become U+FFFD (same
length, so offsets stay valid); control characters are dropped by the tokenizer; text longer than
``MAX_CHARS`` characters is analysed on its head only; sentiment and the question flag read the first
``max_len`` tokens (the sentiment n-grams all ``MAX_CHARS``), entities are found over the whole text
(overlapping windows, ``paragraph_spans``); a text with no tokens (empty, whitespace, controls only)
is neutral, not a question, with no entities.
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from models.buckets import lane_plan
from models.calibration import softmax

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MAX_CHARS = 2048  # a live comment is < 100 characters; longer input is cut before tokenisation
_SURROGATES = re.compile("[\ud800-\udfff]")
LEX_TYPES: tuple[str, ...] = ("PER", "LOC", "ORG")  # People's Daily types in the TRAIN entity lexicon
LEX_DIM = 4 * len(LEX_TYPES)  # B / M / E / S match flags per type
NGRAM_BUCKETS = 2**19  # hashed character 1-3-grams of the wide sentiment branch; id 0 is padding
NGRAM_ORDERS = (1, 2, 3)
# ONNX Runtime fusions left out on CPU: its fused SkipLayerNormalization / (Bias)Gelu kernels were slower
# here than the plain LayerNormalization, Add and Erf nodes they replace (sentiment INT8 graph, b64 live
# comments, 2 threads, 2026-12-02, six alternating rounds, median comments/s: all fusions 2,787, without these 3,838;
# NER 13,480 vs 14,060; outputs equal within 2e-6)
CPU_DISABLED_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion", "GeluFusion")
CTX_BUCKETS = 2**18  # hashed token-context features of the wide NER branch; id 0 is padding
# the character CRF anchor's window templates, as token offsets: unigrams -2..+2, bigrams, trigram
CTX_TEMPLATES: tuple[tuple[int, ...], ...] = ((-2,), (-1,), (0,), (1,), (2,), (-1, 0), (0, 1), (-1, 0, 1))
Window = tuple[list[int], list[tuple[int, int]], list[int]]  # ids, offsets, special-token mask (NER windows)


class ModelLoadError(RuntimeError):
    """The model folder is missing a file, or the requested device is unavailable."""


@dataclass(frozen=True)
class Entity:
    start: int  # character offset into the input text
    end: int  # exclusive
    type: str  # PRODUCT BRAND ATTR LINK PER LOC ORG
    text: str
    item_id: str | None = None


@dataclass(frozen=True)
class Analysis:
    sentiment: str  # pos | neg | neu
    sentiment_score: float  # probability of ``sentiment``, 0..1
    entities: tuple[Entity, ...]
    is_question: bool

    def to_json(self, text: str) -> dict[str, Any]:
        """The ``livecart analyze`` output object for ``text`` (``item_id`` only on linked entities)."""
        ents: list[dict[str, Any]] = []
        for e in self.entities:
            d: dict[str, Any] = {"start": e.start, "end": e.end, "type": e.type, "text": e.text}
            if e.item_id is not None:
                d["item_id"] = e.item_id
            ents.append(d)
        return {"text": text, "sentiment": {"label": self.sentiment, "score": round(self.sentiment_score, 4)},
                "entities": ents, "is_question": self.is_question}


EMPTY = Analysis("neu", 1.0, (), False)


def replace_surrogates(text: str) -> str:
    """Lone surrogates (undecodable input bytes) -> U+FFFD; one for one, so offsets are unchanged."""
    return _SURROGATES.sub("\ufffd", text)


def clean_text(text: object) -> str:
    """Coerce to str, cut to MAX_CHARS and replace lone surrogates."""
    return replace_surrogates((text if isinstance(text, str) else str(text))[:MAX_CHARS])


def choose_providers(device: Device) -> list[str]:
    """CUDA first when asked for ("cuda") or allowed ("auto") and present; CPU always last.

    Raises ModelLoadError for ``device="cuda"`` when onnxruntime has no CUDA provider.
    """
    available = ort.get_available_providers()
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelLoadError(f"device='cuda' but onnxruntime offers only {available}")
    return ["CPUExecutionProvider"]


def bio_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first token, last token exclusive, type) from BIO tags; an I- without its B- starts an entity."""
    out: list[tuple[int, int, str]] = []
    start, cur = -1, ""
    for i, t in enumerate([*tags, "O"]):
        if t == "O" or t.startswith("B-") or t[2:] != cur:
            if cur:
                out.append((start, i, cur))
            start, cur = (i, t[2:]) if t != "O" else (-1, "")
    return out


# ---------------------------------------------------------------- extra model inputs (numpy only)
class Lexicon:
    """TRAIN-only entity lexicon: string -> bit mask over ``LEX_TYPES``; matches give B/M/E/S flags."""

    def __init__(self, entries: Mapping[str, int]) -> None:
        self.entries = dict(entries)
        self.prefixes = {s[:i] for s in self.entries for i in range(1, len(s))}
        self.max_len = max((len(s) for s in self.entries), default=0)

    @classmethod
    def from_file(cls, path: Path) -> Lexicon:
        data = json.loads(path.read_text(encoding="utf-8"))
        if list(data["types"]) != list(LEX_TYPES):
            raise ValueError(f"{path}: lexicon types {data['types']}, expected {list(LEX_TYPES)}")
        return cls({s: int(m) for s, m in data["entries"].items()})

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """Every lexicon string in ``text``: (start, end, type mask), by start then end."""
        found: list[tuple[int, int, int]] = []
        entries, prefixes, n = self.entries, self.prefixes, len(text)
        for i in range(n):
            for j in range(i + 1, min(n, i + self.max_len) + 1):
                s = text[i:j]
                m = entries.get(s)
                if m:
                    found.append((i, j, m))
                if s not in prefixes:
                    break
        return found

    def char_flags(self, text: str, found: Sequence[tuple[int, int, int]] | None = None) -> np.ndarray:
        """[len(text), LEX_DIM] float32: flag 4*t+{0:B,1:M,2:E,3:S} for every lexicon match of type t
        (``found``: the text's ``matches`` when already known)."""
        out = np.zeros((len(text), LEX_DIM), dtype=np.float32)
        for i, j, m in self.matches(text) if found is None else found:
            for t in range(len(LEX_TYPES)):
                if m >> t & 1:
                    if j - i == 1:
                        out[i, 4 * t + 3] = 1.0
                    else:
                        out[i, 4 * t] = 1.0
                        out[i + 1:j - 1, 4 * t + 1] = 1.0
                        out[j - 1, 4 * t + 2] = 1.0
        return out

    def token_flags(self, text: str, offsets: Sequence[tuple[int, int]], special: Sequence[int]) -> np.ndarray:
        """[n_tokens, LEX_DIM]: the union of the flags of each token's characters (0 on special tokens)."""
        out = np.zeros((len(offsets), LEX_DIM), dtype=np.float32)
        found = self.matches(text)
        if not found:  # most live comments: no person, place or organisation of the lexicon
            return out
        keep = [k for k, ((a, b), sp) in enumerate(zip(offsets, special, strict=True)) if not sp and b > a]
        if keep:
            # one reduceat over [a0, b0, a1, b1, ...]: the even rows are the maxima over each token's chars
            chars = np.vstack([self.char_flags(text, found), np.zeros((1, LEX_DIM), dtype=np.float32)])
            bounds = np.asarray([offsets[k] for k in keep], dtype=np.int64).reshape(-1)
            out[keep] = np.maximum.reduceat(chars, bounds, axis=0)[::2]
        return out


def bigram_ids(ids: np.ndarray, table: np.ndarray, vocab_size: int) -> np.ndarray:
    """[batch, seq] id of the token bigram (token i, token i+1) in the sorted key table ``table``
    (key = left * vocab_size + right), 1-based; 0 when unknown, at the last token and on padding."""
    out = np.zeros(ids.shape, dtype=np.int64)
    if ids.shape[1] < 2 or len(table) == 0:
        return out
    keys = ids[:, :-1] * vocab_size + ids[:, 1:]
    pos = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    hit = (table[pos] == keys) & (ids[:, 1:] != 0)
    out[:, :-1] = np.where(hit, pos + 1, 0)
    return out


def context_ids(ids: np.ndarray, buckets: int = CTX_BUCKETS) -> np.ndarray:
    """[batch, seq, len(CTX_TEMPLATES)] int64 hashed feature ids (1..buckets-1) of each token's window of
    token ids (``CTX_TEMPLATES``; beyond the row's ends the id is 0); 0 on padding positions.
    A multiplicative hash of (template, ids), identical in training and serving."""
    b, s = ids.shape
    u = np.zeros((b, s + 4), dtype=np.uint64)
    u[:, 2:s + 2] = ids
    out = np.zeros((b, s, len(CTX_TEMPLATES)), dtype=np.int64)
    with np.errstate(over="ignore"):
        for f, offs in enumerate(CTX_TEMPLATES):
            key = np.full((b, s), f + 1, dtype=np.uint64)
            for o in offs:
                key = key * np.uint64(1 << 16) + u[:, 2 + o:2 + o + s]
            h = (key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(24)
            out[:, :, f] = 1 + (h % np.uint64(buckets - 1)).astype(np.int64)
    out[ids == 0] = 0
    return out


def window_starts(n: int, width: int, stride: int) -> list[int]:
    """Starts of the windows of ``width`` tokens, one every ``stride`` tokens, that cover ``n`` tokens;
    the last window ends at ``n`` (one window at 0 when ``n <= width``)."""
    if width < 1 or not 1 <= stride <= width:
        raise ValueError(f"need 1 <= stride <= width, got stride {stride}, width {width}")
    if n <= width:
        return [0]
    return [*range(0, n - width, stride), n - width]


def window_owners(n: int, width: int, starts: Sequence[int]) -> np.ndarray:
    """[n] index into ``starts`` of the window each token is read from: among the windows holding it,
    the one where it lies farthest from an edge (most context on both sides)."""
    pos = np.arange(n)[:, None]
    s = np.asarray(starts)[None, :]
    inside = (pos >= s) & (pos < s + width)
    margin = np.where(inside, np.minimum(pos - s, s + width - 1 - pos), -1)
    owners: np.ndarray = margin.argmax(1)
    return owners


WINDOW_STRIDE = 63  # a paragraph longer than one window is read in windows every half window


def text_windows(encs: Sequence[Encoding], max_len: int, stride: int = WINDOW_STRIDE) -> list[tuple[int, int, Window]]:
    """(text index, first token, window) for texts of any length, from their untruncated encodings
    (``[CLS] ... [SEP]``): windows of max_len-2 tokens every ``stride`` tokens (``window_starts``), each
    wrapped in [CLS] .. [SEP] as in training; in text order, each text's windows in token order."""
    w = max_len - 2
    out: list[tuple[int, int, Window]] = []
    for i, e in enumerate(encs):
        cls_id, sep_id = e.ids[0], e.ids[-1]
        ids, offs = e.ids[1:-1], e.offsets[1:-1]
        for s in window_starts(len(ids), w, stride):
            n = len(ids[s:s + w])
            out.append((i, s, ([cls_id, *ids[s:s + w], sep_id], [(0, 0), *offs[s:s + w], (0, 0)], [1] + [0] * n + [1])))
    return out


def paragraph_spans(encs: Sequence[Encoding], texts: Sequence[str], max_len: int, labels: Sequence[str],
                    crf: tuple[np.ndarray, np.ndarray] | None,
                    logits_of: Callable[[Sequence[str], Sequence[Window]], list[np.ndarray]],
                    stride: int = WINDOW_STRIDE) -> list[list[tuple[int, int, str]]]:
    """(start, end, type) character spans of texts of any length, from their untruncated encodings
    (``[CLS] ... [SEP]``). Windows of max_len-2 tokens start every ``stride`` tokens (each wrapped in
    [CLS] .. [SEP], as in training); each token's tag logits are read from the window where it lies
    farthest from an edge (``window_owners``), so no entity is cut at a window boundary and every token
    has context on both sides; then one BIO-constrained Viterbi per text.
    ``logits_of(texts, windows)`` returns each window's [len(ids), tags] logits."""
    w = max_len - 2
    placed = text_windows(encs, max_len, stride)
    logits = logits_of([texts[i] for i, _, _ in placed], [win for _, _, win in placed])
    first: list[int] = [0] * len(encs)  # each text's first window in ``placed``, and its windows' starts
    starts_of: list[list[int]] = [[] for _ in encs]
    for q, (i, start, _) in enumerate(placed):
        if not starts_of[i]:
            first[i] = q
        starts_of[i].append(start)
    k = len(labels)
    out: list[list[tuple[int, int, str]]] = []
    for j in range(0, len(texts), 64):
        idx = range(j, min(len(texts), j + 64))
        batch = np.zeros((len(idx), max(1, max(len(encs[i].ids) - 2 for i in idx)), k), dtype=np.float32)
        mask = np.zeros(batch.shape[:2], dtype=bool)
        for r, i in enumerate(idx):
            offs, starts = encs[i].offsets[1:-1], starts_of[i]
            for t, o in enumerate(window_owners(len(offs), w, starts)):
                batch[r, t] = logits[first[i] + o][1 + t - starts[o]]
            mask[r, :len(offs)] = [b > a for a, b in offs]
        tags = viterbi_bio(batch, labels, mask, crf)
        for r, i in enumerate(idx):
            o = encs[i].offsets[1:-1]
            spans = bio_to_spans([labels[int(x)] for x in tags[r, :len(o)]])
            out.append([(o[a][0], o[b - 1][1], t) for a, b, t in spans])
    return out


_NGRAM_SEEDS = tuple((n, zlib.crc32(f"{n}:".encode())) for n in NGRAM_ORDERS)  # (order, crc32 of "n:")


def ngram_counts(text: str) -> Counter[int]:
    """Hashed character n-grams (``NGRAM_ORDERS``) of the NFKC-folded, lower-cased text: bucket -> count.
    Buckets are 1..NGRAM_BUCKETS-1 (crc32 of "n:gram"), stable across processes and platforms."""
    t = unicodedata.normalize("NFKC", text).lower()
    m = NGRAM_BUCKETS - 1
    crc = zlib.crc32
    # crc32(prefix + gram) == crc32(gram, crc32(prefix)): the "n:" prefix is hashed once per order
    return Counter(1 + crc(t[i:i + n].encode("utf-8", "replace"), seed) % m
                   for n, seed in _NGRAM_SEEDS for i in range(len(t) - n + 1))


def ngram_inputs(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``ngram_ids`` [batch, n] int64 (0 = padding) and ``ngram_tf`` [batch, n] float32 (1 + ln count,
    sublinear term frequency), n = the most distinct n-grams of a text in the batch (at least 1)."""
    counts = [ngram_counts(t) for t in texts]
    n = max([1, *(len(c) for c in counts)])
    ids = np.zeros((len(texts), n), dtype=np.int64)
    raw = np.zeros((len(texts), n), dtype=np.float64)
    for k, c in enumerate(counts):
        keys = sorted(c)
        ids[k, :len(keys)] = keys
        raw[k, :len(keys)] = [c[b] for b in keys]
    with np.errstate(divide="ignore"):
        tf = np.where(raw > 0, 1.0 + np.log(raw), 0.0).astype(np.float32)
    return ids, tf


class Features:
    """Builds every model input from encodings + texts: ids, mask, bigram ids, lexicon flags, n-grams."""

    def __init__(self, bigrams: np.ndarray, vocab_size: int, lexicon: Lexicon | None) -> None:
        self.bigrams = bigrams
        self.vocab_size = vocab_size
        self.lexicon = lexicon

    def feed(self, encs: Sequence[Encoding | Window],
             texts: Sequence[str], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Right-padded inputs named ``names`` for a batch. An encoding may be a tokenizers ``Encoding`` or
        ``(ids, offsets, special_tokens_mask)`` (NER windows)."""
        parts = [(e.ids, e.offsets, e.special_tokens_mask) if isinstance(e, Encoding) else e for e in encs]
        n = max(len(p[0]) for p in parts)
        ids = np.zeros((len(parts), n), dtype=np.int64)
        for k, p in enumerate(parts):
            ids[k, :len(p[0])] = p[0]
        feed: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}
        if "bigram_ids" in names:
            feed["bigram_ids"] = bigram_ids(ids, self.bigrams, self.vocab_size)
        if "lexicon" in names:
            lex = np.zeros((len(parts), n, LEX_DIM), dtype=np.float32)
            if self.lexicon is not None:
                for k, (p, text) in enumerate(zip(parts, texts, strict=True)):
                    lex[k, :len(p[0])] = self.lexicon.token_flags(text, p[1], p[2])
            feed["lexicon"] = lex
        if "ngram_ids" in names:
            feed["ngram_ids"], feed["ngram_tf"] = ngram_inputs(texts)
        if "ctx_ids" in names:
            feed["ctx_ids"] = context_ids(ids)
        return {k: feed[k] for k in names}


def viterbi_bio(logits: np.ndarray, labels: Sequence[str], mask: np.ndarray,
                crf: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Best tag path per row under BIO constraints (I-X only after B-X or I-X, never first):
    [batch, seq, tags] logits, [batch, seq] mask of the positions to decode -> [batch, seq] tag ids.
    Without ``crf`` the scores are log-softmax per position; with ``crf`` = (start [tags], transitions
    [prev, cur]) learnt by a CRF they are the raw logits plus those. Masked positions are skipped
    (they keep the previous state)."""
    b, t, k = logits.shape
    if crf is None:
        z = logits - logits.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    else:
        logp = logits.astype(np.float32)
    allowed = np.ones((k, k), dtype=bool)  # allowed[prev, cur]
    start_ok = np.ones(k, dtype=bool)
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            start_ok[j] = False
            allowed[:, j] = [p in (f"B-{lab[2:]}", lab) for p in labels]
    neg = np.float32(-1e9)
    start, learnt = (np.zeros(k, np.float32), np.zeros((k, k), np.float32)) if crf is None else crf
    trans_t = np.ascontiguousarray(np.where(allowed, learnt, neg).astype(np.float32).T)  # [cur, prev]
    score = np.where(start_ok, start, neg).astype(np.float32)[None, :].repeat(b, 0)
    started = np.zeros(b, dtype=bool)
    back = np.zeros((b, t, k), dtype=np.int64)
    stay = np.arange(k)[None]  # back-pointer of a first or skipped position: the state itself
    rows = np.arange(b)
    mask = mask.astype(bool)
    for i in range(t):
        m = mask[:, i]
        if not m.any():  # e.g. [SEP] and padding at the end of every row
            back[:, i] = stay
            continue
        cand = score[:, None, :] + trans_t  # [b, cur, prev]: the reduction runs over contiguous memory
        prev = cand.argmax(2)
        first = m & ~started
        step = np.where(first[:, None], score, cand[rows[:, None], stay, prev]) + logp[:, i]
        back[:, i] = np.where((m & ~first)[:, None], prev, stay)
        score = np.where(m[:, None], step, score)
        started |= m
    out = np.zeros((b, t), dtype=np.int64)
    cur = score.argmax(1)
    for i in range(t - 1, -1, -1):
        out[:, i] = cur
        cur = back[rows, i, cur]
    return out

def load_features(root: Path, manifest: Mapping[str, Any], vocab_size: int) -> Features:
    """The feature builder of a model folder: bigram key table and entity lexicon named in the manifest
    (both optional: a folder without them feeds only ids and mask)."""
    extra = manifest.get("features", {})
    bigrams = np.load(root / extra["bigrams"]) if "bigrams" in extra else np.zeros(0, dtype=np.int64)
    lexicon = Lexicon.from_file(root / extra["lexicon"]) if "lexicon" in extra else None
    return Features(bigrams.astype(np.int64), vocab_size, lexicon)


def graph_variant(manifest: Mapping[str, Any], task: str, variant: str, on_gpu: bool) -> str:
    """"fp32" or "int8" for one graph: ``variant`` unless "auto"; on CUDA FP32; on CPU the manifest's
    ``cpu_variant`` (one name for both graphs, or a mapping per graph; FP32 when absent)."""
    if variant != "auto":
        return variant
    if on_gpu:
        return "fp32"
    cpu = manifest.get("cpu_variant", "fp32")
    return str(cpu if isinstance(cpu, str) else cpu.get(task, "fp32"))


class CommentModel:
    """Sentiment + question + entity model pair behind one ``predict``; safe to call from one thread
    (``predict`` runs its lanes on its own thread pool)."""

    def __init__(self, model_dir: Path, manifest: dict[str, Any], tokenizer: Tokenizer,
                 sentiment: ort.InferenceSession, ner: ort.InferenceSession, max_batch: int, variant: str,
                 features: Features, lanes: int = 1, intra_op_threads: int = 0) -> None:
        self.model_dir = model_dir
        self.variant = variant  # which graphs run, e.g. "sentiment=int8 ner=fp32"
        self.version: str = str(manifest["version"])
        self.sentiment_labels: list[str] = list(manifest["sentiment_labels"])
        self.ner_labels: list[str] = list(manifest["ner_labels"])
        self.max_len = int(manifest["max_len"])
        self.max_batch = max_batch
        self.lanes = max(1, lanes)
        self.intra_op_threads = intra_op_threads  # of each run (0: onnxruntime's default, all cores)
        # created here, not on first use, so concurrent first calls cannot race; its threads start on demand
        self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="livecart-lane") if self.lanes > 1 else None
        self.tokenizer = tokenizer
        self.tokenizer.enable_truncation(self.max_len)
        self._untruncated = Tokenizer.from_str(tokenizer.to_str())  # for texts longer than one window
        self._untruncated.no_truncation()
        self.tokenizer.no_padding()
        self._sentiment = sentiment
        self._ner = ner
        self.features = features
        self.sentiment_inputs = [i.name for i in sentiment.get_inputs()]
        self.ner_inputs = [i.name for i in ner.get_inputs()]
        self.providers: list[str] = sentiment.get_providers()
        # sentiment scores = softmax(logits / T), T fitted on held-out DEV logits (models.calibration); the
        # labels are the logits' argmax either way; model folders from before 4.1 have no T (= 1)
        self.sentiment_temperature = float(manifest.get("sentiment_temperature", 1.0))
        crf = manifest.get("ner_crf")  # CRF-trained NER: decode with its start / transition scores
        self.ner_crf = (None if not crf else
                        (np.asarray(crf["start"], dtype=np.float32), np.asarray(crf["transitions"], dtype=np.float32)))

    @classmethod
    def load(cls, model_dir: str | None = None, *, device: Device = "auto", threads: int = 0, lanes: int = 1,
             max_batch: int = 64, variant: Literal["auto", "fp32", "int8"] = "auto") -> CommentModel:
        """Load ``model_dir`` (``None``/"": the shipped ``models/artifacts``).

        ``threads``: cores the model may use (0 = all). ``lanes``: runs of one ``predict`` executed
        concurrently, each on its own thread with ``threads // lanes`` (at least 1) intra-op threads; 1 =
        one run at a time with ``threads`` intra-op threads (0: onnxruntime's default, all cores).
        Several single-threaded lanes beat one multi-threaded run on these small graphs: each run's
        kernels are too small to split across cores well (see ``models/README.md``, serving).
        ``max_batch``: texts per padded bucket inside ``predict``.
        ``variant``: "auto" runs the manifest's CPU variant of each graph on CPU and FP32 on CUDA.
        Raises ModelLoadError when a file is missing or ``device="cuda"`` is unavailable.
        """
        root = Path(model_dir) if model_dir else ARTIFACTS
        try:
            manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(root / manifest["tokenizer"]))
            features = load_features(root, manifest, tokenizer.get_vocab_size())
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ModelLoadError(f"cannot load model folder {root}: {exc}") from exc
        providers = choose_providers(device)
        on_gpu = providers[0] == "CUDAExecutionProvider"
        kinds = {t: graph_variant(manifest, t, variant, on_gpu) for t in ("sentiment", "ner")}
        kind = " ".join(f"{t}={k}" for t, k in kinds.items())
        lanes = max(1, lanes)
        intra = threads if lanes == 1 else max(1, (threads or os.cpu_count() or 1) // lanes)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # the two sessions run back to back with a pool each: pool threads spin between the nodes of a
        # run (waking sleeping threads for every node was slower) but stop when the run ends, so an idle
        # pool does not steal the cores the other graph needs (b64 live comments/s, 2 threads, same-run
        # A/B 2026-12-02: spinning always on 983-1,151, never 1,707-1,749, stop after each run 1,851-1,879)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1")
        opts.add_session_config_entry("session.force_spinning_stop", "1")
        opts.log_severity_level = 3
        sessions = []
        for name in ("sentiment", "ner"):
            path = root / manifest["files"][name][kinds[name]]
            if not path.exists():
                raise ModelLoadError(f"model file {path} missing (manifest {root / 'manifest.json'})")
            sessions.append(ort.InferenceSession(str(path), sess_options=opts, providers=providers,
                                                 disabled_optimizers=[] if on_gpu else list(CPU_DISABLED_FUSIONS)))
        got = sessions[0].get_providers()
        if on_gpu and got[0] != "CUDAExecutionProvider":
            log.warning("CUDAExecutionProvider requested but the session fell back to %s", got)
        if device == "cuda" and got[0] != "CUDAExecutionProvider":
            raise ModelLoadError(f"device='cuda' but the session runs on {got}")
        log.info("comment model %s (%s) on %s, %d lane(s), intra-op threads %s", manifest["version"], kind, got[0],
                 lanes, intra or "default")
        return cls(root, manifest, tokenizer, sessions[0], sessions[1], max_batch, kind, features, lanes, intra)

    def predict(self, texts: Sequence[str]) -> list[Analysis]:
        """One Analysis per text, in order. Never raises for odd text (see the module docstring)."""
        clean = [clean_text(t) for t in texts]
        encs = self.tokenizer.encode_batch(clean)
        out: list[Analysis] = [EMPTY] * len(clean)

        def lane(runs: list[list[int]]) -> list[tuple[list[int], list[Analysis]]]:
            return [(run, self._run([encs[i] for i in run], [clean[i] for i in run])) for run in runs]

        plan = self.plan(encs)
        for run, res in (pair for done in self.map_lanes(lane, plan) for pair in done):
            for i, a in zip(run, res, strict=True):
                out[i] = a
        # longer than one window: entities over all of it
        long = sorted(i for runs in plan for run in runs for i in run if encs[i].overflowing)
        for i, spans in zip(long, self.paragraph_spans([clean[i] for i in long]), strict=True):
            ents = tuple(Entity(a, b, t, clean[i][a:b]) for a, b, t in spans if b > a)
            out[i] = Analysis(out[i].sentiment, out[i].sentiment_score, ents, out[i].is_question)
        return out

    def plan(self, encs: Sequence[Encoding]) -> list[list[list[int]]]:
        """Per lane, the padded runs (indices into ``encs``) that ``predict`` feeds to the graphs
        (``lane_plan``: texts with tokens, by length, dealt to the lanes, cut by ``length_buckets``)."""
        return lane_plan([len(e.ids) for e in encs], self.max_batch, self.lanes)

    def map_lanes(self, fn: Callable[[list[list[int]]], Any], plan: list[list[list[int]]]) -> list[Any]:
        """``fn`` over each lane's runs, concurrently on the model's pool when there is more than one."""
        if len(plan) < 2 or self._pool is None:
            return [fn(runs) for runs in plan]
        return list(self._pool.map(fn, plan))

    def paragraph_spans(self, texts: Sequence[str], stride: int = WINDOW_STRIDE) -> list[list[tuple[int, int, str]]]:
        """(start, end, type) entity spans of texts of any length, read in overlapping windows of the
        NER graph (``paragraph_spans``); ``predict`` uses it for texts longer than one window."""
        if not texts:
            return []

        def logits_of(win_texts: Sequence[str], windows: Sequence[Window]) -> list[np.ndarray]:
            got: list[np.ndarray] = [np.zeros(0)] * len(windows)
            order = sorted(range(len(windows)), key=lambda q: len(windows[q][0]))
            for j in range(0, len(order), self.max_batch):
                b = order[j:j + self.max_batch]
                feed = self.features.feed([windows[q] for q in b], [win_texts[q] for q in b], self.ner_inputs)
                lg = self._ner.run(["tag_logits"], feed)[0]
                for row, q in enumerate(b):
                    got[q] = lg[row, :len(windows[q][0])]
            return got

        encs = self._untruncated.encode_batch(list(texts))
        return paragraph_spans(encs, texts, self.max_len, self.ner_labels, self.ner_crf, logits_of, stride)

    @property
    def input_names(self) -> list[str]:
        """Every input of the two graphs, each once (the keys ``run_graphs`` needs)."""
        return list(dict.fromkeys([*self.sentiment_inputs, *self.ner_inputs]))

    def run_graphs(self, feed: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sentiment, question and tag logits of one padded batch built by ``self.features.feed``."""
        s_logits, q_logits = self._sentiment.run(["sentiment_logits", "question_logits"],
                                                 {k: feed[k] for k in self.sentiment_inputs})
        tag_logits = self._ner.run(["tag_logits"], {k: feed[k] for k in self.ner_inputs})[0]
        return s_logits, q_logits, tag_logits

    def _run(self, encs: list[Encoding], texts: list[str]) -> list[Analysis]:
        s_logits, q_logits, tag_logits = self.run_graphs(self.features.feed(encs, texts, self.input_names))
        tags = self.decode_tags(tag_logits, encs)
        s_prob, q_prob = softmax(s_logits, self.sentiment_temperature), softmax(q_logits)
        res = []
        for k, (e, text) in enumerate(zip(encs, texts, strict=True)):
            lab = int(s_prob[k].argmax())
            res.append(Analysis(self.sentiment_labels[lab], float(s_prob[k, lab]),
                                self._entities(e, tags[k], text), bool(q_prob[k, 1] > 0.5)))
        return res

    def decode_tags(self, tag_logits: np.ndarray, encs: Sequence[Encoding | Window]
                    ) -> np.ndarray:
        """[batch, seq] tag ids: BIO-constrained Viterbi over the non-special tokens (with the model's CRF
        scores when its manifest has them)."""
        mask = np.zeros(tag_logits.shape[:2], dtype=bool)
        for k, e in enumerate(encs):
            offsets, special = (e.offsets, e.special_tokens_mask) if isinstance(e, Encoding) else (e[1], e[2])
            mask[k, :len(offsets)] = [not sp and b > a for (a, b), sp in zip(offsets, special, strict=True)]
        return viterbi_bio(tag_logits, self.ner_labels, mask, self.ner_crf)

    def _entities(self, enc: Encoding, tag_ids: np.ndarray, text: str) -> tuple[Entity, ...]:
        idx = [i for i, sp in enumerate(enc.special_tokens_mask) if not sp]
        tags = [self.ner_labels[int(tag_ids[i])] for i in idx]
        ents = []
        for a, b, typ in bio_to_spans(tags):
            start, end = enc.offsets[idx[a]][0], enc.offsets[idx[b - 1]][1]
            if end > start:
                ents.append(Entity(start, end, typ, text[start:end]))
        return tuple(ents)

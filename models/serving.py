"""ONNX Runtime serving of the comment models: sentiment + question + entity mentions, no torch.

Imports only onnxruntime, numpy, tokenizers and the stdlib. ``CommentModel.load()`` reads the shipped
artefacts in ``models/artifacts/`` (``manifest.json`` names the files); ``predict(texts)`` sorts the
batch by token length, cuts it into buckets of at most ``max_batch`` texts, pads each bucket to its
own longest text, runs both models and maps token tags back to character offsets of the input.

Odd input never raises: non-strings are coerced with ``str``; lone surrogates become U+FFFD (same
length, so offsets stay valid); control characters are dropped by the tokenizer; text longer than
``MAX_CHARS`` characters, or than the model's ``max_len`` tokens, is analysed on its head only; a
text with no tokens (empty, whitespace, controls only) is neutral, not a question, with no entities.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
MAX_CHARS = 2048  # a live comment is < 100 characters; longer input is cut before tokenisation
_SURROGATES = re.compile("[\ud800-\udfff]")


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


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class CommentModel:
    """Sentiment + question + entity model pair behind one ``predict``; safe to call from one thread."""

    def __init__(self, model_dir: Path, manifest: dict[str, Any], tokenizer: Tokenizer,
                 sentiment: ort.InferenceSession, ner: ort.InferenceSession, max_batch: int, variant: str) -> None:
        self.model_dir = model_dir
        self.variant = variant  # "fp32" or "int8": which graphs run
        self.version: str = str(manifest["version"])
        self.sentiment_labels: list[str] = list(manifest["sentiment_labels"])
        self.ner_labels: list[str] = list(manifest["ner_labels"])
        self.max_len = int(manifest["max_len"])
        self.max_batch = max_batch
        self.tokenizer = tokenizer
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.no_padding()
        self._sentiment = sentiment
        self._ner = ner
        self.providers: list[str] = sentiment.get_providers()

    @classmethod
    def load(cls, model_dir: str | None = None, *, device: Device = "auto", threads: int = 0,
             max_batch: int = 64, variant: Literal["auto", "fp32", "int8"] = "auto") -> CommentModel:
        """Load ``model_dir`` (``None``/"": the shipped ``models/artifacts``).

        ``threads``: intra-op threads per session (0 = onnxruntime's default, all cores).
        ``max_batch``: texts per padded bucket inside ``predict``.
        ``variant``: "auto" runs the manifest's CPU variant (INT8) on CPU and FP32 on CUDA.
        Raises ModelLoadError when a file is missing or ``device="cuda"`` is unavailable.
        """
        root = Path(model_dir) if model_dir else ARTIFACTS
        try:
            manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
            tokenizer = Tokenizer.from_file(str(root / manifest["tokenizer"]))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ModelLoadError(f"cannot load model folder {root}: {exc}") from exc
        providers = choose_providers(device)
        on_gpu = providers[0] == "CUDAExecutionProvider"
        kind = variant if variant != "auto" else ("fp32" if on_gpu else manifest.get("cpu_variant", "fp32"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        sessions = []
        for name in ("sentiment", "ner"):
            path = root / manifest["files"][name][kind]
            if not path.exists():
                raise ModelLoadError(f"model file {path} missing (manifest {root / 'manifest.json'})")
            sessions.append(ort.InferenceSession(str(path), sess_options=opts, providers=providers))
        got = sessions[0].get_providers()
        if on_gpu and got[0] != "CUDAExecutionProvider":
            log.warning("CUDAExecutionProvider requested but the session fell back to %s", got)
        if device == "cuda" and got[0] != "CUDAExecutionProvider":
            raise ModelLoadError(f"device='cuda' but the session runs on {got}")
        log.info("comment model %s (%s) on %s, intra-op threads %s", manifest["version"], kind, got[0],
                 threads or "default")
        return cls(root, manifest, tokenizer, sessions[0], sessions[1], max_batch, kind)

    def predict(self, texts: Sequence[str]) -> list[Analysis]:
        """One Analysis per text, in order. Never raises for odd text (see the module docstring)."""
        clean = [clean_text(t) for t in texts]
        encs = self.tokenizer.encode_batch(clean)
        out: list[Analysis] = [EMPTY] * len(clean)
        order = sorted((i for i, e in enumerate(encs) if len(e.ids) > 2), key=lambda i: len(encs[i].ids))
        for j in range(0, len(order), self.max_batch):
            bucket = order[j:j + self.max_batch]
            for i, a in zip(bucket, self._run([encs[i] for i in bucket], [clean[i] for i in bucket]), strict=True):
                out[i] = a
        return out

    def _run(self, encs: list[Encoding], texts: list[str]) -> list[Analysis]:
        n = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), n), dtype=np.int64)
        mask = np.zeros((len(encs), n), dtype=np.int64)
        for k, e in enumerate(encs):
            ids[k, :len(e.ids)] = e.ids
            mask[k, :len(e.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        s_logits, q_logits = self._sentiment.run(["sentiment_logits", "question_logits"], feed)
        tags = self._ner.run(["tag_logits"], feed)[0].argmax(-1)
        s_prob, q_prob = _softmax(s_logits), _softmax(q_logits)
        res = []
        for k, (e, text) in enumerate(zip(encs, texts, strict=True)):
            lab = int(s_prob[k].argmax())
            res.append(Analysis(self.sentiment_labels[lab], float(s_prob[k, lab]),
                                self._entities(e, tags[k], text), bool(q_prob[k, 1] > 0.5)))
        return res

    def _entities(self, enc: Encoding, tag_ids: np.ndarray, text: str) -> tuple[Entity, ...]:
        idx = [i for i, sp in enumerate(enc.special_tokens_mask) if not sp]
        tags = [self.ner_labels[int(tag_ids[i])] for i in idx]
        ents = []
        for a, b, typ in bio_to_spans(tags):
            start, end = enc.offsets[idx[a]][0], enc.offsets[idx[b - 1]][1]
            if end > start:
                ents.append(Entity(start, end, typ, text[start:end]))
        return tuple(ents)

"""Comment-model serving: throughput and per-batch latency by batch size, ONNX Runtime on CPU beside PyTorch eager.

Both models (sentiment + question, NER) run per batch, as ``CommentModel.predict`` does in the worker;
texts are real simulator comments. PyTorch numbers need the ``train`` extra (torch); without it
they are ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from streams.catalog import Catalog
from streams.simulate import simulate


def sample_comments(n: int, seed: int = 3) -> list[str]:
    texts: list[str] = []
    for line in simulate(Catalog.load(None), seed=seed, rooms=None, duration_s=600, viewers_per_room=200):
        if line["topic"] == "live.comments":
            texts.append(line["value"]["text"])
            if len(texts) >= n:
                break
    return texts


def _time_batches(fn: Any, texts: list[str], batch: int, budget_s: float) -> dict[str, float]:
    fn(texts[:batch])  # warm-up: first-call allocation and graph setup
    lat: list[float] = []
    done = 0
    start = time.perf_counter()
    i = 0
    while time.perf_counter() - start < budget_s or len(lat) < 3:
        chunk = [texts[(i + k) % len(texts)] for k in range(batch)]
        i += batch
        t = time.perf_counter()
        fn(chunk)
        lat.append((time.perf_counter() - t) * 1000)
        done += batch
    total = time.perf_counter() - start
    return {"batch": batch, "texts_per_s": round(done / total, 1), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2), "batches": len(lat)}


def _torch_predict(threads: int, lanes: int = 1) -> Any:
    """PyTorch eager on ``threads`` cores: one run at a time with ``threads`` intra-op threads (lanes 1) or
    ``lanes`` concurrent runs of one thread each (the same plan as the ONNX model's)."""
    try:
        import torch

        from export.onnx import torch_pipeline
    except ImportError:
        return None
    from models.serving import CommentModel

    served = CommentModel.load(None, device="cpu", threads=threads, lanes=lanes, variant="fp32")
    torch.set_num_threads(served.intra_op_threads or threads)  # per lane, as ONNX Runtime's per run
    return torch_pipeline(served)


def run_serving(*, batches: Sequence[int] = (1, 8, 32, 64), budget_s: float = 2.0, threads: Sequence[int] = (1, 2),
                torch_eager: bool = True) -> dict[str, Any]:
    """Rows ``{engine, variant, threads, lanes, batch, texts_per_s, p50_ms, p95_ms}`` for ONNX fp32/int8 and torch
    eager; with more than one thread each engine also runs as that many single-thread lanes."""
    from models.serving import CommentModel

    texts = sample_comments(512)
    layouts = [(th, lanes) for th in threads for lanes in sorted({1, th})]
    rows: list[dict[str, Any]] = []
    for variant in ("fp32", "int8"):
        for th, lanes in layouts:
            model = CommentModel.load(None, device="cpu", threads=th, lanes=lanes, max_batch=max(batches), variant=variant)
            for b in batches:
                rows.append({"engine": "onnxruntime-cpu", "variant": variant, "threads": th, "lanes": lanes,
                             **_time_batches(model.predict, texts, b, budget_s)})
    if torch_eager:
        for th, lanes in layouts:
            predict = _torch_predict(th, lanes)
            if predict is None:
                break
            for b in batches:
                rows.append({"engine": "pytorch-eager-cpu", "variant": "fp32", "threads": th, "lanes": lanes,
                             **_time_batches(predict, texts, b, budget_s)})
    return {"rows": rows, "texts": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)}

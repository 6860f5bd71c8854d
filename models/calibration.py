"""Probability calibration of the sentiment scores (numpy only; used by training, export and evaluation).

The wide & deep sentiment model's logits are large (the wide branch is scaled x3), so a plain softmax
puts almost every comment's score at 1.0. Temperature scaling (Guo et al., 2017) divides the logits by
one scalar ``T`` fitted by maximum likelihood on held-out data before the softmax: the argmax, and so
every label and accuracy, is unchanged; only the scores move. ``expected_calibration_error`` measures
the result (equal-width confidence bins, weighted |accuracy - confidence|).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

T_BOUNDS = (0.05, 50.0)


def softmax(x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: Sequence[int], temperature: float) -> float:
    """Mean negative log-likelihood of ``labels`` under softmax(logits / temperature)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    y = np.asarray(labels)
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int], bounds: tuple[float, float] = T_BOUNDS) -> float:
    """The temperature minimising the NLL, by golden-section search over log T (the NLL is unimodal in
    log T for a fixed set of logits); ``bounds`` are hit when the data pushes past them."""
    if len(labels) == 0:
        raise ValueError("no examples to fit a temperature on")
    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(logits, labels, float(np.exp(a))), nll(logits, labels, float(np.exp(b)))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(logits, labels, float(np.exp(a)))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(logits, labels, float(np.exp(b)))
    return float(np.exp((lo + hi) / 2))


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """ECE of top-label scores: sum over equal-width bins of |bin accuracy - bin mean confidence| x share."""
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    if c.size == 0:
        raise ValueError("no predictions")
    idx = np.minimum((c * bins).astype(int), bins - 1)
    err = 0.0
    for k in range(bins):
        m = idx == k
        if m.any():
            err += m.mean() * abs(ok[m].mean() - c[m].mean())
    return float(err)


def summary(logits: np.ndarray, labels: Sequence[int], temperature: float) -> dict[str, float]:
    """ECE (10 bins) and NLL of the top-label scores of softmax(logits / temperature), and their mean."""
    conf = softmax(logits, temperature).max(1)
    ok = np.asarray(logits).argmax(1) == np.asarray(labels)
    return {"ece": expected_calibration_error(conf, ok), "nll": nll(logits, labels, temperature),
            "mean_score": float(conf.mean())}

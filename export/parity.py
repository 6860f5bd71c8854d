"""Parity of the exported ONNX graphs against PyTorch: ``python -m export.parity``.

Runs torch and onnxruntime (CPU) on the same padded batches of the fixed TEST splits (sentiment
reviews; NER People's Daily windows) at several batch sizes, and reports per model: max |logit
difference|, the share of identical argmax predictions, names/shapes checked, and for the INT8 twin
the same numbers plus the accuracy cost (sentiment accuracy, NER token accuracy vs the FP32 graph).
Exits 1 and lists every mismatch when an FP32 graph exceeds its tolerance or flips a prediction.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from tokenizers import Encoding, Tokenizer

from export.onnx import ARTIFACTS, INPUTS, SPECS, ExportSpec, load_checkpoint
from models.modeling import NerModel, SentimentModel

BATCH_SIZES = (1, 7, 64)


def ort_session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def padded_batches(seqs: Sequence[Sequence[int]], sizes: Sequence[int]) -> list[np.ndarray]:
    """Consecutive batches cycling through ``sizes``, right-padded with 0 to the batch's longest."""
    out: list[np.ndarray] = []
    i = k = 0
    while i < len(seqs):
        part = seqs[i:i + sizes[k % len(sizes)]]
        n = max(len(s) for s in part)
        out.append(np.array([list(s) + [0] * (n - len(s)) for s in part], dtype=np.int64))
        i += len(part)
        k += 1
    return out


Feed = dict[str, np.ndarray]


def id_feeds(batches: Sequence[np.ndarray]) -> list[Feed]:
    """Feeds of models without extra inputs: input_ids + attention_mask."""
    return [{"input_ids": b, "attention_mask": (b != 0).astype(np.int64)} for b in batches]


def compare(model: SentimentModel | NerModel, spec: ExportSpec, path: Path, feeds: Sequence[Feed]) -> dict[str, Any]:
    """Max |diff| and identical-prediction share per output; mismatched names/shapes are listed."""
    sess = ort_session(path)
    problems: list[str] = []
    names = [o.name for o in sess.get_outputs()]
    inputs = list(model.input_names())
    if names != list(spec.outputs) or [i.name for i in sess.get_inputs()] != inputs:
        problems.append(f"names: got inputs {[i.name for i in sess.get_inputs()]} outputs {names}; expected {inputs}")
    max_diff = {o: 0.0 for o in spec.outputs}
    same = {o: 0 for o in spec.outputs}
    total = {o: 0 for o in spec.outputs}
    for feed in feeds:
        mask = feed["attention_mask"]
        with torch.no_grad():
            t_out = model(*[torch.from_numpy(feed[n]) for n in inputs])
        t_list = [t_out] if isinstance(t_out, torch.Tensor) else list(t_out)
        o_list = sess.run(list(spec.outputs), {n: feed[n] for n in inputs})
        for name, t, o in zip(spec.outputs, t_list, o_list, strict=True):
            t_np = t.numpy()
            if t_np.shape != o.shape:
                problems.append(f"{name}: shape torch {t_np.shape} vs onnx {o.shape} at batch {mask.shape}")
                continue
            valid = mask.astype(bool) if t_np.ndim == 3 else np.ones(t_np.shape[0], dtype=bool)
            max_diff[name] = max(max_diff[name], float(np.abs(t_np - o)[valid].max()))
            same[name] += int((t_np.argmax(-1) == o.argmax(-1))[valid].sum())
            total[name] += int(valid.sum())
    return {"max_abs_diff": max_diff, "identical_predictions": {o: same[o] / max(1, total[o]) for o in spec.outputs},
            "compared": total, "problems": problems}


def test_feeds(task: str, root: Path, sizes: Sequence[int]) -> tuple[list[Feed], list[int]]:
    """Feeds of the TEST inputs exactly as the evaluation builds them (features from ``root``), in
    consecutive batches cycling through ``sizes``; sentiment labels (NER: empty)."""
    from models.data import ner_split, sentiment_split
    from models.modeling import SENTIMENT_LABELS
    from models.serving import Window, clean_text, load_features, text_windows

    manifest = json.loads((root / "manifest.json").read_text())
    tok = Tokenizer.from_file(str(root / manifest["tokenizer"]))
    features = load_features(root, manifest, tok.get_vocab_size())
    names = manifest.get("inputs", {}).get(task, list(INPUTS))
    max_len = int(manifest["max_len"])
    ys: list[int] = []
    if task == "sentiment":
        test = sentiment_split("test")
        texts = [clean_text(e.text) for e in test]
        tok.enable_truncation(max_len)
        items: list[tuple[str, Encoding | Window]] = list(zip(texts, tok.encode_batch(texts), strict=True))
        ys = [SENTIMENT_LABELS.index(e.label) for e in test]
    else:
        paras = [e.text for e in ner_split("test")]
        tok.no_truncation()
        items = [(paras[i], w) for i, _, w in text_windows(tok.encode_batch(paras), max_len)]
    feeds: list[Feed] = []
    i = k = 0
    while i < len(items):
        part = items[i:i + sizes[k % len(sizes)]]
        feeds.append(features.feed([e for _, e in part], [t for t, _ in part], names))
        i += len(part)
        k += 1
    return feeds, ys


def run_parity(root: Path = ARTIFACTS) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for task, spec in SPECS.items():
        model = load_checkpoint(task)
        batches, ys = test_feeds(task, root, BATCH_SIZES)
        entry: dict[str, Any] = {"test_inputs": sum(len(b["input_ids"]) for b in batches), "batch_sizes": list(BATCH_SIZES),
                                 "fp32": compare(model, spec, root / f"{task}.onnx", batches)}
        fp32 = entry["fp32"]
        fp32["ok"] = not fp32["problems"] and all(d <= spec.atol for d in fp32["max_abs_diff"].values()) and all(
            s == 1.0 for s in fp32["identical_predictions"].values())
        q = root / f"{task}.int8.onnx"
        if q.exists():
            entry["int8"] = compare(model, spec, q, batches)
            entry["int8"]["size_mib"] = round(q.stat().st_size / 2**20, 2)
            if ys:
                entry["int8"]["accuracy_cost"] = _sentiment_cost(root / f"{task}.onnx", q, batches, ys)
        entry["fp32"]["size_mib"] = round((root / f"{task}.onnx").stat().st_size / 2**20, 2)
        report[task] = entry
    return report


def _sentiment_cost(fp32: Path, int8: Path, batches: Sequence[Feed], ys: Sequence[int]) -> dict[str, float]:
    """TEST review accuracy (pos vs neg logit, as in the evaluation's pos/neg metric) of both graphs."""
    acc = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        sess = ort_session(path)
        pred = np.concatenate([sess.run(["sentiment_logits"], b)[0] for b in batches])
        acc[name] = float((np.where(pred[:, 2] > pred[:, 0], 2, 0) == np.array(ys)).mean())
    return {"accuracy_fp32": acc["fp32"], "accuracy_int8": acc["int8"], "cost": acc["fp32"] - acc["int8"]}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dir", default=str(ARTIFACTS), help="folder with the ONNX files (default models/artifacts)")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    report = run_parity(Path(args.dir))
    print(json.dumps(report, indent=1))
    bad = [f"{t}: {e['fp32']}" for t, e in report.items() if not e["fp32"]["ok"]]
    if bad:
        print("PARITY FAILED:\n" + "\n".join(bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""ONNX export of the trained checkpoints: ``python -m export.onnx [--no-int8]``.

One spec per model (opset, input/output names, dynamic axes ``batch_size`` / ``sequence_length``,
parity tolerance), one export function, then optional INT8 dynamic quantisation (weights int8,
activations quantised at run time; onnxruntime.quantization). Writes into ``models/artifacts/``:
``sentiment.onnx``, ``ner.onnx``, their ``.int8.onnx`` twins and ``manifest.json`` (read by
``models.serving``). Serving runs ``CPU_VARIANT`` (INT8) on CPU, fixed up front for speed; its
accuracy cost against FP32 is measured by ``export.parity`` / ``models.evaluate`` and reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import BertConfig

from models.modeling import NER_LABELS, SENTIMENT_LABELS, NerModel, SentimentModel
from models.train import CHECKPOINTS, MAX_LEN, TOKENIZER

ARTIFACTS = Path(__file__).resolve().parent.parent / "models" / "artifacts"
VERSION = "livecart-comments-1"
CPU_VARIANT = "int8"
INPUTS = ("input_ids", "attention_mask")
AXES = {0: "batch_size", 1: "sequence_length"}


@dataclass(frozen=True)
class ExportSpec:
    name: str
    outputs: tuple[str, ...]
    output_axes: tuple[dict[int, str], ...]
    opset: int = 17
    atol: float = 1e-4  # max |torch - onnx| on logits for the FP32 graph


SPECS = {
    "sentiment": ExportSpec("sentiment", ("sentiment_logits", "question_logits"), ({0: "batch_size"}, {0: "batch_size"})),
    "ner": ExportSpec("ner", ("tag_logits",), (AXES,)),
}


def load_checkpoint(task: str, root: Path = CHECKPOINTS) -> SentimentModel | NerModel:
    """The trained torch model of ``task`` in eval mode."""
    meta = json.loads((root / f"{task}.json").read_text())
    cfg = BertConfig(**meta["bert"])
    model: SentimentModel | NerModel = SentimentModel(cfg) if task == "sentiment" else NerModel(cfg)
    model.load_state_dict(torch.load(root / f"{task}.pt", map_location="cpu", weights_only=True))
    return model.eval()


def export_model(model: SentimentModel | NerModel, spec: ExportSpec, path: Path) -> Path:
    """Export with dynamic batch and sequence axes (TorchScript exporter, constant folding on)."""
    vocab = int(model.config.vocab_size)
    ids = torch.randint(5, min(100, vocab), (2, 16), dtype=torch.long)
    mask = torch.ones_like(ids)
    axes: dict[str, dict[int, str]] = {n: AXES for n in INPUTS}
    axes.update(dict(zip(spec.outputs, spec.output_axes, strict=True)))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (ids, mask), str(path), input_names=list(INPUTS), output_names=list(spec.outputs),
                      dynamic_axes=axes, opset_version=spec.opset, do_constant_folding=True, dynamo=False)
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """INT8 dynamic quantisation of MatMul/Gemm weights (per-tensor, signed), after onnxruntime's
    recommended pre-processing (graph optimisation + shape inference)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), auto_merge=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
    return dst


def write_manifest(out: Path, int8: bool) -> Path:
    files = {t: {"fp32": f"{t}.onnx", **({"int8": f"{t}.int8.onnx"} if int8 else {})} for t in SPECS}
    manifest = {
        "version": VERSION, "max_len": MAX_LEN, "tokenizer": "tokenizer.json",
        "sentiment_labels": list(SENTIMENT_LABELS), "ner_labels": list(NER_LABELS),
        "files": files, "cpu_variant": CPU_VARIANT if int8 else "fp32",
        "inputs": list(INPUTS), "outputs": {t: list(s.outputs) for t, s in SPECS.items()},
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--no-int8", action="store_true", help="skip INT8 quantisation")
    ap.add_argument("--out", default=str(ARTIFACTS), help="output folder (default models/artifacts)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != TOKENIZER.parent.resolve():
        shutil.copy(TOKENIZER, out / "tokenizer.json")
    for task, spec in SPECS.items():
        path = export_model(load_checkpoint(task), spec, out / f"{task}.onnx")
        print(f"{path} {path.stat().st_size / 2**20:.1f} MiB")
        if not args.no_int8:
            q = quantize_int8(path, out / f"{task}.int8.onnx")
            print(f"{q} {q.stat().st_size / 2**20:.1f} MiB")
    print(write_manifest(out, not args.no_int8))


if __name__ == "__main__":
    main()

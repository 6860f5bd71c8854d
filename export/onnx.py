"""ONNX export of the trained checkpoints: ``python -m export.onnx [--no-int8]``.

One spec per model (opset, input/output names, dynamic axes ``batch_size`` / ``sequence_length``,
parity tolerance), one export function, then optional INT8 dynamic quantisation (weights int8,
activations quantised at run time; onnxruntime.quantization). Writes into ``models/artifacts/``:
``sentiment.onnx``, ``ner.onnx``, their ``.int8.onnx`` twins and ``manifest.json`` (read by
``models.serving``). Serving runs ``CPU_VARIANT`` on CPU (per model: whichever graph was faster), fixed
up front; the INT8 accuracy cost against FP32 is measured by ``export.parity`` / ``models.evaluate``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import BertConfig

from models.modeling import NER_LABELS, SENTIMENT_LABELS, NerModel, SentimentModel
from models.serving import CTX_BUCKETS, CTX_TEMPLATES, CommentModel, clean_text
from models.train import BIGRAMS, CHECKPOINTS, LEXICON, MAX_LEN, TOKENIZER

ARTIFACTS = Path(__file__).resolve().parent.parent / "models" / "artifacts"
VERSION = "livecart-comments-4.1"  # 4.1: sentiment scores temperature-scaled (manifest sentiment_temperature); 4: NER + CRF expert
# Graph served on CPU per model, by the b64 live-comment timing (2 threads, comments/s). 3: sentiment FP32
# 2,061 vs INT8 (MatMul only) 2,784; NER FP32 16,963 vs INT8 8,084 (then NER FP32). 3.1 (convolutions as
# MatMul, 2026-12-02): whole predict with NER FP32 1,746-1,959 vs NER INT8 2,068-2,239 (four alternating
# rounds), DEV F1 equal (0.9928 both), so both graphs are INT8 on CPU.
CPU_VARIANT = {"sentiment": "int8", "ner": "int8"}
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


def torch_graphs() -> Callable[[Mapping[str, np.ndarray]], None]:
    """Both shipped checkpoints in PyTorch eager FP32 on one prepared feed (the arrays
    ``CommentModel.features.feed`` builds for the ONNX graphs): the model-only reference side."""
    sent, ner = load_checkpoint("sentiment"), load_checkpoint("ner")

    def run(feed: Mapping[str, np.ndarray]) -> None:
        t = {k: torch.from_numpy(v) for k, v in feed.items()}
        with torch.inference_mode():
            sent(*[t[k] for k in sent.input_names()])
            ner(*[t[k] for k in ner.input_names()])

    return run


def torch_pipeline(served: CommentModel) -> Callable[[Sequence[str]], None]:
    """Both shipped checkpoints in PyTorch eager on the inputs ``served`` builds for its ONNX graphs
    (tokenizer + ``serving.Features``), in the same length-bucketed runs and lanes as ``served.predict``
    (``CommentModel.plan``, lanes run concurrently by ``CommentModel.map_lanes``; torch's intra-op threads
    are the caller's ``torch.set_num_threads``): the reference side of the end-to-end throughput comparisons."""
    graphs = torch_graphs()

    def predict(texts: Sequence[str]) -> None:
        clean = [clean_text(t) for t in texts]
        encs = served.tokenizer.encode_batch(clean)

        def lane(runs: list[list[int]]) -> None:
            for run in runs:
                graphs(served.features.feed([encs[i] for i in run], [clean[i] for i in run], served.input_names))

        served.map_lanes(lane, served.plan(encs))

    return predict


INPUT_AXES = {"input_ids": AXES, "attention_mask": AXES, "bigram_ids": AXES, "lexicon": AXES, "ctx_ids": AXES,
              "ngram_ids": {0: "batch_size", 1: "ngram_count"}, "ngram_tf": {0: "batch_size", 1: "ngram_count"}}


def dummy_inputs(model: SentimentModel | NerModel, batch: int = 2, seq: int = 16) -> tuple[torch.Tensor, ...]:
    """One example tensor per input of ``model`` (names from ``model.input_names()``)."""
    g = torch.Generator().manual_seed(0)
    vocab = int(model.config.vocab_size)
    out: list[torch.Tensor] = []
    for name in model.input_names():
        if name == "input_ids":
            out.append(torch.randint(5, min(100, vocab), (batch, seq), generator=g))
        elif name == "attention_mask":
            out.append(torch.ones(batch, seq, dtype=torch.long))
        elif name == "bigram_ids":
            out.append(torch.randint(0, int(model.config.bigram_vocab) + 1, (batch, seq), generator=g))
        elif name == "lexicon":
            out.append((torch.rand(batch, seq, int(model.config.lexicon_dim), generator=g) > 0.8).float())
        elif name == "ctx_ids":
            out.append(torch.randint(0, int(model.config.ctx_buckets), (batch, seq, len(CTX_TEMPLATES)), generator=g))
        elif name == "ngram_ids":
            out.append(torch.randint(1, int(model.config.ngram_buckets), (batch, 3 * seq), generator=g))
        elif name == "ngram_tf":
            out.append(torch.ones(batch, 3 * seq))
        else:
            raise ValueError(f"no dummy for input {name!r}")
    return tuple(out)


def export_model(model: SentimentModel | NerModel, spec: ExportSpec, path: Path) -> Path:
    """Export with dynamic batch and sequence axes (TorchScript exporter, constant folding on)."""
    names = list(model.input_names())
    axes: dict[str, dict[int, str]] = {n: INPUT_AXES[n] for n in names}
    axes.update(dict(zip(spec.outputs, spec.output_axes, strict=True)))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, dummy_inputs(model), str(path), input_names=names, output_names=list(spec.outputs),
                      dynamic_axes=axes, opset_version=spec.opset, do_constant_folding=True, dynamo=False)
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """INT8 dynamic quantisation of MatMul weights (per-tensor, signed), after onnxruntime's
    recommended pre-processing (graph optimisation + shape inference). Gathers (token / bigram
    embeddings, the wide tables) stay FP32: a quantised Gather dequantises its whole table on every
    run, which made INT8 slower than FP32, and per-tensor int8 zeroes the wide tables' small weights."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), auto_merge=True)
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    return dst


def crf_entry(model: NerModel) -> dict[str, list[Any]]:
    """The NER model's CRF start / transition scores for the manifest (serving decodes with them)."""
    if model.crf is None:
        return {}
    start, trans = model.crf.tables()
    return {"start": start.tolist(), "transitions": trans.tolist()}


def write_manifest(out: Path, int8: bool, inputs: dict[str, list[str]], ner_crf: dict[str, list[Any]],
                   sentiment_temperature: float = 1.0) -> Path:
    files = {t: {"fp32": f"{t}.onnx", **({"int8": f"{t}.int8.onnx"} if int8 else {})} for t in SPECS}
    features = {k: v for k, v in (("bigrams", BIGRAMS.name), ("lexicon", LEXICON.name)) if (out / v).exists()}
    manifest = {
        "version": VERSION, "max_len": MAX_LEN, "tokenizer": "tokenizer.json",
        "sentiment_labels": list(SENTIMENT_LABELS), "ner_labels": list(NER_LABELS),
        "files": files, "cpu_variant": CPU_VARIANT if int8 else {t: "fp32" for t in SPECS}, "features": features,
        "inputs": inputs, "outputs": {t: list(s.outputs) for t, s in SPECS.items()},
        "sentiment_temperature": sentiment_temperature,
        **({"ner_crf": ner_crf} if ner_crf else {}),
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
        for f in (TOKENIZER, BIGRAMS, LEXICON):
            if f.exists():
                shutil.copy(f, out / f.name)
    inputs: dict[str, list[str]] = {}
    ner_crf: dict[str, list[Any]] = {}
    for task, spec in SPECS.items():
        model = load_checkpoint(task)
        inputs[task] = list(model.input_names())
        if isinstance(model, NerModel):
            ner_crf = crf_entry(model)
            buckets = int(getattr(model.config, "ctx_buckets", 0))
            if buckets and buckets != CTX_BUCKETS:
                raise SystemExit(f"ner checkpoint has ctx_buckets={buckets}; serving hashes into {CTX_BUCKETS}")
        path = export_model(model, spec, out / f"{task}.onnx")
        print(f"{path} {path.stat().st_size / 2**20:.1f} MiB")
        if not args.no_int8:
            q = quantize_int8(path, out / f"{task}.int8.onnx")
            print(f"{q} {q.stat().st_size / 2**20:.1f} MiB")
    meta = json.loads((CHECKPOINTS / "sentiment.json").read_text())
    if "temperature" not in meta:
        print("warning: sentiment.json has no fitted temperature (checkpoint from before 4.1): scores use T = 1")
    print(write_manifest(out, not args.no_int8, inputs, ner_crf, float(meta.get("temperature", 1.0))))


if __name__ == "__main__":
    main()

"""The shipped ONNX comment models: clear cases, odd input, batching, and no torch on the serving path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from models.linking import link
from models.serving import ARTIFACTS, CommentModel, ModelLoadError, graph_variant
from streams.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
ROOM = Catalog.from_entries([
    {"kind": "product", "room_id": "r", "item_id": "lip-3", "title": "雕花口红", "brand": "花西子", "category": "口红",
     "price": 169.0, "slot": 3, "attributes": {"色号": ["豆沙色", "正红色"]}, "aliases": ["口红"]},
    {"kind": "product", "room_id": "r", "item_id": "tee-5", "title": "纯棉T恤", "brand": "棉小屋", "category": "服装",
     "price": 59.0, "slot": 5, "attributes": {"颜色": ["白色"]}, "aliases": []},
]).rooms["r"]


@pytest.fixture(scope="module")
def model() -> CommentModel:
    return CommentModel.load(device="cpu", threads=1)


def test_serving_path_never_imports_torch() -> None:
    code = ("import sys, models.serving, models.linking, models.analyze; "
            "bad = [m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_shipped_artefacts_exist_and_are_small() -> None:
    for name in ("manifest.json", "tokenizer.json", "sentiment.onnx", "ner.onnx", "sentiment.int8.onnx", "ner.int8.onnx"):
        p = ARTIFACTS / name
        assert p.exists(), p
        assert p.stat().st_size < 30 * 2**20, (p, p.stat().st_size)


@pytest.mark.parametrize(("text", "label"), [("质量太差了，退货", "neg"), ("太好用了，非常喜欢", "pos"),
                                             ("主播yyds", "pos"), ("今天几点下播", "neu")])
def test_clear_sentiment(model: CommentModel, text: str, label: str) -> None:
    a = model.predict([text])[0]
    assert a.sentiment == label, a
    assert 0.0 < a.sentiment_score <= 1.0


def test_question_with_link_entity_linked_to_slot(model: CommentModel) -> None:
    text = "3号链接有没有豆沙色"
    a = model.predict([text])[0]
    assert a.is_question
    linked = link(text, a.entities, ROOM)
    links = [e for e in linked if e.type == "LINK"]
    assert [(e.start, e.end, e.text, e.item_id) for e in links] == [(0, 4, "3号链接", "lip-3")]
    assert any(e.type == "ATTR" and e.text == "豆沙色" and e.item_id == "lip-3" for e in linked), linked


@pytest.mark.parametrize("text", ["谢谢主播", "已拍", "太好用了，非常喜欢"])
def test_statements_are_not_questions(model: CommentModel, text: str) -> None:
    assert not model.predict([text])[0].is_question


BAD = ["", " ", "\n", "\x00\x07\x1b\x7f", "😂😂😂🔥", "👍" * 3000, "好" * 10_000, "\ud800\udc00x\udfff",
       "a\ud83dc", "\u200b\u200d\ufeff", "3号链接\x00有\ud800红色吗", "x" * 100_000]


@pytest.mark.parametrize("text", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_gives_a_defined_result(model: CommentModel, text: str) -> None:
    (a,) = model.predict([text])
    assert a.sentiment in ("pos", "neg", "neu")
    assert isinstance(a.is_question, bool)
    for e in a.entities:
        assert 0 <= e.start < e.end <= len(text)
        assert e.text == text[e.start:e.end].replace("\ud800", "\ufffd")
    assert a.to_json(text)["sentiment"]["label"] == a.sentiment


def test_empty_like_input_is_neutral_without_entities(model: CommentModel) -> None:
    for a in model.predict(["", "   ", "\x00\x01"]):
        assert (a.sentiment, a.entities, a.is_question) == ("neu", (), False)


def test_batch_results_match_single_results_in_order(model: CommentModel) -> None:
    texts = ["质量太差了，退货", "", "3号链接有没有豆沙色", "好" * 300, "主播yyds", "新疆包邮吗", "😂"] * 12
    batched = model.predict(texts)
    assert len(batched) == len(texts)
    for t, b in zip(texts[:7], batched[:7], strict=True):
        (s,) = model.predict([t])
        assert (s.sentiment, s.is_question, s.entities) == (b.sentiment, b.is_question, b.entities)
        assert abs(s.sentiment_score - b.sentiment_score) < 1e-3


def test_to_json_shape(model: CommentModel) -> None:
    text = "3号链接有没有豆沙色"
    a = model.predict([text])[0]
    d = type(a)(a.sentiment, a.sentiment_score, link(text, a.entities, ROOM), a.is_question).to_json(text)
    assert set(d) == {"text", "sentiment", "entities", "is_question"}
    assert set(d["sentiment"]) == {"label", "score"}
    assert all(set(e) <= {"start", "end", "type", "text", "item_id"} for e in d["entities"])
    assert {"start": 0, "end": 4, "type": "LINK", "text": "3号链接", "item_id": "lip-3"} in d["entities"]


def test_device_choice_and_providers() -> None:
    m = CommentModel.load(device="auto", threads=1)
    assert m.providers[0] in ort.get_available_providers()
    assert CommentModel.load(device="cpu").providers == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ModelLoadError, match="cuda"):
            CommentModel.load(device="cuda")


def test_fp32_and_int8_variants_agree_on_clear_cases() -> None:
    texts = ["质量太差了，退货", "太好用了，非常喜欢", "几点发货"]
    fp32 = CommentModel.load(device="cpu", variant="fp32").predict(texts)
    int8 = CommentModel.load(device="cpu", variant="int8").predict(texts)
    assert [a.sentiment for a in fp32] == [a.sentiment for a in int8]


def test_graph_variant_per_graph_or_shared() -> None:
    per = {"cpu_variant": {"sentiment": "int8", "ner": "fp32"}}
    assert [graph_variant(per, t, "auto", False) for t in ("sentiment", "ner")] == ["int8", "fp32"]
    assert graph_variant(per, "sentiment", "auto", True) == "fp32"  # CUDA runs FP32
    assert graph_variant(per, "ner", "int8", False) == "int8"  # an explicit variant wins
    assert graph_variant({"cpu_variant": "int8"}, "ner", "auto", False) == "int8"  # v2 manifests: one name
    assert graph_variant({}, "ner", "auto", False) == "fp32"


def test_shipped_ner_decodes_with_its_crf(model: CommentModel) -> None:
    assert model.ner_crf is not None
    start, trans = model.ner_crf
    k = len(model.ner_labels)
    assert start.shape == (k,) and trans.shape == (k, k) and float(abs(trans).sum()) > 0
    assert model.variant == "sentiment=int8 ner=int8"  # the manifest's cpu_variant (export.onnx.CPU_VARIANT)


def test_missing_model_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load"):
        CommentModel.load(str(tmp_path))

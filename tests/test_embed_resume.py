"""A long embedding job stores its progress as it goes: a job killed half-way leaves shards
behind, and the next run encodes only what is missing, giving the vectors of an
uninterrupted run.

Run as a script (``python test_embed_resume.py <cache root> <marker file>``), this module is
the job that gets killed: it encodes `TEXTS` and stalls for good after `STALL_AFTER`
batches, writing the marker, so the test kills it at a known point instead of guessing
a time.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import clirbench.embed.cache as cache_module
from clirbench.embed.cache import EmbeddingCache, text_key
from clirbench.embed.encoders import BaseEncoder, EncoderConfig

DIM = 8
BATCH_SIZE = 2
CHECKPOINT_TEXTS = 4  # two batches per shard
STALL_AFTER = 5  # batches: 10 texts encoded, 8 of them in two shards, 2 lost with the job
# Distinct lengths, so the length-sorted encoding order (longest first) is known.
TEXTS = [f"text {i:02d} " + "x" * i for i in range(30)]
LONGEST_FIRST = sorted(TEXTS, key=len, reverse=True)
CONFIG: dict[str, Any] = {
    "backend": "hf",
    "model": "clirbench-tests/slow-hash",
    "revision": "0123456789abcdef0123456789abcdef01234567",  # pinned: no Hub lookup
    "batch_size": BATCH_SIZE,
}
JOB_TIMEOUT = 300  # seconds for the killed job to reach its stall; generous for slow CI


class SlowHashEncoder(BaseEncoder):
    """A deterministic stand-in model that takes its time: each text maps to a pseudo-random
    vector, each batch sleeps a little. After `stall_after` batches it writes `marker` and
    blocks until killed."""

    def __init__(
        self, sleep: float = 0.0, stall_after: int | None = None, marker: Path | None = None
    ) -> None:
        super().__init__(EncoderConfig.from_config("slow-hash", CONFIG), DIM)
        self.sleep = sleep
        self.stall_after = stall_after
        self.marker = marker
        self.calls: list[list[str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for batch in self.calls for text in batch]

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        if self.stall_after is not None and len(self.calls) == self.stall_after:
            assert self.marker is not None
            self.marker.write_text("stalled")
            while True:  # a job stuck in its model, until SIGKILL
                time.sleep(1)
        time.sleep(self.sleep)
        self.calls.append(list(texts))
        return np.stack([_hash_vector(text) for text in self._prompted(texts, kind)])


def _hash_vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM)


def shard_keys(folder: Path) -> list[set[bytes]]:
    """The text keys of each shard in `folder`."""
    shards = []
    for path in sorted(folder.glob("shard-*.npz")):
        with np.load(path) as shard:
            shards.append({row.tobytes() for row in shard["keys"]})
    return shards


def keys_of(texts: Sequence[str]) -> set[bytes]:
    return {text_key("", text) for text in texts}


def run_job(root: Path, marker: Path) -> None:
    encoder = SlowHashEncoder(sleep=0.01, stall_after=STALL_AFTER, marker=marker)
    cache = EmbeddingCache(root, encoder, checkpoint_texts=CHECKPOINT_TEXTS)
    cache.encode(TEXTS, "document", progress=False)


def uninterrupted(tmp_path: Path) -> np.ndarray:
    cache = EmbeddingCache(tmp_path / "uninterrupted", SlowHashEncoder())
    return cache.encode(TEXTS, "document", progress=False)


# --- a killed job ------------------------------------------------------------------------


def test_killed_job_resumes_from_its_checkpoints(tmp_path: Path) -> None:
    root, marker = tmp_path / "cache", tmp_path / "stalled"
    job = subprocess.Popen(
        [sys.executable, __file__, str(root), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while not marker.exists():
            if job.poll() is not None:
                pytest.fail(f"the job ended before stalling:\n{job.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the job did not stall within {JOB_TIMEOUT} s")
            time.sleep(0.05)
        folder = root / SlowHashEncoder().fingerprint
        assert len(list(folder.glob("shard-*.npz"))) >= 1  # progress is on disk...
    finally:
        job.kill()  # SIGKILL: no cleanup, no final shard
        job.wait()

    # ...two complete shards of two batches each; the fifth batch died with the job.
    stored = shard_keys(folder)
    assert sorted(map(len, stored)) == [CHECKPOINT_TEXTS, CHECKPOINT_TEXTS]
    done = LONGEST_FIRST[: 2 * CHECKPOINT_TEXTS]
    assert set().union(*stored) == keys_of(done)

    encoder = SlowHashEncoder()
    cache = EmbeddingCache(root, encoder, checkpoint_texts=CHECKPOINT_TEXTS)
    vectors = cache.encode(TEXTS, "document", progress=False)
    assert (cache.hits, cache.misses) == (len(done), len(TEXTS) - len(done))
    assert cache.encoded == len(TEXTS) - len(done)
    assert sorted(encoder.texts) == sorted(set(TEXTS) - set(done))  # only the rest
    np.testing.assert_array_equal(vectors, uninterrupted(tmp_path))


def test_failed_job_keeps_its_checkpoints(tmp_path: Path) -> None:
    # The same in one process: a model that fails at its fourth batch.
    class Failing(SlowHashEncoder):
        def _embed(self, texts: list[str], kind: str) -> np.ndarray:
            if len(self.calls) == 3:
                raise RuntimeError("out of memory")
            return super()._embed(texts, kind)

    cache = EmbeddingCache(tmp_path, Failing(), checkpoint_texts=CHECKPOINT_TEXTS)
    with pytest.raises(RuntimeError, match="out of memory"):
        cache.encode(TEXTS, "document", progress=False)
    assert len(cache) == CHECKPOINT_TEXTS  # the in-memory index knows the written shard

    encoder = SlowHashEncoder()
    again = EmbeddingCache(tmp_path, encoder, checkpoint_texts=CHECKPOINT_TEXTS)
    vectors = again.encode(TEXTS, "document", progress=False)
    assert (again.hits, again.encoded) == (CHECKPOINT_TEXTS, len(TEXTS) - CHECKPOINT_TEXTS)
    assert set(encoder.texts) == set(LONGEST_FIRST[CHECKPOINT_TEXTS:])
    np.testing.assert_array_equal(vectors, uninterrupted(tmp_path))


# --- when shards are written -------------------------------------------------------------


class Clock:
    """A fake time that passes only when the model encodes a batch."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TimedEncoder(SlowHashEncoder):
    def __init__(self, clock: Clock, seconds_per_batch: float) -> None:
        super().__init__()
        self.clock = clock
        self.seconds_per_batch = seconds_per_batch

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        self.clock.now += self.seconds_per_batch
        return super()._embed(texts, kind)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(cache_module, "_clock", fake)
    return fake


def shard_sizes_in_order(folder: Path) -> list[int]:
    """Sizes of the shards in encoding order (the longest text comes first)."""
    rank = {text_key("", text): i for i, text in enumerate(LONGEST_FIRST)}
    return [len(keys) for keys in sorted(shard_keys(folder), key=lambda k: min(rank[x] for x in k))]


def test_a_shard_every_checkpoint_texts(tmp_path: Path, clock: Clock) -> None:
    encoder = TimedEncoder(clock, seconds_per_batch=0)  # the timer never fires
    cache = EmbeddingCache(tmp_path, encoder, checkpoint_texts=8)
    vectors = cache.encode(TEXTS, "document", progress=False)
    assert shard_sizes_in_order(tmp_path / encoder.fingerprint) == [8, 8, 8, 6]
    assert (cache.hits, cache.misses, cache.encoded) == (0, len(TEXTS), len(TEXTS))
    assert len(cache) == len(TEXTS)
    np.testing.assert_array_equal(vectors, uninterrupted(tmp_path))


def test_a_shard_every_checkpoint_seconds(tmp_path: Path, clock: Clock) -> None:
    # 50 s a batch of 2 texts: a shard after every third batch (150 s >= 120 s).
    encoder = TimedEncoder(clock, seconds_per_batch=50)
    cache = EmbeddingCache(tmp_path, encoder, checkpoint_texts=1000, checkpoint_seconds=120)
    cache.encode(TEXTS, "document", progress=False)
    assert shard_sizes_in_order(tmp_path / encoder.fingerprint) == [6, 6, 6, 6, 6]


def test_defaults_store_a_short_job_in_one_shard(tmp_path: Path, clock: Clock) -> None:
    encoder = TimedEncoder(clock, seconds_per_batch=1)
    cache = EmbeddingCache(tmp_path, encoder)
    assert (cache.checkpoint_texts, cache.checkpoint_seconds) == (4096, 120)
    cache.encode(TEXTS, "document", progress=False)
    assert shard_sizes_in_order(tmp_path / encoder.fingerprint) == [len(TEXTS)]


@pytest.mark.parametrize("options", [{"checkpoint_texts": 0}, {"checkpoint_seconds": -1}])
def test_bad_checkpoint_settings_are_rejected(tmp_path: Path, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        EmbeddingCache(tmp_path, SlowHashEncoder(), **options)


if __name__ == "__main__":
    run_job(Path(sys.argv[1]), Path(sys.argv[2]))

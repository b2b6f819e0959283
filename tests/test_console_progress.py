"""A long encode shows its progress on the console, not only in the job log: throttled lines
with texts per second (of the texts actually encoded) and the time left; nothing for a
short job, so the demo's console stays quiet."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest

from clirbench.core import console_progress
from clirbench.core.console_progress import ConsoleProgress, console_stream
from clirbench.embed.cache import EmbeddingCache
from clirbench.embed.encoders import BaseEncoder, EncoderConfig

# A stand-in Hub model pinned to a commit: its fingerprint needs no Hub or HF cache.
MODEL = {
    "backend": "hf",
    "model": "clirbench-tests/hash",
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "batch_size": 10,
}


class FakeClock:
    """Time that moves only when told to: `step` seconds a call."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class SlowEncoder(BaseEncoder):
    """A stand-in model; each batch takes the fake clock's step."""

    def __init__(self) -> None:
        super().__init__(EncoderConfig.from_config("hash", MODEL), 4)

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        return np.stack([_vector(text) for text in self._prompted(texts, kind)])


def _vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(4)


def test_lines_are_throttled_and_say_rate_and_time_left() -> None:
    console = io.StringIO()
    clock = FakeClock(step=1.0)
    with ConsoleProgress("me5 demo docs", 50_000, cached=30_000, stream=console, clock=clock) as p:
        for _ in range(100):  # 100 s, 100 texts a second
            p.update(100)
    lines = console.getvalue().splitlines()
    # Silent for the first 10 s, then one line every 30 s, and the closing line.
    assert len(lines) == 5
    assert lines[0] == (
        "me5 demo docs: 1,000/50,000 texts (30,000 more from the cache), 100 texts/s, "
        "ETA 8 min 10 s"
    )
    assert lines[-1] == (
        "me5 demo docs: 10,000 texts encoded in 1 min 41 s, 99 texts/s (30,000 more from the "
        "cache)"
    )


def test_a_short_loop_writes_nothing() -> None:
    console = io.StringIO()
    with ConsoleProgress("quick", 500, stream=console, clock=FakeClock(step=0.01)) as progress:
        for _ in range(50):
            progress.update(10)
    assert console.getvalue() == ""


def test_the_console_is_the_original_stderr_when_the_log_took_its_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # what a job's script does
    assert console_stream() is sys.__stderr__
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)  # no log: tqdm is on the console
    assert console_stream() is None


def test_a_long_encode_reports_on_the_console_and_its_bar_stays_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)  # the job log, as workflow/scripts/embed.py sets it
    monkeypatch.setattr(console_progress, "_clock", FakeClock(step=4.0))
    texts = [f"text {i}" for i in range(400)]
    cache = EmbeddingCache(tmp_path, SlowEncoder())
    cache.encode(texts[:100], "document", label="hash demo docs (original)")
    capfd.readouterr()
    cache.encode(texts, "document", label="hash demo docs (original)")
    console = capfd.readouterr().err.splitlines()
    # 30 batches of 10 new texts, one clock step (4 s) each: a line after 12 s, then every
    # 32 s (the first step past 30), and one at the end; the 100 cached texts apart.
    assert len(console) == 5, console
    assert console[0] == (
        "hash demo docs (original): 30/300 texts (100 more from the cache), 2.5 texts/s, "
        "ETA 1 min 48 s"
    )
    assert console[-1].startswith("hash demo docs (original): 300 texts encoded in ")
    assert "(100 more from the cache)" in console[-1]
    assert "hash (document texts)" in log.getvalue()  # the tqdm bar, in the log
    assert "ETA" not in log.getvalue()


def test_no_console_lines_without_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(console_progress, "_clock", FakeClock(step=60.0))
    EmbeddingCache(tmp_path, SlowEncoder()).encode(["a", "b"], "query", progress=False)
    assert capfd.readouterr().err == ""

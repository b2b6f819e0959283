"""A long job's progress on the console, where the user watches the workflow run.

The unit is one long loop of a job (an embedding job's encoding). A job's script sends its
standard error, tqdm bars included, to the job's log file (`clirbench.core.joblog`), so a
30-minute CPU encode would show nothing on Snakemake's console until it ends, and look
stuck. `ConsoleProgress` writes a line now and then to the process's original standard
error (`sys.__stderr__`): Snakemake's console with the local executor, the job's error file
under SLURM. At most one line every `interval` seconds and one at the end, and none at all
for a loop shorter than `quiet_below` seconds, so that a run of many seconds-long jobs (the
demo) keeps a quiet console. Where standard error was not redirected, the tqdm bar is on
the console already, and no line is written.

The rate counts only the texts actually encoded: cache hits cost nothing, and counting them
would make the time left look shorter than it is. They are reported apart.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

INTERVAL_SECONDS = 30.0  # between two lines
QUIET_BELOW_SECONDS = 10.0  # a loop shorter than this writes nothing
_clock = time.monotonic  # a module attribute, so tests can drive the time


def console_stream() -> TextIO | None:
    """The console, if the job log took standard error's place (else None: the console is
    standard error itself, where the job's own progress bar is)."""
    original = sys.__stderr__
    return original if original is not None and sys.stderr is not original else None


class ConsoleProgress:
    """Throttled progress lines for `total` items (`cached` more were found done already).

    Use as a context manager; call `update(n)` after each batch of `n` items."""

    def __init__(
        self,
        label: str,
        total: int,
        cached: int = 0,
        *,
        stream: TextIO | None = None,
        interval: float = INTERVAL_SECONDS,
        quiet_below: float = QUIET_BELOW_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.cached = cached
        self.stream = stream if stream is not None else console_stream()
        self.interval = interval
        self.quiet_below = quiet_below
        self.clock = clock or _clock
        self.done = 0
        self.started = self.clock()
        self.last_line: float | None = None  # when the last line was written

    def __enter__(self) -> ConsoleProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()

    def update(self, count: int) -> None:
        """`count` more items done; a line if the last one (or the start) is `interval` ago."""
        self.done += count
        now = self.clock()
        if now - self.started < self.quiet_below:
            return
        if self.last_line is None or now - self.last_line >= self.interval:
            self._write(self.progress_line(now))
            self.last_line = now

    def close(self) -> None:
        """The closing line, unless the loop was too short to be worth one."""
        now = self.clock()
        if now - self.started >= self.quiet_below:
            self._write(self.final_line(now))

    def progress_line(self, now: float) -> str:
        """"<label>: 12,000/50,000 texts (8,000 more from the cache), 85 texts/s, ETA 7 min"."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = _duration(left / rate) if rate > 0 else "unknown"
        return (
            f"{self.label}: {self.done:,}/{self.total:,} texts{self._cached_note()}, "
            f"{_rate(rate)} texts/s, ETA {eta}"
        )

    def final_line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        return (
            f"{self.label}: {self.done:,} texts encoded in {_duration(elapsed)}, "
            f"{_rate(self.done / elapsed)} texts/s{self._cached_note()}"
        )

    def _cached_note(self) -> str:
        return f" ({self.cached:,} more from the cache)" if self.cached else ""

    def _write(self, line: str) -> None:
        if self.stream is None:
            return
        print(line, file=self.stream, flush=True)


def _rate(per_second: float) -> str:
    return f"{per_second:,.1f}" if per_second < 10 else f"{per_second:,.0f}"


def _duration(seconds: float) -> str:
    """'45 s', '1 min 41 s', '27 min', '2 h 05 min'."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s" if whole else "under a second"
    if whole < 600:
        return f"{whole // 60} min {whole % 60:02d} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"

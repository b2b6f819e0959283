"""Atomic file output: a killed job never leaves a half-written file behind.

Every writer goes to a temporary file in the destination folder and renames it into
place, which is atomic on POSIX file systems, so Snakemake (and the embedding cache)
only ever see complete files.

Beside each file it writes a record of what it wrote, ``.<name>.written`` (JSON: bytes,
sha256, and the sha256 of its first and last `ENDS_BYTES`), so a reader can tell a file that
was later cut short or overwritten from the one its job made (`clirbench.core.intermediate`);
no file format can show every such damage itself (a TREC run cut at the end of a line still
parses, a zeroed binary index has no structure to check). The ends are checked cheaply on
every start-up, the whole content when a job reads the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def written_record_path(path: str | os.PathLike[str]) -> Path:
    """Where the record of what was written to `path` is kept."""
    final = Path(path)
    return final.with_name(f".{final.name}.written")


ENDS_BYTES = 1 << 16


def ends_sha256(path: str | os.PathLike[str]) -> str:
    """Sha256 hex of a file's first and last ENDS_BYTES (the whole file if it is smaller):
    a check of constant cost, whatever the file's size."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        digest.update(handle.read(ENDS_BYTES))
        size = handle.seek(0, os.SEEK_END)
        if size > ENDS_BYTES:
            handle.seek(max(ENDS_BYTES, size - ENDS_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Sha256 hex of a file's content, read in chunks (files can exceed the memory)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], record: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds,
    with a record of its size and sha256 beside it unless `record` is false (for files
    that check themselves, such as the embedding cache's shards)."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.chmod(0o666 & ~_UMASK)  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        yield tmp
        if not record:
            os.replace(tmp, final)
            return
        written = {
            "bytes": tmp.stat().st_size,
            "sha256": file_sha256(tmp),
            "ends_sha256": ends_sha256(tmp),
        }
        # The old record goes first: killed in between, a file has no record (not checked),
        # never the record of another file (which would call it damaged).
        written_record_path(final).unlink(missing_ok=True)
        os.replace(tmp, final)
        with atomic_open(written_record_path(final), record=False) as handle:
            json.dump(written, handle)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", record: bool = True
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing that replaces `path` only when closed cleanly."""
    encoding = None if "b" in mode else "utf-8"
    with atomic_path(path, record) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle


def write_parquet(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


def write_csv(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def write_npy(array: np.ndarray, path: str | os.PathLike[str]) -> None:
    with atomic_open(path, "wb") as handle:
        np.save(handle, array)


def write_json(data: Any, path: str | os.PathLike[str]) -> None:
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")


def write_text(text: str, path: str | os.PathLike[str]) -> None:
    with atomic_open(path) as handle:
        handle.write(text)

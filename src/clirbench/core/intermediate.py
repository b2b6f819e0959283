"""The workflow's own files, read back: a damaged one is named, set aside and rebuilt.

Every output is written atomically, with a record of its size and sha256 beside it
(`clirbench.core.atomic`), so a killed job never leaves half a file; a damaged file in
results/ comes from elsewhere (a full disk, a copy cut short, a hand edit). Snakemake
cannot see that: it trusts any file that exists and is newer than its inputs. So damage is
caught twice, and each time the file is renamed to ``<name>.damaged`` (kept for inspection,
no longer an output), so the rule that makes it runs again:

- at start-up, `set_aside_damaged` checks every planned output that exists, before
  Snakemake decides what to run, so that same run rebuilds it. The check is cheap on files
  of any size: the size against the record, then the structure (Parquet footer, the zip
  directory of `.npz`, zero bytes and the last line of text files);
- when a job reads an input, `read_parquet`, `load_npz` and `reading` first compare its
  sha256 with the record, and turn any decoding error into `DamagedFileError`, which names
  the file and says to run again.

A file without a record (written before records existed) gets the structural checks only.

A folder output (a trained model) has its record in a file beside it: the manifest of
every file in it (`folder_manifest`), checked by its ends at start-up and in full by the
job that loads the model (`check_folder`); a damaged file sets the whole folder aside.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import polars as pl

from clirbench.core.atomic import ends_sha256, file_sha256, written_record_path

DAMAGED_SUFFIX = ".damaged"
_HEAD_BYTES = 1 << 16  # text files: look for zero bytes in this much of the start
# Errors that mean "the bytes are not a valid file of this format". Anything else (out of
# memory, permission denied, a missing file) is not damage and propagates unchanged.
_DECODING_ERRORS = (
    pl.exceptions.ComputeError,
    zipfile.BadZipFile,
    EOFError,
    ValueError,  # includes UnicodeDecodeError and numpy's format errors
)


class DamagedFileError(RuntimeError):
    """An output of an earlier job that cannot be read; it has been set aside."""


def set_aside(path: str | os.PathLike[str]) -> Path:
    """Rename `path` to `<path>.damaged`, so it is no longer an output; the new path."""
    source = Path(path)
    aside = source.with_name(source.name + DAMAGED_SUFFIX)
    os.replace(source, aside)
    written_record_path(source).unlink(missing_ok=True)
    return aside


def written_problem(path: Path, full: bool) -> str | None:
    """How `path` differs from what its job wrote (by size and by the hash of its ends; by
    the sha256 of its whole content too if `full`), or None if it does not, or if there is
    no record."""
    try:
        written = json.loads(written_record_path(path).read_text(encoding="utf-8"))
        size, digest = int(written["bytes"]), str(written["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record (or a damaged one): the structural checks still apply
    found = path.stat().st_size
    if found != size:
        return f"{found:,} bytes, but its job wrote {size:,}"
    ends = written.get("ends_sha256")  # absent from records of older versions
    if isinstance(ends, str) and ends_sha256(path) != ends:
        return "its first or last bytes changed after its job wrote it"
    if full and file_sha256(path) != digest:
        return "its content changed after its job wrote it (sha256 differs)"
    return None


def _damaged(path: str | os.PathLike[str], problem: str) -> DamagedFileError:
    aside = set_aside(path)
    return DamagedFileError(
        f"{path} is damaged ({problem}); moved it to {aside.name} and stopped. "
        "Run the workflow again: it rebuilds the file and everything made from it."
    )


@contextlib.contextmanager
def reading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Within the block, an error decoding `path` sets the file aside and names it; so does
    a content that differs from its record, checked first."""
    if Path(path).is_file() and (problem := written_problem(Path(path), full=True)):
        raise _damaged(path, problem)
    try:
        yield
    except _DECODING_ERRORS as error:
        if not Path(path).is_file():
            raise
        raise _damaged(path, f"{type(error).__name__}: {error}") from error


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pl.DataFrame:
    with reading(path):
        return pl.read_parquet(Path(path), columns=columns)


def load_npz(path: str | os.PathLike[str], names: Iterable[str]) -> dict[str, np.ndarray]:
    """The named arrays of an `.npz` file, read in full (so every zip CRC is checked)."""
    with reading(path), np.load(path) as stored:
        missing = [name for name in names if name not in stored.files]
        if missing:
            raise ValueError(f"no array {', '.join(missing)} in the file")
        return {name: stored[name] for name in names}


def structural_problem(path: Path) -> str | None:
    """What is wrong with the structure of an existing output, or None if it looks whole.

    Cheap on files of any size: the size is compared with the record, Parquet and `.npz`
    files are opened at their footer or zip directory only, text files are checked at both
    ends.
    """
    if problem := written_problem(path, full=False):
        return problem
    try:
        if path.suffix == ".parquet":
            pl.read_parquet_schema(path)
        elif path.suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in {".trec", ".csv", ".tsv", ".html"}:
            return _text_problem(path)
    except (OSError, *_DECODING_ERRORS) as error:
        return f"{type(error).__name__}: {error}"
    return None


def _text_problem(path: Path) -> str | None:
    size = path.stat().st_size
    if size == 0:
        # An empty run is a valid run (nothing retrieved); no other text output is empty.
        return None if path.suffix == ".trec" else "empty file"
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
        handle.seek(size - 1)
        last = handle.read(1)
    if b"\x00" in head:
        return "zero bytes in a text file"
    if last != b"\n":
        return "the last line is cut short"
    return None


def set_aside_damaged(paths: Iterable[str | os.PathLike[str]], dry_run: bool) -> list[str]:
    """Check every existing file of `paths`; set the damaged ones aside (unless `dry_run`).

    Returns one message per damaged file, for the log.
    """
    messages = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            continue
        problem = structural_problem(path)
        if problem is None:
            continue
        if dry_run:
            messages.append(f"{path} is damaged ({problem}); a real run rebuilds it")
        else:
            aside = set_aside(path)
            messages.append(f"{path} is damaged ({problem}); moved it to {aside.name}, rebuilding")
    return messages


# --- folder outputs ----------------------------------------------------------------------


def folder_manifest(folder: Path) -> dict[str, dict[str, object]]:
    """Every file of `folder` by relative path: bytes, sha256 and the sha256 of its ends."""
    return {
        path.relative_to(folder).as_posix(): {
            "bytes": path.stat().st_size,
            "sha256": file_sha256(path),
            "ends_sha256": ends_sha256(path),
        }
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def folder_problem(
    folder: Path, manifest: dict[str, dict[str, object]], full: bool
) -> tuple[Path, str] | None:
    """The first file of `folder` that differs from `manifest`, and how (or None)."""
    for name, written in sorted(manifest.items()):
        path = folder / name
        if not path.is_file():
            return path, "missing"
        if path.stat().st_size != written["bytes"]:
            return path, f"{path.stat().st_size:,} bytes, but its job wrote {written['bytes']:,}"
        if ends_sha256(path) != written["ends_sha256"]:
            return path, "its first or last bytes changed after its job wrote it"
        if full and file_sha256(path) != written["sha256"]:
            return path, "its content changed after its job wrote it (sha256 differs)"
    return None


def set_aside_folder(folder: Path, record: Path) -> Path:
    """Rename `folder` to `<folder>.damaged` (replacing an older one) and set its record
    aside, so the job that makes both runs again."""
    aside = folder.with_name(folder.name + DAMAGED_SUFFIX)
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(folder, aside)
    if record.is_file():
        set_aside(record)
    return aside


def _read_manifest(record: Path) -> dict[str, dict[str, object]] | None:
    try:
        files = json.loads(record.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return files if isinstance(files, dict) else None


def check_folder(folder: Path, record: Path) -> None:
    """Before a job loads `folder`: its every file against the manifest in `record`; a
    damaged one sets the folder aside and raises `DamagedFileError` naming the file."""
    manifest = _read_manifest(record)
    if manifest is None:
        return
    found = folder_problem(folder, manifest, full=True)
    if found is not None:
        path, problem = found
        aside = set_aside_folder(folder, record)
        raise DamagedFileError(
            f"{path} is damaged ({problem}); moved its folder to {aside.name} and stopped. "
            "Run the workflow again: it rebuilds the folder and everything made from it."
        )


def set_aside_damaged_folders(
    folders: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]], dry_run: bool
) -> list[str]:
    """Check every existing (folder, record) pair by its files' sizes and ends; set the
    damaged folders aside (unless `dry_run`). One message per damaged folder."""
    messages = []
    for folder_name, record_name in folders:
        folder, record = Path(folder_name), Path(record_name)
        manifest = _read_manifest(record) if folder.is_dir() else None
        if manifest is None:
            continue
        found = folder_problem(folder, manifest, full=False)
        if found is None:
            continue
        path, problem = found
        if dry_run:
            messages.append(f"{path} is damaged ({problem}); a real run rebuilds its folder")
        else:
            aside = set_aside_folder(folder, record)
            messages.append(
                f"{path} is damaged ({problem}); moved its folder to {aside.name}, rebuilding"
            )
    return messages

"""A damaged output of an earlier job is named and set aside, never used and never fatal
twice (reliability findings 2 and 4): the next run, or this one, rebuilds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from clirbench.core.atomic import (
    atomic_open,
    write_csv,
    write_json,
    write_parquet,
    written_record_path,
)
from clirbench.core.embedding_files import read_embeddings, write_embeddings
from clirbench.core.intermediate import (
    DamagedFileError,
    read_parquet,
    reading,
    set_aside_damaged,
    structural_problem,
)
from clirbench.core.trec import read_run, write_run


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zero(path: Path) -> None:
    path.write_bytes(b"\x00" * path.stat().st_size)


def _write_each_kind(folder: Path) -> list[Path]:
    """One valid file of every kind the workflow writes, each with some bulk."""
    table = pl.DataFrame({"doc_id": [f"d{i}" for i in range(500)], "text": "ein Haus " * 3})
    write_parquet(table, folder / "docs.parquet")
    ids = np.array([f"d{i}" for i in range(5000)])  # vectors larger than twice ENDS_BYTES
    write_embeddings(ids, np.ones((5000, 8), dtype=np.float32), folder / "vectors.npz")
    top = np.tile(np.arange(20), (30, 1))
    scores = np.linspace(1, 0, 600, dtype=np.float32).reshape(30, 20)
    write_run(folder / "run.trec", [f"q{i}" for i in range(30)], list(ids[:20]), top, scores, "x")
    write_json({"name": "demo", "queries": list(range(200))}, folder / "counts.json")
    write_csv(table.head(100), folder / "summary.csv")
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def test_whole_files_have_no_problem(tmp_path: Path) -> None:
    for path in _write_each_kind(tmp_path):
        assert structural_problem(path) is None, path
    empty_run = tmp_path / "empty.trec"
    empty_run.write_text("")
    assert structural_problem(empty_run) is None  # a run that retrieved nothing


@pytest.mark.parametrize("with_records", [True, False], ids=["recorded", "no-record"])
@pytest.mark.parametrize("damage", [_truncate, _zero], ids=["truncated", "zeroed"])
def test_damage_of_every_kind_is_found_and_set_aside(
    tmp_path: Path, damage: Callable[[Path], None], with_records: bool
) -> None:
    """With the records the size gives truncation away; without them (files written by an
    older version), each format's own structure does."""
    paths = _write_each_kind(tmp_path)
    for path in paths:
        if not with_records:
            written_record_path(path).unlink()
        damage(path)
        assert structural_problem(path), path

    named = set_aside_damaged([*paths, tmp_path / "not-made-yet.parquet"], dry_run=True)
    assert len(named) == len(paths)
    assert all(path.exists() for path in paths)  # a dry run only names them

    messages = set_aside_damaged(paths, dry_run=False)
    for path, message in zip(paths, messages, strict=True):
        assert str(path) in message and "rebuilding" in message
        assert not path.exists()
        assert path.with_name(path.name + ".damaged").exists()
        assert not written_record_path(path).exists()


def test_a_text_file_cut_at_a_line_end_is_found_by_its_record(tmp_path: Path) -> None:
    """No format check can tell a TREC file cut after a whole line from a complete one."""
    run = next(path for path in _write_each_kind(tmp_path) if path.suffix == ".trec")
    lines = run.read_bytes().splitlines(keepends=True)
    run.write_bytes(b"".join(lines[: len(lines) // 2]))
    assert structural_problem(run) == f"{run.stat().st_size:,} bytes, but its job wrote " + (
        f"{sum(map(len, lines)):,}"
    )
    written_record_path(run).unlink()
    assert structural_problem(run) is None  # what the record is for


def test_reading_a_damaged_file_names_it_and_sets_it_aside(tmp_path: Path) -> None:
    _write_each_kind(tmp_path)
    parquet, vectors, run = (tmp_path / n for n in ("docs.parquet", "vectors.npz", "run.trec"))
    _truncate(parquet)
    with pytest.raises(DamagedFileError, match=rf"{parquet} is damaged .*Run the workflow again"):
        read_parquet(parquet)
    assert (tmp_path / "docs.parquet.damaged").exists() and not parquet.exists()

    # Bytes zeroed in the middle of the vectors: size, ends and zip directory are whole, the
    # content is not.
    data = bytearray(vectors.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 200] = bytes(200)
    vectors.write_bytes(bytes(data))
    assert structural_problem(vectors) is None
    with pytest.raises(DamagedFileError, match=rf"{vectors} is damaged \(its content changed"):
        read_embeddings(vectors)
    assert not vectors.exists()
    # Without a record, the zip's own CRC gives it away on reading.
    _write_each_kind(tmp_path)
    written_record_path(vectors).unlink()
    vectors.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match=rf"{vectors} is damaged \(BadZipFile"):
        read_embeddings(vectors)

    written_record_path(run).unlink()
    _truncate(run)
    with pytest.raises(DamagedFileError, match=rf"{run} is damaged .*expected 6"):
        with reading(run):
            read_run(run)
    assert not run.exists()


def test_errors_that_are_not_damage_pass_through(tmp_path: Path) -> None:
    missing = tmp_path / "missing.parquet"
    with pytest.raises(FileNotFoundError):
        read_parquet(missing)
    assert not list(tmp_path.iterdir())


def test_a_file_zeroed_at_its_ends_is_found_at_start_up(tmp_path: Path) -> None:
    """A binary file with no structure to check (an HNSW index) keeps its size when zeroed;
    the record's hash of its ends still tells."""
    index = tmp_path / "hnsw.bin"
    with atomic_open(index, "wb") as handle:
        handle.write(np.arange(100_000, dtype=np.int64).tobytes())
    assert structural_problem(index) is None
    index.write_bytes(bytes(index.stat().st_size))
    assert structural_problem(index) == "its first or last bytes changed after its job wrote it"

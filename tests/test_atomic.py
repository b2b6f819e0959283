from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from clirbench.core.atomic import atomic_open, write_text, written_record_path


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text("complete\n", target)
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "complete\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.txt.written", "out.txt"]


def test_each_file_has_a_record_of_what_was_written(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text("first\n", target)
    write_text("second, longer\n", target)
    record = json.loads(written_record_path(target).read_text())
    digest = hashlib.sha256(b"second, longer\n").hexdigest()
    # A file shorter than ENDS_BYTES is all ends.
    assert record == {"bytes": 15, "sha256": digest, "ends_sha256": digest}
    with atomic_open(tmp_path / "shard.npz", "wb", record=False) as handle:
        handle.write(b"x")
    assert not written_record_path(tmp_path / "shard.npz").exists()


def test_outputs_get_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_text("x", target)
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clirbench.core.atomic import atomic_open, write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    write_text("complete\n", target)
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_outputs_get_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.txt"
    write_text("x", target)
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask

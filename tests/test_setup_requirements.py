"""`make setup` installs PyICU and everything else in two parallel halves (tools/requirements.py):
together the halves must be exactly pyproject's pins, or the venv would miss or double one."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "requirements.py"


def _printed(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          check=True)
    return done.stdout.splitlines()


def test_the_two_halves_of_setup_are_every_pin_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = project["dependencies"] + project["optional-dependencies"]["test"]
    pyicu = _printed("--only", "PyICU")
    rest = _printed("--extra", "test", "--except", "pyicu")
    assert [line.split("==")[0] for line in pyicu] == ["pyicu"]
    assert sorted(pyicu + rest) == sorted(pinned)


def test_an_unknown_package_or_extra_is_an_error_naming_pyproject():
    for args in (["--only", "not-a-package"], ["--extra", "no-such-extra"]):
        done = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True)
        assert done.returncode != 0
        assert "pyproject.toml" in done.stderr


@pytest.mark.parametrize(("written", "name"), [
    ("PyICU==2.17", "pyicu"), ("Py_ICU>=2", "py-icu"), ("ir.measures", "ir-measures"),
    ("sentence-transformers[train]==6.2.0", "sentence-transformers"),
])
def test_names_are_compared_normalised(written, name):
    sys.path.insert(0, str(TOOL.parent))
    try:
        from requirements import distribution_name
    finally:
        sys.path.remove(str(TOOL.parent))
    assert distribution_name(written) == name

"""Print the project's pinned requirements from pyproject.toml, one per line, for `make setup`.

PyPI publishes PyICU only as source, and compiling it takes minutes on one core. `make setup`
therefore builds PyICU's wheel on one core while pip installs every other requirement on the
other; this prints either side of that split (`--only pyicu`, `--except pyicu`).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def distribution_name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"{PYPROJECT}: cannot read a package name in requirement {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def requirements(extras: list[str]) -> list[str]:
    """The `dependencies` of pyproject.toml, then those of each named optional extra."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    listed = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise SystemExit(f"{PYPROJECT}: no [project.optional-dependencies] {extra!r}")
        listed += optional[extra]
    return listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", action="append", default=[], help="an optional extra to add")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", action="append", default=[], help="print only this package")
    which.add_argument("--except", dest="skip", action="append", default=[],
                       help="leave this package out")
    args = parser.parse_args(argv)
    only = {distribution_name(name) for name in args.only}
    skip = {distribution_name(name) for name in args.skip}
    chosen = [
        requirement for requirement in requirements(args.extra)
        if (not only or distribution_name(requirement) in only)
        and distribution_name(requirement) not in skip
    ]
    missing = only - {distribution_name(requirement) for requirement in chosen}
    if missing:
        raise SystemExit(f"{PYPROJECT}: no requirement on {', '.join(sorted(missing))}")
    sys.stdout.write("".join(f"{requirement}\n" for requirement in chosen))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

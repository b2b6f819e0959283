"""Static check of the conda environments (envs/*.yaml) against what the rules' scripts import.

Nothing here needs conda: rules are read from workflow/rules/*.smk with a regex, scripts and the
project's own modules with `ast`, and an import is tied to its distribution with
`importlib.metadata.packages_distributions()` of the development venv (which has every
dependency installed).

A rule's script "reaches" every module it imports (at module level or inside functions), and,
for an import of the project's package, every module the project module imports in turn
(again including function-level imports: they run in the job), plus the package
``__init__``s on the way. Imports inside third-party packages are not followed: their
dependencies are pip's/conda's business, so an env lists only what the job imports directly.

Everything is discovered: no rule, script or module name is written down here, so the check
keeps working while stages, scripts and modules are renamed.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "workflow" / "rules"
SRC = ROOT / "src"
PYPROJECT = ROOT / "pyproject.toml"

# Snakemake's script wrapper injects the `snakemake` object; a job needs no package for it.
PROVIDED_MODULES = frozenset({"snakemake"})
# conda-forge package name -> PyPI distribution name, where they differ (or where the conda
# package is no Python distribution at all: None).
CONDA_TO_PYPI: dict[str, str | None] = {
    "python": None,
    "pip": None,
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "pyicu": "pyicu",
    "matplotlib-base": "matplotlib",
}
POST_DEPLOY_SUFFIX = ".post-deploy.sh"


def normalise(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def project_name(pyproject: Path = PYPROJECT) -> str:
    return tomllib.loads(pyproject.read_text("utf-8"))["project"]["name"]


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    name: str
    smk: Path
    conda: Path | None  # resolved env file, None when the rule has no literal conda: path
    script: Path | None  # resolved script, None when the rule runs no script
    conda_raw: str | None = None  # the directive's text, for messages
    runs_job: bool = False  # has script:, shell:, notebook: or wrapper:


_RULE_START = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.MULTILINE)
_TOP_LEVEL = re.compile(r"^\S", re.MULTILINE)


def _directive(block: str, name: str) -> str | None:
    """The value of `name:` in a rule block: on the same line or on the next indented line."""
    match = re.search(rf"^\s+{name}:[ \t]*(\S.*)?$\n?(?:^\s+(\S.*)$)?", block, re.MULTILINE)
    if not match:
        return None
    return (match.group(1) or match.group(2) or "").strip().rstrip(",")


def _literal(value: str | None) -> str | None:
    """The string of a quoted literal ("x" or 'x'), None for anything else (a function...)."""
    if value is None:
        return None
    match = re.fullmatch(r"""(["'])(.*)\1""", value)
    return match.group(2) if match else None


def parse_rules(rules_dir: Path = RULES_DIR) -> list[Rule]:
    """Every rule (and checkpoint) in rules_dir/*.smk; paths relative to the .smk's folder."""
    rules = []
    for smk in sorted(rules_dir.glob("*.smk")):
        text = smk.read_text("utf-8")
        starts = list(_RULE_START.finditer(text))
        for match in starts:
            # The block ends at the next line that starts in column 0 (another rule, a
            # function, a comment...): rule bodies are indented.
            body_start = text.find("\n", match.end()) + 1 or len(text)
            end = _TOP_LEVEL.search(text, body_start)
            block = text[body_start : end.start() if end else len(text)]
            conda_raw = _directive(block, "conda")
            script_raw = _directive(block, "script")
            conda = _literal(conda_raw)
            script = _literal(script_raw)
            rules.append(
                Rule(
                    name=match.group(1),
                    smk=smk,
                    conda=(smk.parent / conda).resolve() if conda else None,
                    script=(smk.parent / script).resolve() if script else None,
                    conda_raw=conda_raw,
                    runs_job=any(
                        _directive(block, name) is not None
                        for name in ("script", "shell", "notebook", "wrapper")
                    ),
                )
            )
    return rules


# --------------------------------------------------------------------------- imports


@dataclass(frozen=True)
class Import:
    module: str  # dotted name; a trailing ".*" means "any module under this package"
    where: str  # file:line, for messages
    candidates: tuple[str, ...] = ()  # for `from X import a`: X.a, imported if it is a module


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _package_of(path: Path, module: str | None) -> str | None:
    if module is None:
        return None
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _resolve_relative(level: int, target: str | None, package: str | None, where: str) -> str:
    if not level:
        return target or ""
    if not package:
        raise ValueError(f"{where}: relative import outside a package")
    parts = package.split(".")
    if level - 1 > len(parts) - 1:
        raise ValueError(f"{where}: relative import beyond the top-level package")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _dynamic_import_target(call: ast.Call) -> str | None:
    """The module of importlib.import_module(...) / __import__(...): a literal name, or a
    literal prefix of an f-string ("pkg.{x}" -> "pkg.*"); None if not such a call."""
    func = call.func
    is_import_module = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}
    )
    if not is_import_module or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        first = arg.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and "." in first.value:
            return first.value.rpartition(".")[0] + ".*"
    return None


def imports_of(path: Path, module: str | None = None) -> list[Import]:
    """Every import in `path`: module level, in functions and classes, dynamic imports with a
    literal name; not those under `if TYPE_CHECKING:` (they never run). `module` is the
    file's dotted name, for relative imports."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    package = _package_of(path, module)
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        where = f"{path}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, where) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(node.level, node.module, package, where)
            found.append(
                Import(
                    base,
                    where,
                    tuple(f"{base}.{a.name}" for a in node.names if a.name != "*"),
                )
            )
        elif isinstance(node, ast.Call):
            target = _dynamic_import_target(node)
            if target:
                found.append(Import(target, where))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@dataclass
class Reach:
    """What a script reaches: third-party top-level modules (with one place each is imported),
    the project modules it runs, and project modules it imports that do not exist."""

    third_party: dict[str, str] = field(default_factory=dict)
    project_modules: set[str] = field(default_factory=set)
    missing_project_modules: dict[str, str] = field(default_factory=dict)


def _module_file(src: Path, module: str) -> Path | None:
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _modules_under(src: Path, package: str) -> list[str]:
    folder = src.joinpath(*package.split("."))
    if not folder.is_dir():
        return []
    modules = []
    for file in sorted(folder.rglob("*.py")):
        parts = file.relative_to(src).with_suffix("").parts
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def reach(script: Path, project: str, src: Path = SRC) -> Reach:
    """Follow `script`'s imports through the project's own modules (see the module doc)."""
    result = Reach()
    queue: list[tuple[Path, str | None]] = [(script, None)]
    seen_files: set[Path] = set()

    def add_project(module: str, where: str, required: bool = True) -> None:
        parts = module.split(".")
        # Importing a.b.c runs a/__init__, a/b/__init__ and a/b/c.
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            file = _module_file(src, name)
            if file is None:
                if required:
                    result.missing_project_modules.setdefault(name, where)
                return
            result.project_modules.add(name)
            if file not in seen_files:
                seen_files.add(file)
                queue.append((file, name))

    while queue:
        file, module = queue.pop()
        for imp in imports_of(file, module):
            top = imp.module.split(".")[0]
            if not top or top in sys.stdlib_module_names or top in PROVIDED_MODULES:
                continue
            if top != project:
                result.third_party.setdefault(top, imp.where)
                continue
            if imp.module.endswith(".*"):
                package = imp.module[:-2]
                add_project(package, imp.where)
                for name in _modules_under(src, package):
                    add_project(name, imp.where)
                continue
            add_project(imp.module, imp.where)
            for candidate in imp.candidates:  # `from pkg import submodule`
                if _module_file(src, candidate) is not None:
                    add_project(candidate, imp.where)
    return result


# --------------------------------------------------------------------------- environments


@dataclass(frozen=True)
class Env:
    path: Path
    conda: dict[str, str | None]  # normalised PyPI name -> pinned version (None: unpinned)
    pip: dict[str, str | None]
    installs_project: str | None  # how the project gets installed, None if it does not

    @property
    def packages(self) -> set[str]:
        return set(self.conda) | set(self.pip)


_SPEC_NAME = re.compile(r"^\s*(?:[\w.-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def _conda_spec(spec: str) -> tuple[str | None, str | None]:
    """(normalised PyPI name or None for non-Python packages, pinned version or None)."""
    match = _SPEC_NAME.match(spec)
    if not match:
        raise ValueError(f"cannot read conda spec {spec!r}")
    name = normalise(match.group(1))
    pin = re.fullmatch(r"==?\s*([\w.!+]+)", match.group(2).split()[0]) if match.group(2) else None
    pypi = CONDA_TO_PYPI.get(name, name)
    return pypi, pin.group(1) if pin else None


def _is_path_requirement(line: str) -> bool:
    target = re.sub(r"^(-e|--editable)\s+", "", line)
    return target.startswith((".", "/", "~", "file:")) or line.startswith(("-e", "--editable"))


def _pip_spec(line: str) -> tuple[str, str | None]:
    match = _SPEC_NAME.match(line)
    if not match:
        raise ValueError(f"cannot read pip requirement {line!r}")
    name = normalise(re.sub(r"\[.*$", "", match.group(1)))
    rest = re.sub(r"^\[[^\]]*\]", "", match.group(2)).split(";")[0].strip()
    pin = re.fullmatch(r"===?\s*([\w.!+]+)", rest)
    return name, pin.group(1) if pin else None


_PIP_INSTALL_NO_DEPS = re.compile(r"^[^#]*\bpip\s+install\b[^#]*--no-deps", re.MULTILINE)


def post_deploy_script(env_file: Path) -> Path:
    return env_file.with_name(env_file.name.rsplit(".", 1)[0] + POST_DEPLOY_SUFFIX)


def load_env(env_file: Path, project: str) -> Env:
    spec = yaml.safe_load(env_file.read_text("utf-8")) or {}
    conda: dict[str, str | None] = {}
    pip: dict[str, str | None] = {}
    installs_project = None
    for dep in spec.get("dependencies") or []:
        if isinstance(dep, str):
            name, version = _conda_spec(dep)
            if name:
                conda[name] = version
        elif isinstance(dep, Mapping):
            for line in dep.get("pip") or []:
                line = line.strip()
                if _is_path_requirement(line):
                    installs_project = f"pip entry {line!r}"
                    continue
                if line.startswith("-"):  # --extra-index-url, --pre, ...
                    continue
                name, version = _pip_spec(line)
                if name == normalise(project):
                    installs_project = f"pip entry {line!r}"
                    continue
                pip[name] = version
    script = post_deploy_script(env_file)
    if script.is_file() and _PIP_INSTALL_NO_DEPS.search(script.read_text("utf-8")):
        installs_project = f"post-deploy script {script.name}"
    return Env(env_file, conda, pip, installs_project)


def without(env: Env, *packages: str) -> Env:
    """`env` with `packages` (PyPI or conda names) removed, e.g. to test the checker."""
    gone = {normalise(CONDA_TO_PYPI.get(normalise(p)) or p) for p in packages}
    return Env(
        env.path,
        {k: v for k, v in env.conda.items() if k not in gone},
        {k: v for k, v in env.pip.items() if k not in gone},
        env.installs_project,
    )


# --------------------------------------------------------------------------- the check


@functools.cache
def module_distributions() -> dict[str, tuple[str, ...]]:
    """Top-level module -> normalised names of the distributions that provide it."""
    return {
        module: tuple(sorted({normalise(d) for d in dists}))
        for module, dists in importlib.metadata.packages_distributions().items()
    }


@dataclass
class Problems:
    rule: Rule
    env: Path | None
    missing: dict[str, str] = field(default_factory=dict)  # module -> "needs dist (file:line)"
    unknown: dict[str, str] = field(default_factory=dict)  # module without a known distribution
    missing_project_modules: dict[str, str] = field(default_factory=dict)
    other: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unknown or self.missing_project_modules or self.other)

    def message(self) -> str:
        env = self.env.relative_to(ROOT) if self.env and self.env.is_relative_to(ROOT) else self.env
        lines = [f"rule {self.rule.name} ({self.rule.smk.name}), env {env}:"]
        lines += self.other
        if self.missing:
            lines.append("  missing from the env: " + ", ".join(sorted(self.missing)))
            lines += [f"    {m}: {why}" for m, why in sorted(self.missing.items())]
        if self.unknown:
            lines.append(
                "  imported modules no installed distribution provides: "
                + ", ".join(f"{m} ({w})" for m, w in sorted(self.unknown.items()))
            )
        if self.missing_project_modules:
            lines.append(
                "  imports project modules that do not exist: "
                + ", ".join(f"{m} ({w})" for m, w in sorted(self.missing_project_modules.items()))
            )
        return "\n".join(lines)


def check_rule(
    rule: Rule,
    env: Env | None = None,
    project: str | None = None,
    src: Path = SRC,
    distributions: Mapping[str, Iterable[str]] | None = None,
) -> Problems:
    """What `rule`'s job imports that its env (or `env`, to try a variant) does not install."""
    project = project or project_name()
    distributions = module_distributions() if distributions is None else distributions
    problems = Problems(rule, rule.conda)
    if rule.conda is None:
        problems.other.append(
            f"  no literal conda: env file (conda: {rule.conda_raw!r})"
            if rule.conda_raw
            else "  no conda: directive"
        )
        return problems
    if env is None:
        if not rule.conda.is_file():
            problems.other.append(f"  env file {rule.conda} does not exist")
            return problems
        env = load_env(rule.conda, project)
    if not env.installs_project:
        problems.other.append(
            f"  does not install the project ({project}): no pip entry for it and no "
            f"{post_deploy_script(env.path).name} running `pip install --no-deps`"
        )
    if rule.script is None:
        return problems
    if not rule.script.is_file():
        problems.other.append(f"  script {rule.script} does not exist")
        return problems
    reached = reach(rule.script, project, src)
    problems.missing_project_modules = reached.missing_project_modules
    provided = env.packages
    for module, where in sorted(reached.third_party.items()):
        dists = tuple(normalise(d) for d in distributions.get(module, ()))
        if not dists:
            problems.unknown[module] = where
        elif not provided.intersection(dists):
            problems.missing[module] = f"needs {' or '.join(dists)} (imported at {where})"
    return problems


def script_rules(rules_dir: Path = RULES_DIR) -> list[Rule]:
    """The rules whose jobs run code (a script, shell commands, a notebook, a wrapper) or
    name an env: those an env must serve. Not target-only rules (`rule all`), nor `run:`
    rules, whose code runs in Snakemake's own process (conda: does not apply to them)."""
    return [rule for rule in parse_rules(rules_dir) if rule.runs_job or rule.conda_raw]


# --------------------------------------------------------------------------- pins


def pyproject_pins(pyproject: Path = PYPROJECT) -> dict[str, str | None]:
    project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    return dict(_pip_spec(r) for r in requirements)


def pin_mismatches(env: Env, pins: Mapping[str, str | None]) -> list[str]:
    """Packages both the env and pyproject.toml name, with a different (or missing) pin."""
    found = []
    for source, packages in (("conda", env.conda), ("pip", env.pip)):
        for name, version in sorted(packages.items()):
            if name in pins and pins[name] != version:
                found.append(
                    f"{env.path.name}: {name} ({source}) is {version or 'unpinned'}, "
                    f"pyproject.toml pins {pins[name] or 'nothing'}"
                )
    return found

"""The conda environments (envs/*.yaml) install what their rules' jobs import, and the project.

Static: no conda needed (tests/env_check.py explains how rules, scripts and imports are read).
Rules, scripts, envs and modules are all discovered, so renaming any of them needs no edit here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from env_check import (
    ROOT,
    RULES_DIR,
    Rule,
    check_rule,
    load_env,
    module_distributions,
    normalise,
    parse_rules,
    pin_mismatches,
    post_deploy_script,
    project_name,
    pyproject_pins,
    reach,
    script_rules,
    without,
)

PROJECT = project_name()
RULES = script_rules()
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def test_rules_are_found():
    assert RULES, f"no rule with a script or conda env in {RULES_DIR}/*.smk"
    assert ENV_FILES, "no envs/*.yaml"


@pytest.mark.parametrize("rule", RULES, ids=[rule.name for rule in RULES])
def test_env_provides_every_import_of_the_rule(rule: Rule):
    problems = check_rule(rule, project=PROJECT)
    assert not problems, problems.message()


def _rule_needing(distribution: str) -> Rule:
    for rule in RULES:
        if rule.script and rule.conda and rule.conda.is_file():
            needed = reach(rule.script, PROJECT).third_party
            if any(distribution in module_distributions().get(m, ()) for m in needed):
                return rule
    pytest.skip(f"no rule's job imports {distribution} any more")


def test_checker_reports_a_package_missing_from_the_env():
    rule = _rule_needing("polars")
    assert rule.conda
    env = load_env(rule.conda, PROJECT)
    assert not check_rule(rule, env, PROJECT).missing  # the real env is complete...
    problems = check_rule(rule, without(env, "polars"), PROJECT)
    assert "polars" in problems.missing, problems.message()  # ...and this one is not
    assert "polars" in problems.message() and rule.name in problems.message()


def test_checker_reports_a_conda_package_missing_from_the_env():
    rule = _rule_needing("torch")
    assert rule.conda
    env = load_env(rule.conda, PROJECT)
    problems = check_rule(rule, without(env, "pytorch", "torch"), PROJECT)
    assert "torch" in problems.missing, problems.message()


def test_checker_reports_an_env_that_does_not_install_the_project():
    rule = _rule_needing("polars")
    assert rule.conda
    env = load_env(rule.conda, PROJECT)
    bare = type(env)(env.path, env.conda, env.pip, installs_project=None)
    assert "does not install the project" in check_rule(rule, bare, PROJECT).message()


def _mini_workflow(tmp_path: Path, script: str, env: str, module: str = "") -> Rule:
    """A rules/x.smk + scripts/job.py + envs/job.yaml (+ src/proj/mod.py) in tmp_path."""
    (tmp_path / "workflow" / "rules").mkdir(parents=True)
    (tmp_path / "workflow" / "scripts").mkdir()
    (tmp_path / "envs").mkdir()
    (tmp_path / "src" / "proj").mkdir(parents=True)
    (tmp_path / "src" / "proj" / "__init__.py").write_text("")
    (tmp_path / "src" / "proj" / "mod.py").write_text(textwrap.dedent(module))
    (tmp_path / "workflow" / "scripts" / "job.py").write_text(textwrap.dedent(script))
    (tmp_path / "envs" / "job.yaml").write_text(textwrap.dedent(env))
    (tmp_path / "envs" / "job.post-deploy.sh").write_text("pip install --no-deps -e .\n")
    (tmp_path / "workflow" / "rules" / "x.smk").write_text(
        textwrap.dedent(
            """\
            # a comment
            rule job:
                output:
                    "out.txt",
                conda:
                    "../../envs/job.yaml"
                script:
                    "../scripts/job.py"


            def helper():
                pass
            """
        )
    )
    [rule] = parse_rules(tmp_path / "workflow" / "rules")
    assert rule.name == "job" and rule.conda and rule.script and rule.script.is_file()
    return rule


def test_only_direct_imports_count_not_transitive_dependencies(tmp_path: Path):
    # sentence_transformers itself imports torch, transformers, huggingface_hub...: only what
    # the job imports must be in the env, the package's own dependencies are pip's business.
    rule = _mini_workflow(
        tmp_path,
        "import proj.mod\n",
        """\
        dependencies:
          - python=3.11
          - pip
          - pip:
              - sentence-transformers==6.2.0
        """,
        "def f():\n    from sentence_transformers import SentenceTransformer\n",
    )
    problems = check_rule(rule, project="proj", src=tmp_path / "src")
    assert not problems, problems.message()


def test_function_level_and_dynamic_imports_of_project_modules_count(tmp_path: Path):
    rule = _mini_workflow(
        tmp_path,
        """\
        import importlib
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import jinja2  # never runs
        def main():
            from proj import mod
            importlib.import_module("polars")
        """,
        """\
        dependencies:
          - python=3.11
          - pyicu==2.17
          - pip:
              - numpy==2.4.6
        """,
        "import icu\n\ndef f():\n    import numpy\n    import torch\n",
    )
    problems = check_rule(rule, project="proj", src=tmp_path / "src")
    assert set(problems.missing) == {"torch", "polars"}, problems.message()
    assert not problems.unknown and not problems.missing_project_modules


def test_checker_reports_rules_without_a_usable_env(tmp_path: Path):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (tmp_path / "job.py").write_text("import polars\n")
    (rules_dir / "x.smk").write_text(
        textwrap.dedent(
            """\
            rule no_env:
                output: "a"
                script: "../job.py"

            rule env_gone:
                output: "b"
                conda: "../gone.yaml"
                shell: "touch {output}"

            rule all:
                input: "a", "b"
            """
        )
    )
    rules = {rule.name: rule for rule in script_rules(rules_dir)}
    assert set(rules) == {"no_env", "env_gone"}
    assert "no conda: directive" in check_rule(rules["no_env"], project=PROJECT).message()
    assert "gone.yaml does not exist" in check_rule(rules["env_gone"], project=PROJECT).message()


SHARED_POST_DEPLOY = ROOT / "envs" / "install-clirbench.sh"


def test_env_files_install_the_project_the_same_way():
    """Every env installs the project, with one script: each post-deploy script is that
    script, or runs it after installing what pip must install without dependencies."""
    for env_file in ENV_FILES:
        env = load_env(env_file, PROJECT)
        assert env.installs_project, f"{env_file.name} does not install {PROJECT}"
        script = post_deploy_script(env_file)
        if not script.is_file() or script.resolve() == SHARED_POST_DEPLOY:
            continue
        assert f"envs/{SHARED_POST_DEPLOY.name}" in script.read_text("utf-8"), (
            f"{script.name} neither is nor runs {SHARED_POST_DEPLOY.name}"
        )


# Envs that must pin other versions than pyproject.toml: unbabel-comet 2.2.7 requires numpy<2,
# transformers<5 and huggingface-hub<1, so COMET-Kiwi runs in an env of its own (its only
# rule, pilot_comet, imports nothing else of the project's stack).
DELIBERATE_PIN_DIFFERENCES = {"comet.yaml": {"numpy", "transformers", "huggingface-hub"}}


def test_env_pins_equal_pyproject_pins():
    pins = pyproject_pins()
    mismatches = []
    for env_file in ENV_FILES:
        exempt = DELIBERATE_PIN_DIFFERENCES.get(env_file.name, set())
        env_pins = {name: pin for name, pin in pins.items() if name not in exempt}
        mismatches += pin_mismatches(load_env(env_file, PROJECT), env_pins)
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("env_name", sorted(DELIBERATE_PIN_DIFFERENCES))
def test_deliberate_pin_differences_are_still_needed(env_name: str):
    env = load_env(ROOT / "envs" / env_name, PROJECT)
    pins = pyproject_pins()
    exempt = DELIBERATE_PIN_DIFFERENCES[env_name]
    pinned = {**env.conda, **env.pip}
    stale = sorted(name for name in exempt if name not in pinned or pinned[name] == pins.get(name))
    assert not stale, f"{env_name} no longer differs from pyproject.toml in {stale}: drop them"


def test_pin_check_maps_conda_names(tmp_path: Path):
    env_file = tmp_path / "x.yaml"
    env_file.write_text("dependencies: [python=3.11, pip, pytorch=2.0.0, 'pyicu==2.17']\n")
    env = load_env(env_file, PROJECT)
    assert set(env.conda) == {"torch", "pyicu"}
    found = pin_mismatches(env, {"torch": "2.13.0", normalise("PyICU"): "2.17"})
    assert found == ["x.yaml: torch (conda) is 2.0.0, pyproject.toml pins 2.13.0"]

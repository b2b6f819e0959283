"""Running the Snakemake workflow from tests: a config dict in, the finished process out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(
    config: dict, tmp: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Snakemake from the repository root on `config`, written to tmp/config.yaml; `env`
    adds to this process's environment (Hugging Face is always offline)."""
    config_path = tmp / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [*SNAKEMAKE, "--configfile", str(config_path), *args],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"} | dict(env or {}),
    )


def snakemake(config: dict, tmp: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """A run that must succeed; its output."""
    result = run_snakemake(config, tmp, "--cores", "2", *args, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr

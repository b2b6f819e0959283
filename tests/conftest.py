from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def xquad_folder() -> Path:
    folder = SHARED_DATA / "xquad"
    if not (folder / "xquad.en.json").exists():
        pytest.skip(
            f"XQuAD copy not found at {folder} (only CI and developer machines have ../shared/data)"
        )
    return folder

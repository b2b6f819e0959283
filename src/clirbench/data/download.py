"""Downloads with checksums, or the same files taken from a local folder (no internet)."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from clirbench.core.atomic import atomic_path


class DownloadError(RuntimeError):
    """A source that could not be fetched or failed its checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected_sha256: str, what: str) -> Path:
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise DownloadError(
            f"{path}: checksum mismatch for {what} (sha256 {actual}, expected {expected_sha256}); "
            "the file is not the published version"
        )
    return path


def fetch(url: str, destination: Path, expected_sha256: str, what: str, local_hint: str) -> Path:
    """Download `url` to `destination` unless a verified copy is already there."""
    if destination.exists() and sha256_of(destination) == expected_sha256:
        return destination
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(destination) as tmp:
            with open(tmp, "wb") as handle:
                shutil.copyfileobj(response, handle)
            verify(tmp, expected_sha256, what)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise DownloadError(
            f"could not download {what} from {url} ({error}). Without internet, download it "
            f"elsewhere and {local_hint}"
        ) from error
    return destination


def published_file(
    name: str,
    expected_sha256: str,
    what: str,
    url: str,
    local_folder: Path | None,
    download_folder: Path,
    config_key: str,
) -> Path:
    """A published file, checksum-verified: from `local_folder` if set, else downloaded."""
    if local_folder is not None:
        path = Path(local_folder) / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: missing (set by {config_key}.local_folder)")
        return verify(path, expected_sha256, what)
    hint = f"set {config_key}.local_folder to the folder holding {name}"
    return fetch(url, download_folder / name, expected_sha256, what, hint)

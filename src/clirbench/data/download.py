"""Downloads with checksums, or the same files taken from a local folder (no internet)."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
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


def fetch(
    url: str, destination: Path, expected_sha256: str | None, what: str, local_hint: str
) -> Path:
    """Download `url` to `destination` unless a verified copy is already there (any copy,
    when no checksum is expected)."""
    if destination.exists() and expected_sha256 in (None, sha256_of(destination)):
        return destination
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_path(destination) as tmp:
            with open(tmp, "wb") as handle:
                shutil.copyfileobj(response, handle)
            if expected_sha256 is not None:
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


def published_archive(
    url: str,
    expected_sha256: str | None,
    download_folder: Path,
    what: str,
    config_key: str,
) -> Path:
    """A release zip downloaded, checked and extracted under `download_folder`; the folder.

    `expected_sha256` (the config's pin) is checked when given. A release whose checksum
    clirbench does not ship is pinned on first download instead: its sha256 is written
    beside the archive and every later use is checked against it, so a changed upstream
    file is an error, never a silent change of training data.
    """
    import zipfile

    archive = download_folder / Path(urllib.parse.urlparse(url).path).name
    pin_file = archive.with_name(archive.name + ".sha256")
    pinned = expected_sha256 or (pin_file.read_text().strip() if pin_file.exists() else None)
    hint = f"set {config_key} to a folder holding the extracted release"
    fetch(url, archive, pinned, what, hint)
    actual = sha256_of(archive)
    if pinned is None:
        with atomic_path(pin_file, record=False) as tmp:
            tmp.write_text(actual + "\n")
    extracted = archive.with_name(archive.name + ".d")
    marker = extracted / ".sha256"
    if not (marker.exists() and marker.read_text().strip() == actual):
        staging = Path(tempfile.mkdtemp(prefix=f".{extracted.name}.", dir=download_folder))
        try:
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(staging)
            (staging / ".sha256").write_text(actual + "\n")
            shutil.rmtree(extracted, ignore_errors=True)
            os.replace(staging, extracted)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return extracted

"""Each text is encoded once per encoder configuration, however many jobs ask for it.

Layout: ``<root>/<encoder fingerprint>/shard-<uuid>.npz``, each shard holding ``keys``
(uint8, (n, 16): the first 16 bytes of sha256(prompt + "\\x00" + text)) and ``vectors``
(float32, (n, dim)). Shards are only ever added, each written to a temporary file and
renamed into place, so Snakemake jobs can share one cache concurrently: a reader sees
only complete shards, and two jobs encoding the same text merely store it twice.

Being shared, the cache keeps whichever vector of a text was computed first, by any job,
in any batch. That is sound because the encoders make each text's vector bitwise
independent of its batch (`Encoder.batches`, see `clirbench.embed.backends`): the vectors,
and the scores computed from them, do not depend on which jobs ran first or where a
killed job resumed. The cache encodes in the encoder's own batches only for speed.

A long job stores a shard every `checkpoint_texts` texts or `checkpoint_seconds` of
encoding, whichever comes first, so a job that is killed (time limit, pre-emption) loses
at most one checkpoint's work: being content-keyed, the cache lets the next run find the
texts already encoded and encode only the rest.

Progress: a tqdm bar in the job's log, and, since the log hides it from the console, a line
on the console now and then for a long encode (`clirbench.core.console_progress`): texts
encoded, texts per second (of those actually encoded), and the time left.

Since a shard appears whole or not at all, one that cannot be read was damaged later (a
full disk, a copy cut short, a hand edit). It is never fatal and never used: it is renamed
to ``<name>.damaged`` (kept for inspection, out of `SHARD_GLOB`'s sight), a warning names
it, and its texts count as not cached, so they are encoded again. A shard read in full
proves itself whole: numpy's ``.npz`` is a zip file, whose CRCs are checked on reading.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from clirbench.core.atomic import atomic_open, write_json
from clirbench.core.console_progress import ConsoleProgress
from clirbench.core.shard_index import KEY_BYTES, KEY_DTYPE, ShardIndex
from clirbench.embed.encoders import Encoder

log = logging.getLogger("clirbench")

SHARD_GLOB = "shard-*.npz"
# Defaults of EmbeddingCache's checkpoints: with minutes between shards a killed job loses
# little, and the shards stay few enough (thousands of texts each) to load quickly.
CHECKPOINT_TEXTS = 4096
CHECKPOINT_SECONDS = 120.0
_clock = time.monotonic  # a module attribute, so tests can drive the checkpoint timer


def text_key(prompt: str, text: str) -> bytes:
    """Cache key of `text` encoded with `prompt` (the prompt changes the vector)."""
    return hashlib.sha256(f"{prompt}\x00{text}".encode()).digest()[:KEY_BYTES]


class CachedModel(Protocol):
    """What the cache stores rows of: an `Encoder` (its vectors), or any model computing one
    float32 row per text, bitwise the same in any of its batches (a cross-encoder's score
    of a (query, document) pair, `clirbench.rerank.rerank.CrossEncoderScorer`)."""

    fingerprint: str

    @property
    def config(self) -> Any:
        """A dataclass describing the model, with its `name` (encoder.json)."""
        ...

    @property
    def dim(self) -> int: ...

    def prompt(self, kind: str) -> str: ...

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]: ...

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray: ...


class EmbeddingCache(ShardIndex):
    """Vectors of `encoder`, stored under ``root / encoder.fingerprint``."""

    contents = "embedding"
    redone = "re-encoded"

    def __init__(
        self,
        root: str | Path,
        encoder: Encoder | CachedModel,
        checkpoint_texts: int = CHECKPOINT_TEXTS,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        super().__init__()
        if checkpoint_texts < 1:
            raise ValueError(f"checkpoint_texts must be >= 1, got {checkpoint_texts}")
        if checkpoint_seconds < 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {checkpoint_seconds}")
        self.encoder = encoder
        # A shard is stored after this many newly encoded texts or seconds of encoding,
        # whichever comes first (checked after each batch): what a killed job can lose.
        self.checkpoint_texts = checkpoint_texts
        self.checkpoint_seconds = checkpoint_seconds
        self.folder = Path(root) / encoder.fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0  # input texts of the last `encode` call found in the cache
        self.misses = 0  # input texts of the last call that were not
        self.encoded = 0  # distinct texts the last call actually encoded
        self._dim: int | None = None  # vector length of the stored shards

    def encode(
        self, texts: Sequence[str], kind: str, progress: bool = True, label: str | None = None
    ) -> np.ndarray:
        """Vectors of `texts` in input order, encoding only those not cached yet; with
        `progress`, a bar in the log and, for a long encode, lines on the console starting
        with `label` (by default the encoder's name and the kind of texts)."""
        if isinstance(texts, str):  # a lone string would silently become one text per character
            raise TypeError("encode() takes a sequence of texts, not a single string")
        keys = self._keys_of(texts, kind)
        self._load_new_shards()
        positions, found = self._lookup(keys)
        # With every text cached, the shards give the vector length: a lazily loaded
        # encoder is never loaded.
        dim = self._dim if self._dim is not None and found.all() else self._encoder_dim()
        vectors = np.empty((len(texts), dim), dtype=np.float32)
        found = self._fill_hits(vectors, keys, positions, found)
        shown = (label or f"{self.encoder.config.name} ({kind} texts)") if progress else None
        self._fill_misses(vectors, texts, keys, ~found, kind, shown)
        self.hits = int(found.sum())
        self.misses = len(texts) - self.hits
        return vectors

    def __len__(self) -> int:
        """Number of stored vectors (a text stored by two concurrent jobs counts twice)."""
        self._load_new_shards()
        return len(self._keys)

    # --- lookup --------------------------------------------------------------------------

    def _keys_of(self, texts: Sequence[str], kind: str) -> np.ndarray:
        prompt = self.encoder.prompt(kind)
        joined = b"".join(text_key(prompt, text) for text in texts)
        return np.frombuffer(joined, dtype=KEY_DTYPE)

    def _fill_hits(
        self, vectors: np.ndarray, keys: np.ndarray, positions: np.ndarray, found: np.ndarray
    ) -> np.ndarray:
        """Fill the rows of `vectors` found in the cache; which rows were filled, that is
        `found` but for the texts of shards found damaged meanwhile (left to encode)."""
        filled = found.copy()
        wanted = np.flatnonzero(found)
        shard_numbers, rows = self._locations[positions[wanted]].T
        # One shard at a time, so memory holds only the shards that have hits, one by one.
        for shard_number in np.unique(shard_numbers):
            in_shard = shard_numbers == shard_number
            targets = wanted[in_shard]
            path = self._shards[shard_number]
            try:
                vectors[targets] = _read_rows(path, rows[in_shard], keys[targets])
            except (DamagedShardError, FileNotFoundError) as error:
                self._set_aside(path, error)
                self._forget(shard_number)
                filled[targets] = False
        return filled

    # --- encoding ------------------------------------------------------------------------

    def _fill_misses(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        keys: np.ndarray,
        missing: np.ndarray,
        kind: str,
        progress: str | None,  # the console lines' label; None: no progress shown
    ) -> None:
        wanted = np.flatnonzero(missing)
        self.encoded = 0
        if not len(wanted):
            return
        # Texts repeated in the input are encoded once.
        new_keys, first, inverse = np.unique(keys[wanted], return_index=True, return_inverse=True)
        new_texts = [texts[i] for i in wanted[first]]
        cached = len(texts) - len(wanted)
        new_vectors = self._encode_texts(new_texts, new_keys, kind, progress, cached)
        vectors[wanted] = new_vectors[inverse.ravel()]

    def _encode_texts(
        self, texts: list[str], keys: np.ndarray, kind: str, progress: str | None, cached: int
    ) -> np.ndarray:
        """Encode in the encoder's own batches (its fastest; a vector is the same in any
        batch), storing a shard every `checkpoint_texts` texts or `checkpoint_seconds`, so a
        killed job keeps most of its work: the next run finds those texts by their keys."""
        vectors = np.empty((len(texts), self._encoder_dim()), dtype=np.float32)
        description = f"{self.encoder.config.name} ({kind} texts)"
        pending: list[int] = []  # encoded, not yet in a shard (indexes into texts)
        last_checkpoint = _clock()
        batches = self.encoder.batches(texts, kind)
        console = ConsoleProgress(progress or "", len(texts), cached)
        with tqdm(
            total=len(texts),
            desc=description,
            unit="text",
            disable=progress is None,
            file=sys.stderr,
        ) as bar:
            for batch in batches:
                vectors[batch] = self.encoder.encode([texts[i] for i in batch], kind)
                bar.update(len(batch))
                if progress is not None:
                    console.update(len(batch))
                pending.extend(batch)
                self.encoded += len(batch)
                due = _clock() - last_checkpoint >= self.checkpoint_seconds
                if len(pending) >= self.checkpoint_texts or due:
                    self._write_shard(keys[pending], vectors[pending])
                    pending.clear()
                    last_checkpoint = _clock()
        if pending:
            self._write_shard(keys[pending], vectors[pending])
        if progress is not None:
            console.close()
        return vectors

    # --- storage -------------------------------------------------------------------------

    def _write_shard(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        path = self.folder / f"shard-{uuid.uuid4().hex}.npz"
        self._describe_encoder()
        # A handle, so savez adds no ".npz" to the temporary name; no record of what was
        # written, since a shard checks itself (zip CRCs).
        with atomic_open(path, "wb", record=False) as handle:
            np.savez(handle, keys=_as_bytes(keys), vectors=vectors)
        self._dim = vectors.shape[1]
        self._add_shard(path, keys)

    def _load_new_shards(self) -> None:
        """Pick up shards written since the last look, by this or any other process; a
        damaged one is set aside instead."""
        known = set(self._shards) | self._damaged
        for path in sorted(self.folder.glob(SHARD_GLOB)):
            if path in known:
                continue
            try:
                keys, vectors = _read_shard(path)
            except FileNotFoundError:
                continue  # set aside by another job since the glob: nothing to index
            except DamagedShardError as error:
                self._set_aside(path, error)
                continue
            self._check_dim(path, vectors.shape)
            self._add_shard(path, np.ascontiguousarray(keys).view(KEY_DTYPE))

    def _check_dim(self, path: Path, shape: tuple[int, ...]) -> None:
        """Every shard holds vectors of one length (checked against the model once loaded):
        a shard of another length is no damage but another model's, which is fatal."""
        if self._dim is not None and shape[1] != self._dim:
            raise ValueError(
                f"{path}: vectors of shape {shape} do not fit the other shards of "
                f"{self.folder} (dimension {self._dim})"
            )
        self._dim = shape[1]

    def _encoder_dim(self) -> int:
        """The model's vector length (loading a lazy encoder), which the shards must share."""
        dim = self.encoder.dim
        if self._dim is not None and dim != self._dim:
            raise ValueError(
                f"{self.folder}: stored vectors have dimension {self._dim}, encoder "
                f"{self.encoder.config.name!r} gives {dim}; the folder belongs to another model"
            )
        return dim

    def _describe_encoder(self) -> None:
        """Write encoder.json with the first shard, so a human can tell what a folder holds."""
        path = self.folder / "encoder.json"
        if path.exists():
            return
        config = dataclasses.asdict(self.encoder.config)
        write_json(
            {
                "fingerprint": self.encoder.fingerprint,
                "dim": self.encoder.dim,
                "config": config,
                "note": "prompts, batch_size and device may differ between users of this "
                "folder; the prompt is part of each text's key",
            },
            path,
        )


class DamagedShardError(Exception):
    """A shard that cannot be read in full, or holds arrays other than a shard's."""


def _read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A shard's keys ((n, 16) uint8) and vectors ((n, dim) float32), read in full so every
    zip CRC is checked; DamagedShardError if that fails or the arrays are not a shard's.

    Any failure to read counts as damage, because shards appear atomically: a file cut
    short, zeroed or overwritten makes numpy and zipfile raise errors of many types
    (BadZipFile, EOFError, ValueError, KeyError, OSError from a seek to a damaged offset,
    zlib.error, ...). What says nothing about the bytes passes through: a missing file
    (another job may have just set it aside), no permission to read, no memory.
    """
    try:
        with np.load(path) as shard:
            keys, vectors = shard["keys"], shard["vectors"]
    except (FileNotFoundError, PermissionError, MemoryError):
        raise
    except Exception as error:
        raise DamagedShardError(f"{type(error).__name__}: {error}") from error
    if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
        raise DamagedShardError(f"keys of type {keys.dtype} and shape {keys.shape}")
    if vectors.dtype != np.float32 or vectors.ndim != 2 or len(vectors) != len(keys):
        raise DamagedShardError(
            f"vectors of type {vectors.dtype} and shape {vectors.shape} for {len(keys)} keys"
        )
    return keys, vectors


def _read_rows(path: Path, rows: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The vectors at `rows` of a shard, checked to be those of `keys`: a shard whose file
    changed since it was indexed must not pass its vectors off as theirs."""
    shard_keys, vectors = _read_shard(path)
    if rows.max() >= len(shard_keys) or shard_keys[rows].tobytes() != keys.tobytes():
        raise DamagedShardError("its keys changed since it was first read")
    return vectors[rows]


def _as_bytes(keys: np.ndarray) -> np.ndarray:
    """Keys as a plain (n, 16) uint8 array, readable without knowing the void dtype."""
    return np.frombuffer(keys.tobytes(), dtype=np.uint8).reshape(-1, KEY_BYTES)

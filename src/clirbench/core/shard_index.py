"""The index shared by the content-keyed caches (embeddings, translations).

A cache is a folder of append-only shards, each holding rows keyed by 16 bytes of a text's
sha256. `ShardIndex` keeps every known key sorted with its (shard number, row), so a lookup
is a binary search however many shards the jobs have written, and sets aside shards found
damaged (renamed out of the shard glob, never read again, their texts redone by the job).
The caches differ in what a shard holds and how it is read; this part is the same.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from clirbench.core.intermediate import set_aside

log = logging.getLogger("clirbench")

KEY_BYTES = 16
KEY_DTYPE = np.dtype(f"V{KEY_BYTES}")  # one opaque, sortable key per text


class ShardIndex:
    """Sorted keys of all known shards, with each key's (shard number, row)."""

    # What the cache holds and what happens to a damaged shard's texts, for the warning.
    contents = "cache"
    redone = "redone"

    def __init__(self) -> None:
        self._shards: list[Path] = []  # indexed shards, by shard number
        self._damaged: set[Path] = set()  # shards found damaged (in case renaming failed)
        self._keys = np.zeros(0, dtype=KEY_DTYPE)  # sorted keys of all known shards
        self._locations = np.zeros((0, 2), dtype=np.int64)  # (shard number, row) per key

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index into self._keys of each key, and whether it is there at all."""
        positions = np.searchsorted(self._keys, keys)
        in_range = positions < len(self._keys)
        found = np.zeros(len(keys), dtype=bool)
        found[in_range] = self._keys[positions[in_range]] == keys[in_range]
        return positions, found

    def _add_shard(self, path: Path, keys: np.ndarray) -> None:
        shard_number = len(self._shards)
        self._shards.append(path)
        keys = keys.ravel()
        order = np.argsort(keys, kind="stable")
        locations = np.column_stack(
            [np.full(len(keys), shard_number), np.arange(len(keys))]
        ).astype(np.int64)[order]
        # Merge the shard's sorted keys into the index rather than re-sorting it all: a long
        # job adds a shard at every checkpoint, and the index can hold millions of keys.
        # side="right" puts a key stored twice after its older copy, as a stable sort would.
        at = np.searchsorted(self._keys, keys[order], side="right")
        self._keys = np.insert(self._keys, at, keys[order])
        self._locations = np.insert(self._locations, at, locations, axis=0)

    def _forget(self, shard_number: int) -> None:
        """Drop a shard's texts from the index (its number stays taken)."""
        kept = self._locations[:, 0] != shard_number
        self._keys = self._keys[kept]
        self._locations = self._locations[kept]

    def _set_aside(self, path: Path, error: Exception) -> None:
        """Rename a damaged shard out of the shard glob's sight, so no job reads it again,
        and say so: its texts are redone, so the job goes on."""
        self._damaged.add(path)
        try:
            where = f"moved it to {set_aside(path).name}"
        except FileNotFoundError:
            where = "another job has moved it aside"
        except OSError as rename_error:
            where = f"cannot move it aside ({rename_error})"
        log.warning(
            "damaged %s cache shard %s (%s): %s; its texts will be %s",
            self.contents,
            path,
            error,
            where,
            self.redone,
        )

"""HNSW index files: built once per (embeddings, graph settings), ever, and kept with metadata.

The unit of work is one document pool's embeddings under one encoder. Building the graph is
the expensive part of approximate search (minutes to hours at millions of documents), and
Snakemake re-runs the index rule whenever its input file is rewritten, even with identical
vectors (results deleted and re-made from the embedding cache, a condition re-gathered). So
indexes live in a content-keyed store shared by all experiments, like the embedding cache:
the key hashes the vectors, their document ids, the dimension and the settings that shape
the graph (M, ef_construction, seed, build threads, hnswlib's version). The rule's output
is a copy of the stored index with a JSON record of what it is (encoder and its
fingerprint, dimension, settings, document ids), so the index is rebuilt exactly when one of
those changes. Search-time ef is not in the key: it changes searches, not the graph.

Store layout: ``<root>/<key>/index.bin`` and ``meta.json``, each written atomically; a
stored index whose size or checksum does not match its record is set aside and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from clirbench.ann.hnsw import SPACE, HnswSettings, build_hnsw_index, load_hnsw_index
from clirbench.core.atomic import atomic_path, write_json
from clirbench.core.intermediate import reading, set_aside, written_problem

log = logging.getLogger("clirbench")

INDEX_FILE = "index.bin"
META_FILE = "meta.json"
FORMAT = 1  # of meta.json


def index_key(ids: np.ndarray, vectors: np.ndarray, settings: HnswSettings) -> str:
    """Sha256 hex of what determines the graph."""
    digest = hashlib.sha256()
    header = {
        "format": FORMAT,
        "library": f"hnswlib {version('hnswlib')}",
        "space": SPACE,
        "shape": list(vectors.shape),
        "graph": settings.graph_settings(),
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    digest.update("\x00".join(ids.tolist()).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredIndex:
    """An index of the store: its file, its record, and whether this call built it."""

    index_path: Path
    meta: dict[str, Any]
    built: bool


def stored_index(
    store: Path,
    ids: np.ndarray,
    vectors: np.ndarray,
    settings: HnswSettings,
    describe: dict[str, Any],
) -> StoredIndex:
    """The store's index of these embeddings, built (and stored) only if it is not there.

    `describe` adds what the key cannot see to the record (the encoder, its fingerprint).
    """
    key = index_key(ids, vectors, settings)
    folder = Path(store) / key
    index_path, meta_path = folder / INDEX_FILE, folder / META_FILE
    if _usable(index_path) and _usable(meta_path):
        with reading(meta_path):
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        log.info("HNSW index %s found in the store (%s), not rebuilt", key[:12], folder)
        return StoredIndex(index_path, meta, built=False)
    log.info("building the HNSW index of %d vectors (dimension %d)", *vectors.shape)
    started = time.perf_counter()
    index = build_hnsw_index(vectors, settings)
    seconds = time.perf_counter() - started
    # No build time in the record: it would differ between two builds of the same index
    # (the log has it, and the efficiency job measures it properly).
    meta = {
        "format": FORMAT,
        "key": key,
        "library": f"hnswlib {version('hnswlib')}",
        "space": SPACE,
        "count": int(len(vectors)),
        "dimension": int(vectors.shape[1]),
        "settings": settings.graph_settings(),
        "doc_ids": ids.tolist(),
        **describe,
    }
    with atomic_path(index_path) as tmp:
        index.save_index(str(tmp))
    write_json(meta, meta_path)  # last: a folder with a record has its index
    log.info("built in %.1f s and stored as %s", seconds, folder)
    return StoredIndex(index_path, meta, built=True)


def _usable(path: Path) -> bool:
    """Present and matching its record; a damaged store file is set aside (and rebuilt)."""
    if not path.is_file():
        return False
    problem = written_problem(path, full=True)
    if problem is None:
        return True
    aside = set_aside(path)
    log.warning("%s is damaged (%s); moved it to %s, rebuilding the index", path, problem, aside)
    return False


def export_index(stored: StoredIndex, index_out: Path, meta_out: Path) -> None:
    """Copy a stored index and its record to the rule's outputs (atomically)."""
    with atomic_path(index_out) as tmp:
        shutil.copyfile(stored.index_path, tmp)
    write_json(stored.meta, meta_out)


def open_index(index_path: Path, meta_path: Path) -> tuple[Any, dict[str, Any]]:
    """An index output and its record, each checked against what was written."""
    with reading(meta_path):
        meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
    with reading(index_path):
        index = load_hnsw_index(str(index_path), meta["dimension"], meta["count"])
    return index, meta

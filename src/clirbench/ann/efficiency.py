"""What approximation costs and buys: exact search and HNSW timed side by side, in one job.

The unit of work is one (dataset, encoder) pool: its document and query embeddings. The
paper's Table 7 compares completion timestamps of separate jobs, normalised; here every
figure is measured in the same process, on the same machine, interleaved (exact, HNSW,
exact, HNSW... for `rounds` rounds, the median kept), so a slower moment of the machine
falls on both engines alike:

- index build seconds (HNSW; exact search has no index) and index memory (HNSW: the size of
  the saved graph, which is what hnswlib holds in memory; exact: the float32 matrix);
- single-query latency, p50 and p95 over `latency_queries` queries searched one at a time;
- batched throughput (queries/s) over all queries;
- the share of exact search's top k that the engine returns (`overlap_at_k`, 1 for exact);
- an ef sweep: HNSW's throughput and overlap at each ef of the config.

Nothing here comes from the config but the settings searched with: every figure is timed
or counted. Recall against the relevant documents comes from the runs' metrics.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from clirbench.ann.hnsw import HnswSettings, build_hnsw_index, hnsw_search
from clirbench.retrieve.exact_search import exact_search

LATENCY_PERCENTILES = (50, 95)


def measure_efficiency(
    doc_vectors: np.ndarray,
    query_vectors: np.ndarray,
    settings: HnswSettings,
    top_k: int,
    rounds: int,
    latency_queries: int,
    ef_sweep: list[int],
    search_threads: int,
    seed: int = 0,
) -> dict[str, Any]:
    """The efficiency record of one pool (see the module docstring); JSON-ready."""
    if rounds < 1 or latency_queries < 1:
        raise ValueError("rounds and latency_queries must be >= 1")
    docs = np.ascontiguousarray(doc_vectors, dtype=np.float32)
    queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
    depth = min(top_k, len(docs))
    sample = np.random.default_rng(seed).permutation(len(queries))[:latency_queries]
    search_ef = settings.search_ef(top_k)

    build_seconds = []
    index = None
    for _ in range(rounds):
        started = time.perf_counter()
        index = build_hnsw_index(docs, settings)
        build_seconds.append(time.perf_counter() - started)
    assert index is not None

    def exact(batch: np.ndarray) -> np.ndarray:
        return exact_search(batch, docs, k=top_k)[0]

    def approximate(batch: np.ndarray, ef: int = search_ef) -> np.ndarray:
        return hnsw_search(index, batch, top_k, ef, search_threads)[0]

    engines: dict[str, Callable[[np.ndarray], np.ndarray]] = {"exact": exact, "hnsw": approximate}
    batch_seconds: dict[str, list[float]] = {name: [] for name in engines}
    single_ms: dict[str, list[float]] = {name: [] for name in engines}
    found: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, search in engines.items():  # interleaved: exact, HNSW, exact, HNSW...
            started = time.perf_counter()
            found[name] = search(queries)
            batch_seconds[name].append(time.perf_counter() - started)
            for row in sample:
                started = time.perf_counter()
                search(queries[row : row + 1])
                single_ms[name].append((time.perf_counter() - started) * 1000)

    reference = found["exact"]
    record_engines = [
        {
            "engine": "exact",
            "build_seconds": None,
            "index_bytes": int(docs.nbytes),
            **_latencies(single_ms["exact"]),
            "queries_per_second": _throughput(len(queries), batch_seconds["exact"]),
            "overlap_at_k": overlap_at_k(reference, reference),
        },
        {
            "engine": "hnsw",
            "build_seconds": round(statistics.median(build_seconds), 6),
            "index_bytes": _saved_size(index),
            **_latencies(single_ms["hnsw"]),
            "queries_per_second": _throughput(len(queries), batch_seconds["hnsw"]),
            "overlap_at_k": overlap_at_k(found["hnsw"], reference),
        },
    ]
    sweep = []
    for ef in ef_sweep:
        seconds = []
        for _ in range(rounds):
            started = time.perf_counter()
            result = approximate(queries, ef)
            seconds.append(time.perf_counter() - started)
        sweep.append(
            {
                "ef": int(ef),
                "search_ef": max(int(ef), depth),
                "queries_per_second": _throughput(len(queries), seconds),
                "overlap_at_k": overlap_at_k(result, reference),
            }
        )
    return {
        "documents": int(len(docs)),
        "queries": int(len(queries)),
        "dimension": int(docs.shape[1]),
        "top_k": int(top_k),
        "rounds": int(rounds),
        "latency_queries": int(len(sample)),
        "search_threads": int(search_threads),
        "settings": {**settings.as_dict(), "search_ef": search_ef},
        "machine": machine(),
        "engines": record_engines,
        "ef_sweep": sweep,
    }


def overlap_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean over queries of the share of the exact top k (padding -1 ignored) in `found`."""
    shares = []
    for approximate_row, exact_row in zip(found, exact, strict=True):
        wanted = exact_row[exact_row >= 0]
        if len(wanted):
            shares.append(np.isin(wanted, approximate_row[approximate_row >= 0]).mean())
    return float(np.mean(shares)) if shares else 1.0


def machine() -> dict[str, Any]:
    """Where the timings were taken."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **{name: _version(name) for name in ("hnswlib", "numpy", "torch")},
    }


def _latencies(milliseconds: list[float]) -> dict[str, float]:
    values = np.percentile(milliseconds, LATENCY_PERCENTILES)
    return {
        f"latency_p{p}_ms": round(float(v), 4)
        for p, v in zip(LATENCY_PERCENTILES, values, strict=True)
    }


def _throughput(count: int, seconds: list[float]) -> float:
    return round(count / statistics.median(seconds), 1)


def _saved_size(index: Any) -> int:
    """Bytes of the graph as hnswlib saves it: its vectors and links, as held in memory."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "index.bin"
        index.save_index(str(path))
        return path.stat().st_size


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None

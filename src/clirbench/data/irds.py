"""Shared helpers for datasets read through ir_datasets (CLIRMatrix, mMARCO, WikiCLIR).

Where the files come from: ir_datasets keeps everything under ``IR_DATASETS_HOME`` (default
``~/.ir_datasets``), one folder per top-level dataset, and downloads what is missing there.
It reads that variable *when it is imported* (each dataset module captures
``home_path()/NAME`` at import), so the home must be set before the first
``import ir_datasets``; `import_ir_datasets(home)` does that, and re-imports ir_datasets
when it was already imported with a different home.

Without internet, point the workflow at a copy laid out the way ir_datasets leaves it after
downloading (the dataset builders name the files in their errors), or use ir_datasets' own
mechanism for local copies: a file of 5 MB or more that ir_datasets lists with an md5 is
taken from ``IR_DATASETS_HOME/downloads/<md5>`` (a copy or symlink) before any URL is tried.

Large collections are never loaded whole: the builders collect the doc ids they need first,
then `IrdsDataset.docs` reads just those (``docs_store().get_many`` when ir_datasets has
already built a docstore, else one streaming pass that keeps only the wanted docs).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import random
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

HOME_VARIABLE = "IR_DATASETS_HOME"
LOCAL_COPY_DOC = "ir_datasets' README, 'Environment variables'"
_imported_with: str | None = None  # the IR_DATASETS_HOME value this module imported it with


class IrdsError(RuntimeError):
    """An ir_datasets dataset that could not be read; says how to supply a local copy."""


def ir_datasets_home() -> Path:
    """The folder ir_datasets reads and downloads to (without creating it, unlike ir_datasets)."""
    return Path(os.environ.get(HOME_VARIABLE) or Path.home() / ".ir_datasets")


def import_ir_datasets(home: Path | None = None) -> ModuleType:
    """ir_datasets, imported so that it reads its files from `home` (when given).

    `home` is stored in the IR_DATASETS_HOME environment variable, which ir_datasets reads at
    import (and again lazily for its download cache). When ir_datasets is already imported
    with another home, its modules are dropped and it is imported afresh; objects from the
    earlier import keep their old home.
    """
    global _imported_with
    if home is not None:
        os.environ[HOME_VARIABLE] = str(Path(home).expanduser().resolve())
    wanted = os.environ.get(HOME_VARIABLE, "")
    module = sys.modules.get("ir_datasets")
    if module is not None and (home is None or _imported_with == wanted):
        return module
    if module is not None:
        forget_ir_datasets()
    module = importlib.import_module("ir_datasets")
    _imported_with = wanted
    return module


def forget_ir_datasets() -> None:
    """Drop the imported ir_datasets, so the next import reads IR_DATASETS_HOME afresh."""
    global _imported_with
    _imported_with = None
    old_log = sys.modules.get("ir_datasets.log")
    for logger in getattr(old_log, "_logger_cache", {}).values():
        for handler in list(logger.handlers):  # the re-import adds its own handler
            logger.removeHandler(handler)
    for name in [n for n in sys.modules if n == "ir_datasets" or n.startswith("ir_datasets.")]:
        del sys.modules[name]


def derived_seed(seed: int, *labels: str) -> int:
    """A seed for one draw (e.g. one language pair), stable across runs and Python versions."""
    digest = hashlib.sha256(":".join((str(seed), *labels)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_sample(ids: Iterable[str], size: int | None, seed: int, *labels: str) -> list[str]:
    """Up to `size` of `ids` (all when None), drawn with a seed from `seed` and `labels`, sorted."""
    pool = sorted(set(ids))
    if size is None or size >= len(pool):
        return pool
    if size < 0:
        raise ValueError(f"sample size must be >= 0, got {size}")
    return sorted(random.Random(derived_seed(seed, *labels)).sample(pool, size))


class IrdsDataset:
    """One ir_datasets id, read lazily; every failure inside ir_datasets becomes an IrdsError.

    `name` is the human name ("CLIRMatrix"), `local_copy` says which files ir_datasets looks
    for under its home (``{home}`` is replaced by the current IR_DATASETS_HOME).
    """

    def __init__(
        self, dataset_id: str, name: str, local_copy: str, home: Path | None = None
    ) -> None:
        self.dataset_id = dataset_id
        self.name = name
        self.local_copy = local_copy
        self._home = home
        self._handle: Any = None

    def error(self, problem: str, cause: BaseException | None = None) -> IrdsError:
        home = ir_datasets_home()
        because = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        return IrdsError(
            f"{self.name}: ir_datasets could not read {self.dataset_id!r}: {problem}{because}. "
            f"ir_datasets reads its files from IR_DATASETS_HOME={home} and downloads missing "
            "ones; where that is impossible (no internet, the source is gone), use a local "
            f"copy: {self.local_copy.format(home=home)}; then set IR_DATASETS_HOME to that "
            "folder before the workflow starts (or pass it as the dataset's ir_datasets_home). "
            "Alternatively put (or symlink) each file ir_datasets would download that is 5 MB "
            f"or more at {home}/downloads/<its md5 in ir_datasets' etc/downloads.json>, as "
            f"ir_datasets' own log message suggests; see {LOCAL_COPY_DOC}."
        )

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        try:
            yield
        except IrdsError:
            raise
        except Exception as error:  # ir_datasets raises many kinds; all mean "unreadable"
            raise self.error(f"reading its {what} failed", error) from error

    def handle(self) -> Any:
        """The ir_datasets Dataset object (loading it may already read files)."""
        if self._handle is None:
            ir_datasets = import_ir_datasets(self._home)
            with self._reading("definition"):
                self._handle = ir_datasets.load(self.dataset_id)
        return self._handle

    def _stream(self, what: str, items: Callable[[], Iterable[Any]]) -> Iterator[Any]:
        with self._reading(what):
            yield from items()

    def queries(self) -> Iterator[Any]:
        handle = self.handle()
        if not handle.has_queries():
            raise self.error("it has no queries")
        return self._stream("queries", handle.queries_iter)

    def qrels(self) -> Iterator[Any]:
        handle = self.handle()
        if not handle.has_qrels():
            raise self.error("it has no qrels")
        return self._stream("qrels", handle.qrels_iter)

    def docs(self, doc_ids: Collection[str], build_docstore: bool = False) -> dict[str, Any]:
        """The docs with these ids (those the collection has), keyed by doc id.

        Uses ir_datasets' docstore when it is already built (or `build_docstore` asks for it:
        building costs one pass and a compressed copy of the collection on disk, worth it
        only when the same collection is sampled again); otherwise one streaming pass that
        keeps only the wanted docs and stops once all are found.
        """
        wanted = set(doc_ids)
        if not wanted:
            return {}
        handle = self.handle()
        if not handle.has_docs():
            raise self.error("it has no documents")
        with self._reading("documents"):
            store = handle.docs_store() if hasattr(handle, "docs_store") else None
            if store is not None and (build_docstore or store.built()):
                return dict(store.get_many(sorted(wanted)))
        found: dict[str, Any] = {}
        for doc in self._stream("documents", handle.docs_iter):
            if doc.doc_id in wanted:
                found[doc.doc_id] = doc
                if len(found) == len(wanted):
                    break
        return found


def judged_query_ids(source: IrdsDataset, min_relevance: int = 1) -> set[str]:
    """Query ids with at least one judgement of `min_relevance` or more."""
    return {qrel.query_id for qrel in source.qrels() if qrel.relevance >= min_relevance}


def query_texts(
    source: IrdsDataset, query_ids: Collection[str], text_of: Callable[[Any], str]
) -> dict[str, str]:
    """Text (by `text_of`) of these queries, those with non-empty text only."""
    texts = {}
    for query in source.queries():
        if query.query_id in query_ids:
            text = " ".join(text_of(query).split())
            if text:
                texts[query.query_id] = text
    return texts


def qrels_of(source: IrdsDataset, query_ids: Collection[str]) -> dict[str, dict[str, int]]:
    """query id -> {doc id: relevance} for these queries (the highest grade if repeated)."""
    judged: dict[str, dict[str, int]] = {}
    for qrel in source.qrels():
        if qrel.query_id in query_ids:
            docs = judged.setdefault(qrel.query_id, {})
            docs[qrel.doc_id] = max(qrel.relevance, docs.get(qrel.doc_id, qrel.relevance))
    return judged


def pooled(judged: dict[str, dict[str, int]], min_relevance: int) -> dict[str, dict[str, int]]:
    """The judgements of documents that enter the pool: grade `min_relevance` or more."""
    return {
        query_id: {doc_id: rel for doc_id, rel in docs.items() if rel >= min_relevance}
        for query_id, docs in judged.items()
    }


def sample_judged_queries(
    source: IrdsDataset,
    text_of: Callable[[Any], str],
    size: int | None,
    seed: int,
    labels: Sequence[str],
    pool_min_relevance: int,
) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """A seeded sample of `size` queries (None: all) and the judgements that enter the pool.

    Eligible: non-empty text and a judgement of grade max(1, `pool_min_relevance`), so each
    sampled query has a relevant document in the pool. Returns the sampled queries' texts
    (sorted by id) and their pooled judgements.
    """
    eligible = judged_query_ids(source, max(1, pool_min_relevance))
    candidates = query_texts(source, eligible, text_of)
    sample = seeded_sample(candidates, size, seed, *labels)
    if size is not None and len(sample) < size:
        log.warning(
            "%s %s: only %d eligible queries (asked for %d)",
            source.name,
            source.dataset_id,
            len(sample),
            size,
        )
    judged = pooled(qrels_of(source, set(sample)), pool_min_relevance)
    return {qid: candidates[qid] for qid in sample}, judged


def pool_documents(
    source: IrdsDataset, doc_ids: Collection[str], id_prefix: str, lang: str, build_docstore: bool
) -> tuple[list[tuple[str, str, str, str]], set[str]]:
    """Rows (``{id_prefix}-{doc_id}``, lang, title, text) of these documents, and the ids
    found with text; the missing or empty ones are counted in a warning."""
    found = source.docs(doc_ids, build_docstore)
    rows, available = [], set()
    for doc_id in sorted(found):
        title, text = doc_text(found[doc_id])
        if text:
            available.add(doc_id)
            rows.append((f"{id_prefix}-{doc_id}", lang, title, text))
    warn_dropped(source.name, len(set(doc_ids) - available), f"missing/empty {id_prefix} documents")
    return rows, available


def doc_text(doc: Any) -> tuple[str, str]:
    """(title, text) of an ir_datasets doc; whitespace collapsed, title '' when it has none."""
    title = getattr(doc, "title", "") or ""
    return " ".join(title.split()), " ".join((doc.text or "").split())


def warn_dropped(name: str, count: int, what: str) -> None:
    if count:
        log.warning("%s: dropped %d %s", name, count, what)

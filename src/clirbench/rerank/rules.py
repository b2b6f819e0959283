"""Entry points of the re-ranking rules: pairs and training per (re-ranker, dataset), then a
re-ranked run per first-stage run.

- `reranker_pairs`: the labelled training and evaluation pairs of one re-ranker on one
  dataset's training split (`clirbench.rerank.pairs`), hard negatives mined here with the
  named BM25 system or read from the dataset's judged candidates;
- `train_reranker`: the trained folder and its record (`clirbench.rerank.train`);
- `rerank_run`: one first-stage run re-ordered by a trained model
  (`clirbench.rerank.rerank`), with or without the paper's injection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from clirbench.core.atomic import write_json, write_parquet
from clirbench.core.intermediate import folder_manifest, read_parquet
from clirbench.core.trec import read_run, write_ranking
from clirbench.finetune.pairs import evaluated_texts, relevant_pairs, sampled
from clirbench.rerank.pairs import (
    judged_candidates,
    stratified_split,
    training_pairs,
    without_evaluated_texts,
)
from clirbench.rerank.specs import HARD, JUDGED_CANDIDATES
from clirbench.rerank.train import RECORD_NAME, RerankTrainingSettings

log = logging.getLogger("clirbench")

# How deep the first stage ranks a training query when mining its hard negatives.
MINING_DEPTH = 100


def reranker_pairs(
    reranker: Mapping[str, Any],
    dataset: str,
    training: Mapping[str, Any],
    tables: Mapping[str, Any],
    evaluated: Sequence[Mapping[str, Any]],
    bm25: Mapping[str, Any] | None,
    download_folder: Path,
    out: Path,
    threads: int = 1,
) -> None:
    """Write the labelled pairs of `reranker` on `dataset`, split for training and
    evaluation (`clirbench.rerank.pairs.PAIR_COLUMNS`).

    `tables`: the dataset's queries_train, qrels and docs, its relevance threshold and its
    settings (`options`: `training_queries.<dataset>` replaces some of them to build the
    training queries again from the collection, into `download_folder`);
    `evaluated`: its evaluated queries, qrels and document tables (the leakage guard);
    `bm25`: the settings of the BM25 system hard negatives are mined with, if any.
    """
    settings = RerankTrainingSettings.from_config(training)
    key = f"stages.reranking.models.{reranker['name']}"
    threshold = int(tables["relevance_threshold"])
    replaced = (reranker.get("training_queries") or {}).get(dataset)
    if replaced is None:
        qrels, docs = read_parquet(tables["qrels"]), read_parquet(tables["docs"])
        queries = read_parquet(tables["queries_train"])
    else:
        from clirbench.data.builders import build_dataset

        built, _ = build_dataset(dataset, {**tables["options"], **replaced}, download_folder)
        queries, qrels, docs = built.queries, built.qrels, built.docs
        log.info("training queries of %s rebuilt with %s: %d queries, %d documents", dataset,
                 replaced, queries.height, docs.height)
    queries = queries.join(relevant_pairs(queries, qrels, threshold), on="query_id", how="semi")
    queries = sampled(queries, settings.max_train_queries, settings.seed)
    if queries.is_empty():
        raise ValueError(f"{key}: {dataset} has no training-split query with a relevant document")
    candidates = None
    if reranker["negatives"] == HARD:
        source = reranker["hard_negatives_from"]
        if source == JUDGED_CANDIDATES:
            candidates = judged_candidates(qrels, threshold)
        else:
            assert bm25 is not None, "a BM25 system's settings for mining hard negatives"
            candidates = bm25_candidates(source, bm25, docs, queries, threads)
    pairs = training_pairs(
        queries, qrels, docs, threshold, reranker["negatives"],
        int(reranker["negatives_per_positive"]), settings.seed, candidates,
    )  # fmt: skip
    forbidden: set[str] = set()
    for entry in evaluated:
        forbidden |= evaluated_texts(
            read_parquet(entry["queries"]),
            read_parquet(entry["qrels"]),
            [read_parquet(path) for path in entry["docs"]],
            int(entry["relevance_threshold"]),
        )
    pairs = without_evaluated_texts(pairs, forbidden, f"{key} ({dataset}) pairs")
    pairs = stratified_split(pairs, settings.validation_share, settings.seed)
    counts = pairs.group_by("split", "kind").len().sort("split", "kind").iter_rows()
    log.info("%s (%s): %s", key, dataset, ", ".join(f"{s} {k}: {n}" for s, k, n in counts))
    write_parquet(pairs, out)


def bm25_candidates(
    system: str,
    settings: Mapping[str, Any],
    docs: pl.DataFrame,
    queries: pl.DataFrame,
    threads: int,
) -> pl.DataFrame:
    """The BM25 system's ranking of the training queries: query_id, doc_id, rank."""
    from clirbench.retrieve.bm25 import BM25Config, bm25_search

    indices, _ = bm25_search(
        BM25Config.from_config(system, dict(settings)), docs, queries, MINING_DEPTH, threads
    )
    rows, columns = np.nonzero(indices >= 0)
    doc_ids = docs["doc_id"].to_numpy()
    query_ids = queries["query_id"].to_numpy()
    return pl.DataFrame(
        {
            "query_id": query_ids[rows].astype(str),
            "doc_id": doc_ids[indices[rows, columns]].astype(str),
            "rank": columns + 1,
        }
    )


def train_reranker(
    reranker: Mapping[str, Any],
    dataset: str,
    training: Mapping[str, Any],
    pairs_path: Path,
    model_out: Path,
    record_out: Path,
    threads: int,
) -> None:
    """Train `reranker` on its pairs for `dataset`; write the model folder and, beside it,
    its record with the sha256 of every file in the folder (checked before it is used)."""
    from clirbench.rerank.train import train_reranker as train

    settings = RerankTrainingSettings.from_config(training)
    record = train(
        reranker, dataset, settings, read_parquet(pairs_path), model_out,
        model_out.with_name("checkpoints"), threads,
    )  # fmt: skip
    write_json({**record, "files": folder_manifest(model_out)}, record_out)
    log.info("kept epoch %s of %s", record["chosen_epoch"], settings.max_epochs)


def reranked_queries(
    queries_path: Path, per_language: int | None, seed: int, out: Path
) -> None:
    """The evaluated queries the re-rankers re-rank and are scored on: every one, or (a
    time budget, such as the demo's) `per_language` drawn with `seed` per query language.
    The report compares each re-ranked system with its first stage on exactly these."""
    queries = read_parquet(queries_path)
    if per_language is not None:
        queries = pl.concat(
            [
                sampled(group, per_language, seed)
                for _, group in queries.sort("query_id").group_by("lang", maintain_order=True)
            ]
        ).sort("query_id")
    log.info("%d queries re-ranked (%s)", queries.height,
             "all evaluated" if per_language is None else f"at most {per_language} a language")
    write_parquet(queries, out)


def rerank_run(
    system: str,
    run_path: Path,
    docs_path: Path,
    queries_path: Path,
    qrels_path: Path,
    relevance_threshold: int,
    model_folder: Path,
    record_path: Path,
    settings: Mapping[str, Any],
    cache_root: Path,
    out: Path,
    injected_out: Path,
    threads: int,
) -> None:
    """Re-rank one first-stage run; write the re-ranked run and the table of injected
    documents (empty without injection).

    `settings`: depth, batch_size, inject (this system's variant), injected_twin (whether
    the other variant runs too), max_length, device, trust_remote_code and the re-ranker's
    name (for the score cache's description).
    """
    from clirbench.core.intermediate import check_folder
    from clirbench.embed.cache import EmbeddingCache
    from clirbench.rerank.rerank import (
        PAIR_KIND,
        CrossEncoderScorer,
        ScorerConfig,
        candidates,
        inject_relevant,
        pair_text,
        reranked_order,
        scorer_fingerprint,
    )

    check_folder(model_folder, record_path)
    depth = int(settings["depth"])
    run = read_run(run_path)
    queries = read_parquet(queries_path, columns=["query_id", "text"])
    run = run.join(queries.select("query_id"), on="query_id", how="semi")
    plain = candidates(run, depth)
    top, scored = plain, plain
    injected = pl.DataFrame(schema={"query_id": pl.String, "doc_id": pl.String,
                                    "replaced_doc_id": pl.String})
    if settings["inject"] or settings["injected_twin"]:
        relevant = relevant_pairs(queries, read_parquet(qrels_path), relevance_threshold)
        with_relevant, injected = inject_relevant(plain, relevant, depth)
        # Both variants score the union of their candidates, so whichever runs second
        # finds every score cached and loads no model; each ranks only its own.
        scored = pl.concat([plain, with_relevant]).unique(["query_id", "doc_id"], keep="first")
        if settings["inject"]:
            top = with_relevant
            log.info("injected %d relevant documents the first stage missed (%d queries)",
                     injected.height, injected["query_id"].n_unique())
        else:
            injected = injected.clear()
    docs = read_parquet(docs_path, columns=["doc_id", "text"])
    texts = scored.join(queries.rename({"text": "query"}), on="query_id", how="left").join(
        docs.rename({"text": "document"}), on="doc_id", how="left"
    )
    if texts["document"].null_count():
        missing = texts.filter(pl.col("document").is_null())["doc_id"][0]
        raise ValueError(f"{run_path}: document {missing!r} is not in {docs_path}")
    scorer = CrossEncoderScorer(
        ScorerConfig(
            name=str(settings["reranker"]),
            folder=str(model_folder),
            batch_size=int(settings["batch_size"]),
            device=str(settings["device"]),
            trust_remote_code=bool(settings.get("trust_remote_code", False)),
        ),
        scorer_fingerprint(record_path),
        int(settings["max_length"]),
        threads,
    )
    cache = EmbeddingCache(cache_root, scorer)
    pairs = [pair_text(q, d) for q, d in texts.select("query", "document").iter_rows()]
    scores = cache.encode(pairs, PAIR_KIND)[:, 0]
    log.info("%d pairs: %d scored before, %d scored now", len(pairs), cache.hits, cache.encoded)
    # The scores are in the order of `texts` (a join need not keep `scored`'s).
    score_of = texts.select("query_id", "doc_id").with_columns(score=pl.Series(scores))
    top = top.join(score_of, on=["query_id", "doc_id"], how="left", maintain_order="left")
    ranking = reranked_order(run, top.drop("score"), top["score"].to_numpy(), depth)
    write_parquet(injected, injected_out)
    write_ranking(ranking, out, system)


__all__ = ["RECORD_NAME", "rerank_run", "reranked_queries", "reranker_pairs", "train_reranker"]

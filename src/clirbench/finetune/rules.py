"""Entry points of the fine-tuning rules: the pairs of one (model, scope), then its training.

- `fine_tuning_pairs`: the training pairs and the validation set of one fine-tuned model
  in one scope (`clirbench.finetune.specs`), from its source (`clirbench.finetune.pairs`),
  with every text an evaluation uses left out;
- `fine_tune`: the trained folder and its record (`clirbench.finetune.train`), the best
  epoch by the level's validation score (`clirbench.finetune.validation`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.atomic import write_json, write_parquet
from clirbench.core.datamodel import DOCS_SCHEMA, QRELS_SCHEMA
from clirbench.core.intermediate import folder_manifest, read_parquet
from clirbench.embed.encoders import EncoderConfig
from clirbench.finetune.pairs import (
    PAIR_COLUMNS,
    PAIR_SCHEMA,
    TRIPLET_COLUMNS,
    evaluated_texts,
    normalised_text,
    parallel_query_pairs,
    query_document_pairs,
    sampled,
    tatoeba_training_pairs,
    without_evaluated,
    word_in_context_triplets,
    word_in_context_validation,
)
from clirbench.finetune.specs import (
    PARALLEL_QUERIES,
    QUERY_DOCUMENT,
    TATOEBA,
    WORD,
    WORD_IN_CONTEXT,
)
from clirbench.finetune.train import RECORD_NAME, TrainingSettings, train_encoder

log = logging.getLogger("clirbench")

VALIDATION_QUERY_COLUMNS = ["query_id", "lang", "text"]
ROLES = ("training_queries", "validation_queries")  # rebuilt from the collection


def fine_tuning_pairs(
    model: Mapping[str, Any],
    scope: str,
    training: Mapping[str, Any],
    tables: Mapping[str, Any],
    evaluated: Sequence[Mapping[str, Any]],
    download_folder: Path,
    train_out: Path,
    validation_out: Path,
    validation_pool_out: Path,
    validation_qrels_out: Path,
) -> None:
    """Write the training pairs and the validation set of `model` (its config entry with
    `name` and `datasets`) in `scope`, and (query-document level) the documents and qrels
    the validation queries are searched and scored against (empty tables at other levels).

    `tables`: the source dataset's queries_train, queries_dev, qrels and docs (and its
    relevance threshold under `relevance_threshold`), where the source is a dataset; for a
    query-document model whose training and validation queries come from the collection
    (`data.training_queries`), also the dataset's settings under `options`;
    `evaluated`: per dataset the model is evaluated on, its evaluated queries, qrels,
    document tables and relevance threshold, for the leakage guard.
    """
    settings = TrainingSettings.from_config(training)
    key = f"stages.fine_tuning.models.{model['name']}"
    forbidden: set[str] = set()
    for entry in evaluated:
        forbidden |= evaluated_texts(
            read_parquet(entry["queries"]),
            read_parquet(entry["qrels"]),
            [read_parquet(path) for path in entry["docs"]],
            int(entry["relevance_threshold"]),
        )
    pool, pool_qrels = pl.DataFrame(schema=DOCS_SCHEMA), pl.DataFrame(schema=QRELS_SCHEMA)
    if model["level"] == QUERY_DOCUMENT:
        train, validation, pool, pool_qrels = _query_document_tables(
            model, scope, tables, download_folder
        )
    else:
        train, validation = _source_tables(
            model, tables, _languages(evaluated), download_folder, key, settings
        )
    train = without_evaluated(train, forbidden, f"{key} ({scope}) training pairs")
    train = sampled(train, settings.max_train_examples, settings.seed)
    if model["level"] == QUERY_DOCUMENT:
        validation = validation.filter(
            ~pl.col("text").map_elements(normalised_text, return_dtype=pl.String).is_in(
                list(forbidden)
            )
        )
        validation = sampled(validation, settings.validation_examples, settings.seed)
    else:
        validation = without_evaluated(validation, forbidden, f"{key} ({scope}) validation pairs")
        validation = sampled(validation, settings.validation_examples, settings.seed)
    if train.is_empty():
        raise ValueError(f"{key}: no training pairs for {scope} (is the training split empty?)")
    if validation.is_empty():
        raise ValueError(f"{key}: nothing to validate on for {scope} (no dev-split data)")
    log.info("%s (%s): %d training pairs, %d validation rows", key, scope, train.height,
             validation.height)
    write_parquet(train, train_out)
    write_parquet(validation, validation_out)
    write_parquet(pool, validation_pool_out)
    write_parquet(pool_qrels, validation_qrels_out)


def _query_document_tables(
    model: Mapping[str, Any], scope: str, tables: Mapping[str, Any], download_folder: Path
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Training pairs, validation queries, and the pool and qrels those are scored in.

    By default the dataset's own train and dev query splits and its pool. With
    `data.training_queries.<dataset>` and `data.validation_queries.<dataset>`, the dataset
    is built again
    from its collection with those settings replaced (CLIRMatrix's `train` and `dev`
    splits, say): the training pairs are the built training queries with their relevant
    documents, the validation queries are searched in the built validation pool. Either
    way the leakage guard then drops every pair holding an evaluated text.
    """
    threshold = int(tables["relevance_threshold"])
    data = model.get("data") or {}
    replaced = {role: (data.get(role) or {}).get(scope) for role in ROLES}
    if replaced["training_queries"] is None:
        qrels, docs = read_parquet(tables["qrels"]), read_parquet(tables["docs"])
        train = query_document_pairs(read_parquet(tables["queries_train"]), qrels, docs, threshold)
        validation = read_parquet(tables["queries_dev"]).select(VALIDATION_QUERY_COLUMNS)
        return train, validation, docs.select(list(DOCS_SCHEMA)), qrels.select(list(QRELS_SCHEMA))
    from clirbench.data.builders import build_dataset

    options = dict(tables["options"])
    built = {}
    for role in ROLES:
        settings = {**options, **(replaced[role] or {})}
        built[role], _ = build_dataset(scope, settings, download_folder)
        log.info("%s of %s rebuilt with %s: %d queries, %d documents", role, scope,
                 replaced[role], built[role].queries.height, built[role].docs.height)
    training, validating = built["training_queries"], built["validation_queries"]
    train = query_document_pairs(training.queries, training.qrels, training.docs, threshold)
    return (
        train,
        validating.queries.select(VALIDATION_QUERY_COLUMNS),
        validating.docs.select(list(DOCS_SCHEMA)),
        validating.qrels.select(list(QRELS_SCHEMA)),
    )


def _source_tables(
    model: Mapping[str, Any],
    tables: Mapping[str, Any],
    languages: set[str],
    download_folder: Path,
    key: str,
    settings: TrainingSettings,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = model.get("data") or {}
    if data["source"] == PARALLEL_QUERIES:
        threshold = int(tables["relevance_threshold"])
        qrels = read_parquet(tables["qrels"])
        per_pair, seed = int(data["pairs_per_language_pair"]), settings.seed
        train = parallel_query_pairs(
            read_parquet(tables["queries_train"]), qrels, threshold, per_pair, seed
        )
        validation = parallel_query_pairs(
            read_parquet(tables["queries_dev"]), qrels, threshold, per_pair, seed
        )
        return train, validation
    if data["source"] == TATOEBA:
        from clirbench.data.tatoeba import tatoeba_files, tatoeba_languages_for

        folder = data.get("folder")
        files = tatoeba_files(
            tatoeba_languages_for(languages),
            Path(folder) if folder else None,
            download_folder,
            f"{key}.data",
        )
        pairs = tatoeba_training_pairs(files, settings.seed, int(data["pairs_per_language_pair"]))
        return pairs["train"], pairs["dev"]
    if data["source"] == WORD_IN_CONTEXT:
        instances = word_in_context_instances(data, languages, download_folder, f"{key}.data")
        return (
            word_in_context_triplets(instances.filter(pl.col("split") == "train"), settings.seed),
            word_in_context_validation(instances.filter(pl.col("split") == "dev")),
        )
    raise ValueError(f"{key}.data.source: unknown source {data['source']!r}")


def word_in_context_instances(
    data: Mapping[str, Any], languages: set[str], download_folder: Path, key: str
) -> pl.DataFrame:
    """The chosen collections' instances whose sentences are in the study's languages,
    each read from its configured folder or its downloaded release."""
    from clirbench.data.download import published_archive
    from clirbench.data.word_in_context import in_languages, read_collection

    tables = []
    for collection in data["collections"]:
        folder = data["folders"].get(collection)
        if folder is None:
            folder = published_archive(
                data["urls"][collection],
                data["sha256"].get(collection),
                download_folder / "word-in-context" / collection,
                collection,
                f"{key}.folders.{collection}",
            )
        table = read_collection(collection, Path(folder), f"{key}.folders.{collection}")
        kept = in_languages(table, languages)
        log.info("%s: %d of %d instances in the study's languages (%s)", collection, kept.height,
                 table.height, ", ".join(sorted({*kept["lang_1"], *kept["lang_2"]})) or "none")
        tables.append(kept)
    return pl.concat(tables)


def _languages(evaluated: Sequence[Mapping[str, Any]]) -> set[str]:
    """Languages of the evaluated queries and documents of the model's datasets."""
    languages: set[str] = set()
    for entry in evaluated:
        for path in [entry["queries"], *entry["docs"]]:
            languages.update(read_parquet(path, columns=["lang"])["lang"].unique().to_list())
    return languages


def fine_tune(
    model: Mapping[str, Any],
    scope: str,
    training: Mapping[str, Any],
    base_settings: Mapping[str, Any],
    train_path: Path,
    validation_path: Path,
    retrieval: Mapping[str, Any] | None,
    model_out: Path,
    record_out: Path,
    threads: int,
) -> None:
    """Train `model` for `scope`; write the model folder and, beside it, its record with
    the sha256 of every file in the folder (checked before the folder is used).

    `retrieval` (query-document level): the dataset's docs and qrels and its relevance
    threshold, against which the validation queries are searched.
    """
    settings = TrainingSettings.from_config(training)
    base = EncoderConfig.from_config(model["base"], base_settings)
    train = read_parquet(train_path).select(
        TRIPLET_COLUMNS if model["level"] == WORD else PAIR_COLUMNS
    )
    validation = read_parquet(validation_path)
    evaluator = _evaluator(model["level"], base, validation, retrieval)
    key = f"stages.fine_tuning.models.{model['name']}"
    description = {"name": model["name"], "scope": scope, "config_key": key,
                   "source": model.get("source", "")}
    record = train_encoder(
        base,
        model["level"],
        settings,
        train,
        evaluator,
        model_out,
        model_out.with_name("checkpoints"),
        threads,
        description,
    )
    write_json({**record, "files": folder_manifest(model_out)}, record_out)
    log.info("kept epoch %s of %s", record["chosen_epoch"], settings.max_epochs)


def _evaluator(
    level: str,
    base: EncoderConfig,
    validation: pl.DataFrame,
    retrieval: Mapping[str, Any] | None,
) -> Any:
    # Imported here: sentence-transformers (and torch) load only in the training job.
    from clirbench.embed.encoders import prompt_of
    from clirbench.finetune.validation import (
        PhraseRecallEvaluator,
        RetrievalEvaluator,
        WordInContextEvaluator,
    )

    if level == WORD:
        return WordInContextEvaluator(validation, prompt_of(base, "query"))
    if level != QUERY_DOCUMENT:
        return PhraseRecallEvaluator(validation.select(list(PAIR_SCHEMA)), prompt_of(base, "query"))
    assert retrieval is not None, "query-document validation needs the dataset's pool"
    return RetrievalEvaluator(
        validation,
        read_parquet(retrieval["docs"]),
        read_parquet(retrieval["qrels"]),
        int(retrieval["relevance_threshold"]),
        (prompt_of(base, "query"), prompt_of(base, "document")),
        unit=str(retrieval["unit"]),
    )


__all__ = ["RECORD_NAME", "fine_tune", "fine_tuning_pairs"]

"""The MT pilot (the paper's Figure 2): which translator to trust with the whole collection.

The paper sampled 100 documents per language, translated them into English with each
candidate system, and scored adequacy (COMET-Kiwi) and fluency (perplexity of an LLM); it
chose NLLB-200 from that. The pilot's units of work, one file each:

1. `sample_pilot_documents`: the sample, the same for every system (per dataset and
   language, a seeded pick of non-English documents, with the dataset's own English where
   it ships one);
2. `translate_pilot`: one system's translations of the sample, through the shared
   translation cache ("reference" is the dataset's own English: the upper bound);
3. `score_pilot` (`clirbench.translate.scoring`) and `score_comet`
   (`clirbench.translate.comet_kiwi`, in its own environment): per-document scores;
4. `summarise_pilot`: every system's documents in one table, and the means per system and
   language that the report shows.

The sample is drawn by ranking each (dataset, language)'s documents by a hash of
(seed, dataset, language, doc_id) and keeping the first ones: the same seed gives the same
documents on any machine and library version, and adding a dataset or a language changes
no other group's pick.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from clirbench.core.atomic import write_csv, write_parquet
from clirbench.core.intermediate import read_parquet
from clirbench.translate.scoring import SCORES_SCHEMA, TRANSLATIONS_SCHEMA, score_pilot

if TYPE_CHECKING:
    from clirbench.translate.translators import TranslatorConfig

__all__ = [
    "ALL_LANGUAGES",
    "SAMPLE_SCHEMA",
    "SUMMARY_COLUMNS",
    "TRANSLATIONS_SCHEMA",
    "sample_pilot_documents",
    "score_pilot",
    "summarise_pilot",
    "translate_pilot",
]

log = logging.getLogger("clirbench")

PILOT_KEY = "stages.translation.pilot"
ALL_LANGUAGES = "all"  # the summary's language label of a system's overall means
SAMPLE_SCHEMA = pl.Schema(
    {
        "dataset": pl.String,
        "doc_id": pl.String,
        "lang": pl.String,
        "source": pl.String,
        "reference": pl.String,
    }
)
KEY_COLUMNS = ["dataset", "doc_id", "lang", "system"]
COMET_SCHEMA = pl.Schema({**dict.fromkeys(KEY_COLUMNS, pl.String()), "comet_kiwi": pl.Float64()})
SUMMARY_COLUMNS = [
    "system",
    "lang",
    "documents",
    "comet_kiwi",
    "encoder_cosine",
    "nll",
    "perplexity",
    "off_target_rate",
    "chrf",
]


def sample_pilot_documents(
    docs: Mapping[str, Path],
    reference_english: Mapping[str, Path],
    languages: Sequence[str] | None,
    per_language: int,
    seed: int,
    out: Path,
) -> None:
    """Write the pilot's sample: per (dataset, language), `per_language` non-English
    documents (all if fewer), picked by `seed`. `docs` and `reference_english` map dataset
    names to their docs.parquet and docs_reference_english.parquet (that one may be empty or
    absent). Columns: dataset, doc_id, lang, source, reference (null without one)."""
    from clirbench.translate.translators import ENGLISH_CODES

    if per_language < 1:
        raise ValueError(f"{PILOT_KEY}.documents_per_language: must be >= 1, got {per_language}")
    wanted = None if languages is None else set(languages)
    if wanted is not None and wanted & ENGLISH_CODES:
        english = sorted(wanted & ENGLISH_CODES)
        log.info("English documents are never translated: %s left out", ", ".join(english))
    groups = []
    for dataset in sorted(docs):
        frame = read_parquet(docs[dataset], columns=["doc_id", "lang", "text"])
        frame = frame.filter(~pl.col("lang").is_in(sorted(ENGLISH_CODES)))
        if wanted is not None:
            frame = frame.filter(pl.col("lang").is_in(sorted(wanted)))
        picked = _seeded_pick(frame, dataset, per_language, seed)
        reference = _reference_texts(reference_english.get(dataset))
        groups.append(
            picked.join(reference, on="doc_id", how="left")
            .select(
                pl.lit(dataset).alias("dataset"),
                "doc_id",
                "lang",
                pl.col("text").alias("source"),
                "reference",
            )
            .cast(SAMPLE_SCHEMA)
        )
        counts = frame.group_by("lang").len("available").join(
            picked.group_by("lang").len("picked"), on="lang"
        )
        for lang, available, count in counts.sort("lang").rows():
            log.info("%s %s: %d of %d documents", dataset, lang, count, available)
    sample = pl.concat(groups) if groups else pl.DataFrame(schema=SAMPLE_SCHEMA)
    if sample.is_empty():
        asked = "any language" if languages is None else ", ".join(languages)
        raise ValueError(
            f"{PILOT_KEY}: no non-English documents of {asked} in the datasets "
            f"{', '.join(sorted(docs)) or '(none)'}; check {PILOT_KEY}.datasets and .languages"
        )
    if wanted is not None:
        missing = sorted(wanted - ENGLISH_CODES - set(sample["lang"].to_list()))
        if missing:
            log.warning("%s.languages: no documents in %s", PILOT_KEY, ", ".join(missing))
    write_parquet(sample.sort("dataset", "lang", "doc_id"), out)


def _seeded_pick(
    frame: pl.DataFrame, dataset: str, per_language: int, seed: int
) -> pl.DataFrame:
    """Per language, the `per_language` documents of `frame` first by their hash rank."""
    ranks = [
        hashlib.sha256(f"{seed}\x00{dataset}\x00{lang}\x00{doc_id}".encode()).hexdigest()
        for doc_id, lang in zip(frame["doc_id"].to_list(), frame["lang"].to_list(), strict=True)
    ]
    return (
        frame.with_columns(pl.Series("rank", ranks, dtype=pl.String))
        .sort("lang", "rank", "doc_id")
        .filter(pl.int_range(pl.len()).over("lang") < per_language)
        .drop("rank")
    )


def _reference_texts(path: Path | None) -> pl.DataFrame:
    """doc_id -> the dataset's own English text (empty when it ships none)."""
    empty = pl.DataFrame(schema={"doc_id": pl.String, "reference": pl.String})
    if path is None or not Path(path).is_file():
        return empty
    table = read_parquet(path, columns=["doc_id", "text"])
    if table.is_empty():
        return empty
    return table.select("doc_id", pl.col("text").alias("reference")).cast(pl.String)


def translate_pilot(
    sample: Path,
    system: str,
    config: TranslatorConfig | None,
    threads: int,
    cache_root: Path,
    out: Path,
) -> None:
    """Translate the sample with one system: "reference" (config None) takes the dataset's
    own English (documents without one are left out); a translator takes the languages it
    covers (the others are left out, with a warning), through the translation cache.
    Columns: dataset, doc_id, lang, system, source, translation, reference."""
    from clirbench.translate.translators import REFERENCE

    table = read_parquet(sample, columns=list(SAMPLE_SCHEMA))
    if system == REFERENCE:
        if config is not None:
            raise ValueError(
                f"stages.translation.translators.{REFERENCE}: {REFERENCE!r} is the pilot's "
                "name for the datasets' own English; give the translator another name"
            )
        translated = table.filter(pl.col("reference").is_not_null())
        if translated.height < table.height:
            log.info(
                "%s: %d of %d sampled documents have no reference English, left out",
                system, table.height - translated.height, table.height,
            )  # fmt: skip
        result = translated.with_columns(pl.col("reference").alias("translation"))
    elif config is None:
        raise ValueError(
            f"{PILOT_KEY}.systems: {system!r} is neither {REFERENCE!r} nor a translator "
            "under stages.translation.translators"
        )
    else:
        result = _translated(table, config, threads, cache_root)
    result = result.with_columns(pl.lit(system).alias("system")).select(list(TRANSLATIONS_SCHEMA))
    write_parquet(result.cast(TRANSLATIONS_SCHEMA), out)


def _translated(
    table: pl.DataFrame, config: TranslatorConfig, threads: int, cache_root: Path
) -> pl.DataFrame:
    from clirbench.translate.cache import TranslationCache
    from clirbench.translate.translators import LazyTranslator, unsupported_languages

    languages = sorted(set(table["lang"].to_list()))
    uncovered = set(unsupported_languages(config, languages))
    if uncovered:
        log.warning(
            "%s cannot translate %s: those documents are left out of its pilot scores",
            config.config_key, ", ".join(sorted(uncovered)),
        )  # fmt: skip
    translator = LazyTranslator(config, threads)
    cache = TranslationCache(cache_root, translator, translator.fingerprint)
    parts = []
    for lang in languages:
        if lang in uncovered:
            continue
        rows = table.filter(pl.col("lang") == lang)
        translations = cache.translate(rows["source"].to_list(), lang)
        log.info(
            "%s %s: %d documents, %d from the cache, %d translated",
            config.name, lang, rows.height, cache.hits, cache.translated,
        )  # fmt: skip
        parts.append(rows.with_columns(pl.Series("translation", translations, dtype=pl.String)))
    if not parts:
        return table.clear().with_columns(pl.lit(None, dtype=pl.String).alias("translation"))
    return pl.concat(parts).sort("dataset", "lang", "doc_id")


def summarise_pilot(
    scores: Sequence[Path], comet: Sequence[Path], out_documents: Path, out_summary: Path
) -> None:
    """Join every system's scores (and COMET-Kiwi scores, where there are any) into one
    per-document table, and write the means per system and language, plus each system's
    mean over all its documents (language "all"), as CSV: system, lang, documents,
    comet_kiwi, encoder_cosine, nll, perplexity (the mean of the documents' perplexities),
    off_target_rate, chrf. A mean skips documents without the score; no score: empty."""
    documents = _documents(scores, comet)
    per_language = _means(documents, ["system", "lang"])
    overall = _means(documents, ["system"]).with_columns(pl.lit(ALL_LANGUAGES).alias("lang"))
    summary = (
        pl.concat([overall.select(SUMMARY_COLUMNS), per_language.select(SUMMARY_COLUMNS)])
        .with_columns((pl.col("lang") != ALL_LANGUAGES).alias("_per_language"))
        .sort("system", "_per_language", "lang")
        .drop("_per_language")
    )
    write_parquet(documents, out_documents)
    write_csv(summary, out_summary)


def _documents(scores: Sequence[Path], comet: Sequence[Path]) -> pl.DataFrame:
    tables = [_read(path, SCORES_SCHEMA) for path in scores]
    documents = pl.concat(tables) if tables else pl.DataFrame(schema=SCORES_SCHEMA)
    comet_tables = [_read(path, COMET_SCHEMA) for path in comet]
    comet_scores = pl.concat(comet_tables) if comet_tables else pl.DataFrame(schema=COMET_SCHEMA)
    duplicated = comet_scores.filter(pl.struct(KEY_COLUMNS).is_duplicated())
    if duplicated.height:
        first = duplicated.row(0, named=True)
        raise ValueError(
            f"COMET scores: {duplicated.height} rows score one document twice, e.g. {first}"
        )
    return documents.join(comet_scores, on=KEY_COLUMNS, how="left").sort(
        "system", "dataset", "lang", "doc_id"
    )


def _read(path: Path, schema: pl.Schema) -> pl.DataFrame:
    return read_parquet(path, columns=list(schema)).cast(schema)


def _means(documents: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return documents.group_by(by).agg(
        pl.len().cast(pl.Int64).alias("documents"),
        pl.col("comet_kiwi").mean(),
        pl.col("encoder_cosine").mean(),
        pl.col("nll").mean(),
        pl.col("perplexity").mean(),
        pl.col("off_target").cast(pl.Float64).mean().alias("off_target_rate"),
        pl.col("chrf").mean(),
    )

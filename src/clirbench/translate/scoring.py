"""Scores of the pilot's translations, per document: fluency and offline adequacy.

The unit of work is the translation tables of every pilot system (`clirbench.translate.pilot`): each
English output gets its fluency under the causal LM (`clirbench.translate.fluency`), the
cosine with its source under the multilingual encoder when one is configured, its detected
language and whether it is off target, and chrF against the dataset's own English where
there is one (`clirbench.translate.adequacy`). COMET-Kiwi, the paper's adequacy score, runs
in its own environment (`clirbench.translate.comet_kiwi`) and is joined in by the summary.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.atomic import write_parquet
from clirbench.core.intermediate import read_parquet

log = logging.getLogger("clirbench")

# One pilot system's translations (`clirbench.translate.pilot.translate_pilot`).
TRANSLATIONS_SCHEMA = pl.Schema(
    {
        "dataset": pl.String,
        "doc_id": pl.String,
        "lang": pl.String,
        "system": pl.String,
        "source": pl.String,
        "translation": pl.String,
        "reference": pl.String,
    }
)
TRANSLATION_COLUMNS = list(TRANSLATIONS_SCHEMA)
SCORES_SCHEMA = pl.Schema(
    list(TRANSLATIONS_SCHEMA.items())
    + list(
        {
            "nll": pl.Float64,
            "perplexity": pl.Float64,
            "tokens": pl.Int64,
            "encoder_cosine": pl.Float64,
            "detected_lang": pl.String,
            "off_target": pl.Boolean,
            "chrf": pl.Float64,
        }.items()
    )
)


def score_pilot(
    translations: Sequence[Path],
    fluency_lm: Mapping[str, Any],
    adequacy_encoder: Mapping[str, Any] | None,
    threads: int,
    out: Path,
) -> None:
    """Score every document of the `translations` tables, one per system, in one job, so the
    LM and the encoder load once (see the module docstring); the table keeps
    the texts, so the summary and the report need no other file. `adequacy_encoder` is an
    ``encoders.<name>`` entry with its "name" added, or None for no encoder cosine."""
    from clirbench.translate.adequacy import (
        chrf_scores,
        detect_languages,
        encoder_cosines,
        is_off_target,
    )
    from clirbench.translate.fluency import score_fluency

    table = pl.concat([read_parquet(path, columns=TRANSLATION_COLUMNS) for path in translations])
    texts = table["translation"].to_list()
    fluency = score_fluency(texts, fluency_lm, threads) if texts else []
    cosines = (
        encoder_cosines(table["source"].to_list(), texts, adequacy_encoder, threads)
        if adequacy_encoder is not None and texts
        else [None] * len(texts)
    )
    detected = detect_languages(texts)
    scores = table.with_columns(
        pl.Series("nll", [f.nll for f in fluency], dtype=pl.Float64),
        pl.Series("perplexity", [f.perplexity for f in fluency], dtype=pl.Float64),
        pl.Series("tokens", [f.tokens for f in fluency], dtype=pl.Int64),
        pl.Series("encoder_cosine", cosines, dtype=pl.Float64),
        pl.Series("detected_lang", detected, dtype=pl.String),
        pl.Series("off_target", [is_off_target(lang) for lang in detected], dtype=pl.Boolean),
        pl.Series("chrf", chrf_scores(texts, table["reference"].to_list()), dtype=pl.Float64),
    ).select(list(SCORES_SCHEMA))
    if scores.height:
        log.info(
            "%d documents: mean perplexity %s, off target %d, encoder cosine %s, chrF %s",
            scores.height,
            _mean(scores, "perplexity"),
            int(scores["off_target"].sum()),
            _mean(scores, "encoder_cosine"),
            _mean(scores, "chrf"),
        )
    write_parquet(scores.cast(SCORES_SCHEMA), out)


def _mean(frame: pl.DataFrame, column: str) -> str:
    value = frame[column].mean()
    return "n/a" if value is None else f"{float(value):.4g}"  # type: ignore[arg-type]

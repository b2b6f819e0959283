"""Entry points of the translation rules: settings as the workflow passes them, paths in and out.

Each function unpacks one job's settings (a translator entry of `stages.translation`, as
canonical JSON from the rule's params) into typed objects and calls the stage's library:
`corpus` for the chunk jobs of an mt- condition, `pilot` (and its scorers) for the MT pilot.
Importing this module loads no model library: the Snakefile reads chunk plans through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clirbench.core.intermediate import reading


def translator_config(name: str, settings: Mapping[str, Any]) -> Any:
    """The typed config of `stages.translation.translators.<name>`."""
    from clirbench.translate.translators import TranslatorConfig

    return TranslatorConfig(name=name, settings=dict(settings))


def planned_chunks(plan: str | Path) -> list[tuple[str, int]]:
    """(language, chunk number) of every chunk job a plan lists, for the gather rule's input."""
    with reading(plan), open(plan, encoding="utf-8") as handle:
        chunks = json.load(handle)["chunks"]
    return [(str(entry["lang"]), int(entry["chunk"])) for entry in chunks]


def plan_translation(
    docs: Path,
    translator: str,
    settings: Mapping[str, Any],
    chunk_size: int,
    untranslatable: str,
    plan: Path,
) -> None:
    from clirbench.translate.corpus import plan_chunks

    plan_chunks(docs, translator_config(translator, settings), chunk_size, untranslatable, plan)


def translate_chunk(
    docs: Path,
    lang: str,
    chunk: int,
    chunk_size: int,
    translator: str,
    settings: Mapping[str, Any],
    threads: int,
    cache_root: Path,
    out: Path,
) -> None:
    from clirbench.translate import corpus

    config = translator_config(translator, settings)
    corpus.translate_chunk(docs, lang, chunk, chunk_size, config, threads, cache_root, out)


def gather_translation(
    docs: Path, plan: Path, chunks: Sequence[Path], out_docs: Path, out_summary: Path
) -> None:
    from clirbench.translate.corpus import gather_translation as gather

    gather(docs, plan, chunks, out_docs, out_summary)


def pilot_sample(
    docs: Sequence[Path],
    reference_english: Sequence[Path],
    languages: Sequence[str] | None,
    per_language: int,
    seed: int,
    out: Path,
) -> None:
    """Sample the pilot's documents; each docs table's dataset is its folder's name."""
    from clirbench.translate.pilot import sample_pilot_documents

    sample_pilot_documents(
        {Path(path).parent.name: Path(path) for path in docs},
        {Path(path).parent.name: Path(path) for path in reference_english},
        languages,
        per_language,
        seed,
        out,
    )


def pilot_translate(
    sample: Path,
    system: str,
    settings: Mapping[str, Any] | None,
    threads: int,
    cache_root: Path,
    out: Path,
) -> None:
    """Translate the sample with one pilot system (no settings: the reference English)."""
    from clirbench.translate.pilot import translate_pilot

    config = None if settings is None else translator_config(system, settings)
    translate_pilot(sample, system, config, threads, cache_root, out)


def pilot_score(
    translations: Sequence[Path],
    fluency_lm: Mapping[str, Any],
    adequacy_encoder: Mapping[str, Any] | None,
    threads: int,
    out: Path,
) -> None:
    from clirbench.translate.pilot import score_pilot

    score_pilot(translations, fluency_lm, adequacy_encoder, threads, out)


def pilot_summary(
    scores: Sequence[Path], comet: Sequence[Path], out_documents: Path, out_summary: Path
) -> None:
    from clirbench.translate.pilot import summarise_pilot

    summarise_pilot(scores, comet, out_documents, out_summary)

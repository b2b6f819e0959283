"""What start-up says about a study's stages: notices, and errors that name their config key.

Notices: stages configured but switched off, datasets without reference English, metrics
that `retrieval.top_k` cuts, encoders evaluated on languages they were not trained on
(`clirbench.embed.language_coverage`). Errors: stage settings that name a translator,
encoder, system, dataset or condition the study does not have; the workflow prints them
all at once, before any job runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clirbench.core.systems import (
    MACHINE_TRANSLATION_PREFIX,
    REFERENCE_ENGLISH,
    REFERENCE_SYSTEM,
    translator_of,
)
from clirbench.evaluate.coverage import metric_cutoff
from clirbench.evaluate.metrics import METRICS
from clirbench.embed.language_coverage import coverage_notices
from clirbench.finetune.specs import fine_tuning_errors
from clirbench.rerank.specs import reranking_errors

if TYPE_CHECKING:
    from clirbench.core.systems import Study


def study_notices(study: Study) -> tuple[list[str], list[str]]:
    """(notices, errors) about stages switched off, stage settings that name what is not
    there, and missing English."""
    notices: list[str] = []
    errors = translation_errors(study) + ann_search_errors(study)
    errors += fine_tuning_errors(
        study.fine_tuned,
        study.settings.encoders,
        {name: study.settings.datasets[name].options for name in study.datasets},
        reserved=set(study.settings.encoders) | set(study.settings.bm25),
        conditions=study.condition_names,
    )
    errors += reranking_errors(
        study.rerankers,
        {name: system.kind.name for name, system in study.systems.items() if system.reranker is None},
        lexical=set(study.settings.bm25),
        datasets={name: study.settings.datasets[name].options for name in study.datasets},
        conditions=study.condition_names,
        chosen_conditions=study.settings.reranking.get("conditions"),
    )
    for stage, stage_settings in study.settings.stages.items():
        if not stage_settings.get("enabled"):
            notices.append(f"stages.{stage}: switched off; its settings are not used")
    without = [
        name
        for name, dataset in study.settings.datasets.items()
        if not dataset.has_reference_english
    ]
    if without and REFERENCE_ENGLISH in study.settings.conditions:
        notices.append(
            "datasets " + ", ".join(sorted(without)) + ": no reference English documents; "
            "an mt-<translator> condition (stages.translation) gives them an English one"
        )
    notices += depth_notices(study.settings.top_k)
    notices += coverage_notices(study)
    return notices, errors


def depth_notices(top_k: int) -> list[str]:
    """A notice naming the metrics@k that a run of `top_k` documents cuts (on pools larger
    than top_k; the pools' sizes are known once the datasets are prepared)."""
    shallow = [m for m in METRICS if (metric_cutoff(m) or 0) > top_k]
    if not shallow:
        return []
    return [
        f"retrieval.top_k: {top_k} documents per query cut {', '.join(shallow)} on pools "
        f"of more than {top_k} documents (the report marks them); raise it to "
        f"{max(metric_cutoff(m) or 0 for m in shallow)} to score them in full"
    ]

def ann_search_errors(study: Study) -> list[str]:
    stage = study.settings.ann_search
    if not stage:
        return []
    errors = [
        f"stages.ann_search.encoders: {name!r} is not an encoder "
        f"(encoders: {', '.join(sorted(study.settings.encoders))})"
        for name in stage.get("encoders") or []
        if name not in study.settings.encoders
    ]
    efficiency = stage.get("efficiency") or {}
    condition = efficiency.get("condition")
    if efficiency.get("enabled") and condition not in study.condition_names:
        errors.append(
            f"stages.ann_search.efficiency.condition: {condition!r} is not a condition any "
            f"dataset searches (conditions: {', '.join(study.condition_names)})"
        )
    return errors

def translation_errors(study: Study) -> list[str]:
    """Names in the conditions and the pilot that stages.translation does not define."""
    errors: list[str] = []
    stage = study.settings.stages.get("translation") or {}
    translators = stage.get("translators", {})
    for name in study.settings.conditions:
        if not name.startswith(MACHINE_TRANSLATION_PREFIX):
            continue
        if not stage.get("enabled"):
            errors.append(
                f"conditions: {name} needs the translation stage; set "
                "stages.translation.enabled to true"
            )
        elif translator_of(name) not in translators:
            errors.append(
                f"conditions: {name} names no translator of stages.translation.translators "
                f"(defined: {', '.join(sorted(translators)) or 'none'})"
            )
    if REFERENCE_SYSTEM in translators:
        errors.append(
            f"stages.translation.translators.{REFERENCE_SYSTEM}: {REFERENCE_SYSTEM!r} names "
            "the dataset's own English in the pilot; give the translator another name"
        )
    pilot = study.settings.pilot
    known = set(translators) | {REFERENCE_SYSTEM}
    for system in pilot.get("systems", []):
        if system not in known:
            errors.append(
                f"stages.translation.pilot.systems: {system!r} is neither a translator of "
                f"stages.translation.translators nor {REFERENCE_SYSTEM!r}"
            )
    if pilot and not pilot.get("systems"):
        errors.append("stages.translation.pilot.systems: the pilot has no system to score")
    chosen = pilot.get("chosen")
    if chosen is not None and chosen not in pilot.get("systems", []):
        errors.append(f"stages.translation.pilot.chosen: {chosen!r} is not a pilot system")
    encoder = pilot.get("adequacy_encoder")
    if encoder is not None and encoder not in study.settings.encoders:
        errors.append(
            f"stages.translation.pilot.adequacy_encoder: {encoder!r} is not an encoder "
            f"(encoders: {', '.join(sorted(study.settings.encoders))})"
        )
    for key, datasets in (
        ("stages.translation.pilot.datasets", pilot.get("datasets")),
        ("stages.translation.datasets", stage.get("datasets")),
    ):
        for dataset in datasets or []:
            if dataset not in study.settings.datasets:
                errors.append(f"{key}: no dataset {dataset!r}")
    return errors

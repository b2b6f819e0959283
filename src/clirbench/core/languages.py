"""Language codes: which ones exist, their scripts and names (from Unicode CLDR via babel)."""

from __future__ import annotations

import functools

from babel import Locale, UnknownLocaleError
from babel.core import get_global


@functools.cache
def known_language_codes() -> frozenset[str]:
    """ISO 639 codes CLDR has a name for (two- and three-letter), e.g. 'en', 'zh', 'yue'."""
    return frozenset(code for code in map(str, Locale.parse("en").languages) if "_" not in code)


def base_language(code: str) -> str:
    """'zh-Hant' -> 'zh', 'pt_BR' -> 'pt'."""
    return code.replace("_", "-").split("-", 1)[0].lower()


def is_known_language(code: str) -> bool:
    return base_language(code) in known_language_codes()


def script_of(code: str) -> str:
    """The ISO 15924 script a language is most likely written in ('ja' -> 'Jpan')."""
    likely = get_global("likely_subtags").get(base_language(code), "")
    parts = likely.split("_")
    return parts[1] if len(parts) > 2 else "Zyyy"


def english_name(code: str) -> str:
    return Locale.parse("en").languages.get(base_language(code), code)


def load_locale(code: str) -> Locale:
    try:
        return Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError) as error:
        raise ValueError(f"CLDR has no locale data for language {code!r}") from error

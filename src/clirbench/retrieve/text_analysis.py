"""Text analysis for BM25: how a text becomes the terms that are indexed and searched.

Two analyzers:
- "icu": Unicode word segmentation by ICU with the text language's rules, so Chinese,
  Japanese, Thai, Khmer, Lao and Burmese (written without spaces) are split into words by
  ICU's dictionaries; NFKC-normalised and case-folded; punctuation dropped.
- "whitespace": lower-case and split on white space, as the paper's BM25 baseline does.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Sequence

import icu

from clirbench.core.languages import base_language

Analyzer = Callable[[str, str], list[str]]


@functools.cache
def _word_breaker(lang: str) -> icu.BreakIterator:
    return icu.BreakIterator.createWordInstance(icu.Locale(lang))


# Characters outside the Basic Multilingual Plane (emoji, rare CJK) take two UTF-16 units.
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def icu_terms(text: str, lang: str) -> list[str]:
    normalised = unicodedata.normalize("NFKC", text).casefold()
    breaker = _word_breaker(base_language(lang))
    # ICU's boundaries count UTF-16 code units, Python's str code points: they agree unless
    # the text holds astral characters, which are then cut from ICU's own string.
    source: str | icu.UnicodeString = (
        icu.UnicodeString(normalised) if _ASTRAL.search(normalised) else normalised
    )
    breaker.setText(source)
    terms, start = [], breaker.first()
    for end in breaker:
        # Rule status 0 marks spaces and punctuation; every other status is a word of some kind.
        if breaker.getRuleStatus() != icu.UWordBreak.NONE:
            terms.append(str(source[start:end]))
        start = end
    return terms


def whitespace_terms(text: str, lang: str) -> list[str]:
    return text.lower().split()


ANALYZERS: dict[str, Analyzer] = {"icu": icu_terms, "whitespace": whitespace_terms}


def get_analyzer(name: str) -> Analyzer:
    try:
        return ANALYZERS[name]
    except KeyError:
        raise ValueError(f"unknown analyzer {name!r}; known: {', '.join(ANALYZERS)}") from None


def analyze_all(texts: Sequence[str], languages: Sequence[str], analyzer: str) -> list[list[str]]:
    terms_of = get_analyzer(analyzer)
    return [terms_of(text, lang) for text, lang in zip(texts, languages, strict=True)]

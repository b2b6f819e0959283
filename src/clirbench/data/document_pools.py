"""Building a multilingual pool from parallel data, as the paper does for mMARCO.

Each unique passage appears in exactly one language (spread evenly over the languages),
every query appears in every language, and query/document pairs in the same language are
dropped so only cross-lingual pairs remain. Splits are drawn per unit (an entity, a
question) so no unit leaks from train into test through another language.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence


def spread_over_languages(
    unit_ids: Sequence[str], languages: Sequence[str], seed: int
) -> dict[str, str]:
    """Give each unit one language: a seeded shuffle dealt round-robin, so counts differ by <= 1."""
    shuffled = sorted(set(unit_ids))
    random.Random(seed).shuffle(shuffled)
    ordered_languages = sorted(languages)
    return {unit: ordered_languages[i % len(ordered_languages)] for i, unit in enumerate(shuffled)}


def split_of(unit_id: str, seed: int, fractions: Mapping[str, float]) -> str:
    """Deterministic split from a hash of the unit id: stable when other units come or go."""
    digest = hashlib.sha256(f"{seed}:{unit_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    cumulative = 0.0
    for split in ("train", "dev", "test"):
        cumulative += fractions.get(split, 0.0)
        if position < cumulative:
            return split
    return "test"


def deduplicate(texts_by_unit: Mapping[str, str]) -> dict[str, str]:
    """Map each unit to the first unit (in sorted order) with the same text."""
    first_with_text: dict[str, str] = {}
    canonical: dict[str, str] = {}
    for unit in sorted(texts_by_unit):
        key = " ".join(texts_by_unit[unit].split())
        canonical[unit] = first_with_text.setdefault(key, unit)
    return canonical

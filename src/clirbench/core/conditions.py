"""Document conditions: which text of a dataset's documents a system searches.

`original` is the multilingual pool as published, `reference-english` the English that
ships with the dataset (mMARCO's and XQuAD's English originals, the CLDR cards' English
card, a local collection's translated file) and `mt-<translator>` every document machine
translated into English by a translator of `stages.translation`. Each names the table that
holds its documents; `clirbench.core.systems.Study` says which conditions a dataset has.
"""

from __future__ import annotations

from dataclasses import dataclass

ORIGINAL = "original"
REFERENCE_ENGLISH = "reference-english"
MACHINE_TRANSLATION_PREFIX = "mt-"


@dataclass(frozen=True)
class Condition:
    """A version of a dataset's documents, and the table that holds it."""

    name: str
    docs_table: str  # path below {output_root}, with a {dataset} placeholder

    @property
    def is_machine_translation(self) -> bool:
        return self.name.startswith(MACHINE_TRANSLATION_PREFIX)


ORIGINAL_CONDITION = Condition(ORIGINAL, "data/{dataset}/docs.parquet")
REFERENCE_ENGLISH_CONDITION = Condition(
    REFERENCE_ENGLISH, "data/{dataset}/docs_reference_english.parquet"
)
# The pilot's name for the dataset's own English, scored beside the translators.
REFERENCE_SYSTEM = "reference"


def machine_translation_condition(translator: str) -> Condition:
    """`mt-<translator>`: the table the translation stage gathers for that translator."""
    return Condition(
        f"{MACHINE_TRANSLATION_PREFIX}{translator}",
        f"translation/{{dataset}}/{translator}/docs.parquet",
    )


def translator_of(condition: str) -> str:
    """'mt-nllb' -> 'nllb'."""
    if not condition.startswith(MACHINE_TRANSLATION_PREFIX):
        raise ValueError(f"{condition!r} is not a machine-translated condition")
    return condition.removeprefix(MACHINE_TRANSLATION_PREFIX)


def condition_sort_key(name: str) -> tuple[int, str]:
    """original, then reference English, then machine translations by name."""
    rank = {ORIGINAL: 0, REFERENCE_ENGLISH: 1}.get(name, 2)
    return rank, name

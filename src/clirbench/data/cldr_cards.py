"""The embedded offline dataset: localised entity cards from Unicode CLDR (shipped by babel).

An entity is a territory, language, currency or script. Its card, in one language, gives
its localised name and facts about it, all in that language: the languages spoken in a
territory, its currencies and cities; where a language is spoken and its script; which
territories use a currency; which languages a script writes. Queries are the entity's
name in every language, and the relevant document is the entity's card, so a query in
Japanese for フィンランド must find Finland's card in, say, Portuguese.

The candidate groups are the entity kinds: with `candidate_pool: group` a territory's name
searches only the territory cards (the query and its card are of one kind by construction).
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from babel import Locale
from babel.core import get_global
from babel.lists import format_list
from babel.numbers import get_territory_currencies

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.core.languages import load_locale, script_of
from clirbench.data.document_pools import split_of, spread_over_languages

ENTITY_KINDS = ("territory", "language", "currency", "script")
_FACTS_PER_LIST = 4
# Codes CLDR names but that are not places or are placeholders.
_NON_TERRITORIES = {"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB", "AQ"}


@dataclass(frozen=True)
class Entity:
    kind: str
    code: str

    @property
    def entity_id(self) -> str:
        return f"{self.kind}-{self.code}"


def _names(locale: Locale, kind: str) -> dict[str, str]:
    table = {
        "territory": locale.territories,
        "language": locale.languages,
        "currency": locale.currencies,
        "script": locale.scripts,
    }[kind]
    return dict(table.items())


def _candidate_codes(kind: str) -> Iterable[str]:
    english = Locale.parse("en")
    if kind == "territory":
        territories = map(str, english.territories)
        return (c for c in territories if c.isalpha() and c not in _NON_TERRITORIES)
    if kind == "language":
        likely = get_global("likely_subtags")
        return (c for c in map(str, english.languages) if "_" not in c and c in likely)
    if kind == "currency":
        in_use = {c for t in english.territories for c in _currencies_of(t)}
        return (c for c in english.currencies if c in in_use)
    return (c for c in english.scripts if c in _languages_by_script())


@functools.cache
def _currencies_of(territory: str) -> tuple[str, ...]:
    return tuple(get_territory_currencies(territory))


@functools.cache
def _territories_by_currency() -> dict[str, list[str]]:
    users: dict[str, list[str]] = defaultdict(list)
    for territory in sorted(get_global("territory_currencies")):
        for currency in _currencies_of(territory):
            users[currency].append(territory)
    return users


@functools.cache
def _languages_by_script() -> dict[str, list[str]]:
    by_script: dict[str, list[str]] = defaultdict(list)
    for language in sorted(get_global("likely_subtags")):
        if "_" not in language:
            by_script[script_of(language)].append(language)
    return by_script


@functools.cache
def _territories_by_language() -> dict[str, list[str]]:
    """Territories where a language is spoken, official ones first, then by population share."""
    spoken_in: dict[str, list[tuple[bool, float, str]]] = defaultdict(list)
    for territory, languages in get_global("territory_languages").items():
        for language, info in languages.items():
            official = bool(info.get("official_status"))
            spoken_in[language].append((official, info.get("population_percent", 0.0), territory))
    return {lang: [t for *_, t in sorted(rows, reverse=True)] for lang, rows in spoken_in.items()}


def select_entities(
    languages: Sequence[str], kinds: Sequence[str], max_entities: int | None, seed: int
) -> list[Entity]:
    """Entities named in every language (a seeded sample of `max_entities` of them)."""
    locales = [load_locale(lang) for lang in languages]
    entities: list[Entity] = []
    for kind in kinds:
        if kind not in ENTITY_KINDS:
            raise ValueError(f"unknown entity kind {kind!r}; known: {', '.join(ENTITY_KINDS)}")
        names = [_names(locale, kind) for locale in locales]
        entities += [
            Entity(kind, code)
            for code in sorted(_candidate_codes(kind))
            if all(code in n for n in names)
        ]
    if max_entities is not None and len(entities) > max_entities:
        entities = sorted(
            random.Random(seed).sample(entities, max_entities), key=lambda e: e.entity_id
        )
    return entities


def ambiguous_names(
    entities: Sequence[Entity], languages: Sequence[str]
) -> set[tuple[str, Entity]]:
    """(language, entity) pairs whose name another entity shares in that language.

    Finnish "suomi" is both Finland and the Finnish language: as a query it has no single
    answer, so such queries are left out (the cards themselves stay).
    """
    ambiguous: set[tuple[str, Entity]] = set()
    for lang in languages:
        locale = load_locale(lang)
        holders: dict[str, list[Entity]] = defaultdict(list)
        for entity in entities:
            holders[_names(locale, entity.kind)[entity.code].casefold()].append(entity)
        ambiguous.update((lang, e) for group in holders.values() if len(group) > 1 for e in group)
    return ambiguous


class CardWriter:
    """Writes an entity's card in one language, every word taken from that locale's CLDR data."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.locale = load_locale(lang)
        self._names = {kind: _names(self.locale, kind) for kind in ENTITY_KINDS}
        self._spoken_in = _territories_by_language()
        self._by_script = _languages_by_script()

    def title(self, entity: Entity) -> str:
        return self._names[entity.kind][entity.code]

    def text(self, entity: Entity) -> str:
        facts: Callable[[str], list[list[str]]] = getattr(self, f"_{entity.kind}_facts")
        sentences = [self.title(entity)] + [
            self._list(items) for items in facts(entity.code) if items
        ]
        return ". ".join(sentences) + "."

    def _list(self, items: list[str]) -> str:
        return format_list(items[:_FACTS_PER_LIST], locale=self.locale)

    def _named(self, kind: str, codes: Iterable[str]) -> list[str]:
        names = self._names[kind]
        return list(dict.fromkeys(names[c] for c in codes if c in names))

    def _territory_facts(self, code: str) -> list[list[str]]:
        spoken = get_global("territory_languages").get(code, {})
        by_share = sorted(spoken, key=lambda lang: -spoken[lang].get("population_percent", 0.0))
        zones = get_global("territory_zones").get(code, [])
        cities = [self.locale.time_zones.get(zone, {}).get("city") for zone in zones]
        return [
            self._named("language", by_share),
            self._named("currency", _currencies_of(code)),
            list(dict.fromkeys(city for city in cities if city)),
        ]

    def _language_facts(self, code: str) -> list[list[str]]:
        territories = self._spoken_in.get(code, [])
        return [self._named("script", [script_of(code)]), self._named("territory", territories)]

    def _currency_facts(self, code: str) -> list[list[str]]:
        symbol = self.locale.currency_symbols.get(code)
        users = _territories_by_currency().get(code, [])
        return [[symbol] if symbol and symbol != code else [], self._named("territory", users)]

    def _script_facts(self, code: str) -> list[list[str]]:
        return [self._named("language", self._by_script.get(code, []))]


def build_cldr_cards(
    languages: Sequence[str],
    kinds: Sequence[str],
    max_entities: int | None,
    seed: int,
    split_fractions: dict[str, float],
) -> Dataset:
    entities = select_entities(languages, kinds, max_entities, seed)
    ambiguous = ambiguous_names(entities, languages)
    card_language = spread_over_languages([e.entity_id for e in entities], languages, seed)
    writers = {lang: CardWriter(lang) for lang in sorted(set(languages) | {"en"})}
    doc_rows, english_rows, query_rows, qrel_rows = [], [], [], []
    doc_groups, query_groups = [], []
    for entity in entities:
        doc_lang = card_language[entity.entity_id]
        doc_id = entity.entity_id
        writer, english = writers[doc_lang], writers["en"]
        doc_rows.append((doc_id, doc_lang, writer.title(entity), writer.text(entity)))
        doc_groups.append((doc_id, entity.kind))
        english_rows.append((doc_id, "en", english.title(entity), english.text(entity)))
        split = split_of(entity.entity_id, seed, split_fractions)
        for query_lang in languages:
            if query_lang == doc_lang or (query_lang, entity) in ambiguous:
                continue  # cross-lingual pairs only, and only names with a single answer
            query_id = f"{doc_id}-{query_lang}"
            query_rows.append((query_id, query_lang, writers[query_lang].title(entity), split))
            qrel_rows.append((query_id, doc_id, 1))
            query_groups.append((query_id, entity.kind))
    return dataset_from_rows(
        doc_rows, query_rows, qrel_rows, english_rows, doc_groups, query_groups
    )

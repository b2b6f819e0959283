"""XQuAD (Artetxe et al. 2020): 240 paragraphs and 1,190 questions, parallel in 12 languages.

Prepared like the paper's mMARCO: the paragraphs are deduplicated and spread evenly over
the languages (one language per paragraph), every question is a query in every language,
its relevant document is the paragraph holding its answer, and same-language pairs are
dropped. The reference-english condition uses the English paragraph.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clirbench.core.datamodel import Dataset, dataset_from_rows
from clirbench.data.download import published_file
from clirbench.data.document_pools import deduplicate, split_of, spread_over_languages

XQUAD_COMMIT = "7d30520"
XQUAD_URL = "https://raw.githubusercontent.com/google-deepmind/xquad/{commit}/xquad.{lang}.json"
XQUAD_SHA256 = {
    "ar": "abdabd7afed5c635d99cca0f3f0d0c9d9ed0bc77451e963c2e4e0638c29e486d",
    "de": "990b5d746746ed65ed4702ea5f35f99ffa4e2f1c390c07d003642acd937916f9",
    "el": "821cf0f88e73fa258fd2f548b19b6ec39f7025059e16f6f9fc8cd797c9c3663e",
    "en": "e4c57d1c9143aaa1c5d265ba5987a65f4e69528d2a98f29d6e75019b10344f29",
    "es": "dcbae93ec3a9f4b9e78fd834a171d6f96c1a875e10e15b7530b7e4ef4971e37e",
    "hi": "df2cce3532b37e9beb8979704b5c9a4bf874358f105395a298b89427b43b9d24",
    "ro": "94f8d54e93ad2b7dd2e76dd921a666b5b8eff2d4379df9f179c42b445f09643f",
    "ru": "208d5b1aa154c52b1b5c5eda16281e455e8fd198cdb9af3f469f0d6037d973bf",
    "th": "5cdda11d0e1e075f7872abf4e6ae830388ce7f617964d542308e9ae4257e0f43",
    "tr": "92179a564774b7696100d144c1e10870d0a966b6fccbdd254a65b9d2ab1971cc",
    "vi": "f619a1eb11fb42d3ab0834259e488a65f585447ef6154437bfb7199d85161a04",
    "zh": "691d0b3359bc6b8faa8de931dfdfe21d50a65861ae348e32a0d1a0190b0c8835",
}
XQUAD_LANGUAGES = tuple(sorted(XQUAD_SHA256))


def xquad_files(
    languages: Sequence[str], local_folder: Path | None, download_folder: Path, config_key: str
) -> dict[str, Path]:
    """The verified JSON file per language, from `local_folder` if given, else downloaded."""
    unknown = sorted(set(languages) - set(XQUAD_LANGUAGES))
    if unknown:
        raise ValueError(
            f"{config_key}.languages: XQuAD has no {', '.join(unknown)}; it has {', '.join(XQUAD_LANGUAGES)}"
        )
    return {
        lang: published_file(
            f"xquad.{lang}.json",
            XQUAD_SHA256[lang],
            f"XQuAD {lang}",
            XQUAD_URL.format(commit=XQUAD_COMMIT, lang=lang),
            local_folder,
            download_folder,
            config_key,
        )
        for lang in sorted(set(languages) | {"en"})
    }


def _paragraphs(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [paragraph for article in data["data"] for paragraph in article["paragraphs"]]


def _check_parallel(english: list[dict[str, Any]], other: list[dict[str, Any]], path: Path) -> None:
    english_ids = [[qa["id"] for qa in p["qas"]] for p in english]
    other_ids = [[qa["id"] for qa in p["qas"]] for p in other]
    if english_ids != other_ids:
        raise ValueError(f"{path}: paragraphs/questions are not parallel to the English file")


def build_xquad(
    files: dict[str, Path],
    languages: Sequence[str],
    seed: int,
    split_fractions: dict[str, float],
    max_paragraphs: int | None = None,
) -> Dataset:
    english = _paragraphs(files["en"])
    by_lang = {lang: _paragraphs(files[lang]) for lang in languages}
    for lang, paragraphs in by_lang.items():
        _check_parallel(english, paragraphs, files[lang])
    unit_of = deduplicate({f"xquad-p{i:03d}": p["context"] for i, p in enumerate(english)})
    units = sorted(set(unit_of.values()))[:max_paragraphs]
    doc_lang = spread_over_languages(units, languages, seed)
    index_of = {unit: int(unit.removeprefix("xquad-p")) for unit in units}
    docs = [(u, doc_lang[u], "", by_lang[doc_lang[u]][index_of[u]]["context"]) for u in units]
    reference_english = [(u, "en", "", english[index_of[u]]["context"]) for u in units]
    queries, qrels = [], []
    for i, paragraph in enumerate(english):
        unit = unit_of[f"xquad-p{i:03d}"]
        if unit not in doc_lang:
            continue
        split = split_of(unit, seed, split_fractions)
        for q, qa in enumerate(paragraph["qas"]):
            for lang in languages:
                if lang == doc_lang[unit]:
                    continue  # cross-lingual pairs only
                query_id = f"{qa['id']}-{lang}"
                queries.append((query_id, lang, by_lang[lang][i]["qas"][q]["question"], split))
                qrels.append((query_id, unit, 1))
    return dataset_from_rows(docs, queries, qrels, reference_english)

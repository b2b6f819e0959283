from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from rank_bm25 import BM25Okapi

from clirbench.retrieve.text_analysis import analyze_all, icu_terms, whitespace_terms
from clirbench.retrieve.bm25 import BM25Config, bm25_search


@pytest.mark.parametrize(
    ("text", "lang", "terms"),
    [
        (
            "フィンランドの首都はヘルシンキです。",
            "ja",
            ["フィンランド", "の", "首都", "は", "ヘルシンキ", "です"],
        ),
        ("芬兰的首都是北京吗", "zh", ["芬兰", "的", "首都", "是", "北京", "吗"]),
        ("ประเทศฟินแลนด์มีเมืองหลวง", "th", ["ประเทศ", "ฟินแลนด์", "มี", "เมือง", "หลวง"]),
        ("Die Hauptstadt, ＦＩＮＮＬＡＮＤＳ!", "de", ["die", "hauptstadt", "finnlands"]),
    ],
)
def test_icu_segments_scripts_written_without_spaces(
    text: str, lang: str, terms: list[str]
) -> None:
    assert icu_terms(text, lang) == terms


def test_whitespace_analyzer_is_the_papers_plain_split() -> None:
    assert whitespace_terms("Die Hauptstadt, Finnlands!", "de") == [
        "die",
        "hauptstadt,",
        "finnlands!",
    ]
    assert whitespace_terms("フィンランドの首都", "ja") == ["フィンランドの首都"]


def corpus() -> tuple[pl.DataFrame, pl.DataFrame]:
    docs = pl.DataFrame(
        {
            "doc_id": [f"d{i}" for i in range(8)],
            "lang": ["en", "en", "de", "ja", "zh", "en", "de", "en"],
            "text": [
                "the cat sat on the mat",
                "a dog chased the cat around",
                "die katze schläft",
                "猫が好きです",
                "我喜欢猫和狗",
                "stocks fell sharply today",
                "hunde bellen laut",
                "mat weaving is a craft",
            ],
        }
    )
    queries = pl.DataFrame(
        {
            "query_id": ["q1", "q2", "q3", "q4"],
            "lang": ["en", "ja", "zh", "en"],
            "text": ["cat mat", "猫", "狗", "quantum"],
        }
    )
    return docs, queries


def test_bm25_scores_match_rank_bm25() -> None:
    docs, queries = corpus()
    config = BM25Config("bm25", analyzer="icu", k1=1.2, b=0.75, method="robertson")
    indices, scores = bm25_search(config, docs, queries, k=8)
    doc_terms = analyze_all(docs["text"].to_list(), docs["lang"].to_list(), "icu")
    reference = BM25Okapi(doc_terms, k1=1.2, b=0.75)
    for row, (text, lang) in enumerate(zip(queries["text"], queries["lang"], strict=True)):
        expected = reference.get_scores(icu_terms(text, lang))
        found = indices[row] >= 0
        # bm25s leaves out Robertson's constant (k1 + 1) factor, which does not change rankings.
        np.testing.assert_allclose(
            scores[row][found] * (1.2 + 1), expected[indices[row][found]], rtol=1e-5
        )
        assert found.sum() == (expected > 0).sum(), "documents sharing no term are not returned"


def test_segmentation_lets_bm25_match_inside_cjk_text() -> None:
    docs, queries = corpus()
    icu_top, _ = bm25_search(BM25Config.from_config("icu", {"analyzer": "icu"}), docs, queries, k=3)
    plain_top, _ = bm25_search(BM25Config.from_config("ws", {"analyzer": "whitespace"}), docs, queries, k=3)
    assert icu_top[1][0] == 3 and icu_top[2][0] == 4  # 猫 in 猫が好きです, 狗 in 我喜欢猫和狗
    assert (plain_top[1] == -1).all() and (plain_top[2] == -1).all()
    assert (icu_top[3] == -1).all(), "a query with no known term retrieves nothing"


def test_icu_terms_after_characters_outside_the_basic_plane() -> None:
    # ICU counts UTF-16 units: an emoji (two units) must not shift the terms after it.
    assert icu_terms("🙂 e-mail", "en") == icu_terms("e-mail", "en") == ["e", "mail"]
    assert icu_terms("𠀀 Helsinki 🇫🇮 Suomi", "fi") == ["𠀀", "helsinki", "suomi"]

"""The report's per-language views: Recall@100 by query and by document language, each the
macro average over the pairs with that language, with the queries behind it."""

from __future__ import annotations

import base64
import re

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest

from clirbench.evaluate.metrics import METRICS, SUMMARY_COLUMNS
from clirbench.report import per_language as per_language_module
from clirbench.report.page import render_report
from clirbench.report.per_language import (
    LanguageView,
    language_means,
    language_view,
    per_language,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONTENT_WIDTH = 1248  # px: the page's column at a 1280 px window (80rem, less 2 × 1rem padding)

# (query_lang, doc_lang) -> (Recall@100, queries) of system "me5"; "bm25" has half of each
# value and lacks the pair ja → de.
PAIRS = {
    ("de", "en"): (0.2, 3),
    ("de", "ja"): (0.4, 5),
    ("en", "de"): (0.6, 7),
    ("en", "ja"): (1.0, 2),
    ("ja", "de"): (0.3, 11),
    ("ja", "en"): (0.5, 13),
}


def summary_rows(
    system: str, pairs: dict[tuple[str, str], tuple[float, int]], scale: float = 1.0
) -> list[tuple[object, ...]]:
    """summary.csv rows of one system on mkqa, original: every metric of each pair (the
    others scaled down, so a mix-up shows), and the macro rows."""
    rows: list[tuple[object, ...]] = []
    for (query_lang, doc_lang), (value, n) in pairs.items():
        for index, metric in enumerate(METRICS):
            rows.append(("mkqa", "original", system, query_lang, doc_lang, metric,
                         scale * value / (index + 1), n))  # fmt: skip
    for metric in METRICS:
        macro = float(np.mean([value for value, _ in pairs.values()]))
        rows.append(("mkqa", "original", system, "all", "all", metric, macro,
                     sum(n for _, n in pairs.values())))  # fmt: skip
    return rows


def summary() -> pl.DataFrame:
    without_ja_de = {pair: values for pair, values in PAIRS.items() if pair != ("ja", "de")}
    rows = [
        *summary_rows("me5", PAIRS),
        *summary_rows("bm25", without_ja_de, scale=0.5),
        *summary_rows("me5+hnsw", PAIRS, scale=0.9),
        *summary_rows("me5>ce", {("de", "en"): (0.9, 1)}),
    ]
    return pl.DataFrame(rows, schema=SUMMARY_COLUMNS, orient="row")


def recall_pairs() -> pl.DataFrame:
    table = summary()
    return table.filter(
        (pl.col("metric") == "recall@100")
        & (pl.col("query_lang") != "all")
        & pl.col("system").is_in(["me5", "bm25"])
    )


def test_macro_average_over_the_pairs_with_each_language() -> None:
    by_query = language_means(recall_pairs(), "query_lang")
    me5 = {lang: (value, n, pairs) for system, lang, value, n, pairs in by_query.iter_rows()
           if system == "me5"}  # fmt: skip
    assert me5["de"] == (pytest.approx((0.2 + 0.4) / 2), 3 + 5, 2)
    assert me5["en"] == (pytest.approx((0.6 + 1.0) / 2), 7 + 2, 2)
    assert me5["ja"] == (pytest.approx((0.3 + 0.5) / 2), 11 + 13, 2)
    by_doc = language_means(recall_pairs(), "doc_lang")
    bm25 = {lang: (value, n, pairs) for system, lang, value, n, pairs in by_doc.iter_rows()
            if system == "bm25"}  # fmt: skip
    # bm25 has no ja → de pair: its "de" group is en → de alone.
    assert bm25["de"] == (pytest.approx(0.5 * 0.6), 7, 1)
    assert bm25["en"] == (pytest.approx(0.5 * (0.2 + 0.5) / 2), 3 + 13, 2)
    assert bm25["ja"] == (pytest.approx(0.5 * (0.4 + 1.0) / 2), 5 + 2, 2)
    # The summary's system order, languages sorted.
    assert by_doc.select("system", "lang").rows() == [
        ("me5", "de"), ("me5", "en"), ("me5", "ja"),
        ("bm25", "de"), ("bm25", "en"), ("bm25", "ja"),
    ]  # fmt: skip


def test_a_count_that_differs_between_systems_is_a_range() -> None:
    view = language_view(recall_pairs(), "doc_lang", "document language")
    assert view.systems == ["me5", "bm25"] and view.languages == ["de", "en", "ja"]
    # de: me5 has en → de and ja → de (7 + 11 queries), bm25 en → de only (7).
    assert view.counts == ["7–18", "16", "7"]
    np.testing.assert_allclose(view.means[:, 0], [(0.6 + 0.3) / 2, 0.5 * 0.6])


def test_hnsw_and_reranked_systems_are_left_out() -> None:
    (figure,) = per_language(summary())
    assert figure.systems == ["me5", "bm25"]
    assert figure.sides == ["query language", "document language"]
    png = base64.b64decode(figure.png_base64)
    assert png.startswith(PNG_MAGIC)
    # At most the page's column: shown at its own size, the labels keep theirs.
    assert int.from_bytes(png[16:20], "big") <= CONTENT_WIDTH


def test_one_document_language_no_document_language_panel() -> None:
    """Tatoeba xx→en: the documents are all English, a panel by document language would be
    one group, the macro average again."""
    rows = summary_rows("labse", {("de", "en"): (0.9, 4), ("ja", "en"): (0.7, 6)})
    (figure,) = per_language(pl.DataFrame(rows, schema=SUMMARY_COLUMNS, orient="row"))
    assert figure.sides == ["query language"]
    single = summary_rows("labse", {("de", "en"): (0.9, 4)})
    assert per_language(pl.DataFrame(single, schema=SUMMARY_COLUMNS, orient="row")) == []


def test_a_system_keeps_its_colour_in_every_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """bm25 is absent from the second condition: me5 keeps its colour all the same."""
    second = summary().filter(pl.col("system") == "me5").with_columns(condition=pl.lit("mt-x"))
    drawn: list[tuple[list[str], dict[str, Any]]] = []

    def record(views: Sequence[LanguageView], colours: Mapping[str, Any]) -> bytes:
        drawn.append((views[0].systems, dict(colours)))
        return b"png"

    monkeypatch.setattr(per_language_module, "per_language_png", record)
    per_language(pl.concat([summary(), second]))
    (first_systems, first_colours), (second_systems, second_colours) = drawn
    assert (first_systems, second_systems) == (["me5", "bm25"], ["me5"])
    assert second_colours["me5"] == first_colours["me5"] != first_colours["bm25"]


def test_section_follows_the_heatmaps_and_says_what_it_leaves_out() -> None:
    stage_times = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    page = render_report(summary(), {"config_hash": "x"}, stage_times, [])
    headings = re.findall(r'<h2 id="([^"]+)"', page)
    assert headings[headings.index("heatmaps") + 1] == "per-language"
    section = re.search(r'<h2 id="per-language">(.*?)(?=<h2 )', page, re.DOTALL)
    assert section is not None
    text = section.group(1)
    (image,) = re.findall(r'<img src="data:image/png;base64,[^"]+" alt="([^"]+)"', text)
    assert image == (
        "Recall@100 by query language and by document language, per system, mkqa, original"
    )
    for said in ("HNSW systems", "re-ranked systems", "a sample", "number of queries"):
        assert said in text, said
    assert "<figcaption><strong>mkqa, original</strong>" in text

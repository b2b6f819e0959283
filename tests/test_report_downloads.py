"""The report's CSV downloads: every table of the page as a data: link and as a file, the
cells exactly as the page shows them."""

from __future__ import annotations

import base64
import csv
import io
import re
from pathlib import Path

import polars as pl
import pytest

from clirbench.report.downloads import TABLE_CAPTIONS, add_csv_downloads, read_table
from clirbench.report.page import build_report

SYSTEMS = ["bm25", "dense"]
METRICS = ["recall@100", "recall@10", "ndcg@100"]


def small_summary() -> pl.DataFrame:
    rows = []
    for d_index, dataset in enumerate(["cards", "xquad"]):
        for s_index, system in enumerate(SYSTEMS):
            for m_index, metric in enumerate(METRICS):
                value = 0.1 + 0.2 * s_index + 0.05 * m_index + 0.01 * d_index
                for query_lang, doc_lang in [("all", "all"), ("de", "en"), ("en", "de")]:
                    queries = 10 if query_lang == "all" else 5
                    rows.append(
                        (dataset, "original", system, query_lang, doc_lang, metric, value, queries)
                    )
    return pl.DataFrame(
        rows,
        schema=["dataset", "condition", "system", "query_lang", "doc_lang", "metric", "value",
                "n_queries"],
        orient="row",
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    stage_times = pl.DataFrame({"stage": ["evaluate"], "jobs": [2], "seconds": [3.0]})
    build_report(
        small_summary(), {"date": "2026-11-23"}, stage_times, [("de", "en")],
        folder / "report.html", tables_out=folder / "tables",
    )  # fmt: skip
    return (folder / "report.html").read_text(encoding="utf-8"), folder / "tables"


def links(page: str) -> dict[str, str]:
    """Download file name -> the CSV text its data: link holds."""
    found = re.findall(r'<a download="([^"]+)" href="data:text/csv;charset=utf-8;base64,([^"]+)"', page)
    return {name: base64.b64decode(data).decode("utf-8") for name, data in found}


def test_every_table_has_a_link_and_a_file_with_the_same_bytes(written: tuple[str, Path]) -> None:
    page, folder = written
    linked = links(page)
    assert len(linked) == page.count("<table") > 3
    files = {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.csv")}
    assert linked == files
    assert "table3-values.csv" in files and "stage-times.csv" in files


def test_table3_csv_holds_the_shown_values_under_joined_headers(written: tuple[str, Path]) -> None:
    page, _ = written
    rows = list(csv.reader(io.StringIO(links(page)["table3-values.csv"])))
    header, body = rows[0], rows[1:]
    # Three header rows (dataset, condition, metric) joined per column; rowspan kept.
    assert header[0] == "System"
    assert header[1:4] == ["cards / original / R@100", "cards / original / R@10",
                           "cards / original / nDCG@100"]  # fmt: skip
    assert header[4] == "xquad / original / R@100"
    macro = small_summary().filter(pl.col("query_lang") == "all")
    for row in body:
        system = row[0]
        for column, value in zip(header[1:], row[1:], strict=True):
            dataset, _, label = column.split(" / ")
            metric = {"R@100": "recall@100", "R@10": "recall@10", "nDCG@100": "ndcg@100"}[label]
            expected = macro.filter(
                (pl.col("dataset") == dataset) & (pl.col("system") == system)
                & (pl.col("metric") == metric)
            )["value"].item()  # fmt: skip
            assert value == f"{expected:.3f}"
    assert [row[0] for row in body] == SYSTEMS


def test_spans_fill_every_position_they_cover() -> None:
    table = read_table(
        '<table class="results" id="reranking-table"><thead>'
        '<tr><th rowspan="2">Run</th><th colspan="2">R@10</th></tr>'
        "<tr><th>first</th><th>re-ranked</th></tr></thead><tbody>"
        '<tr><td rowspan="2">a&gt;b</td><td>0.1<br><small>0.0–0.2</small></td><td>0.3</td></tr>'
        "<tr><td>0.4</td><td>0.5 ≈</td></tr></tbody></table>"
    )
    assert table.name == "reranking-table" and table.kind == "reranking-table"
    assert list(csv.reader(io.StringIO(table.csv))) == [
        ["Run", "R@10 / first", "R@10 / re-ranked"],
        ["a>b", "0.1 0.0–0.2", "0.3"],
        ["a>b", "0.4", "0.5 ≈"],
    ]


def test_a_table_is_named_by_its_kind_and_data_attributes() -> None:
    table = read_table(
        '<table class="results significance" data-dataset="demo" data-condition="mt-x y" '
        'data-metric="Recall@100"><tr><td>1</td></tr></table>'
    )
    assert table.name == "significance__demo__mt-x-y__Recall@100"
    assert table.kind == "significance" and table.kind in TABLE_CAPTIONS


def test_a_table_without_a_caption_is_an_error() -> None:
    with pytest.raises(ValueError, match="'new-table'.*TABLE_CAPTIONS"):
        read_table('<table id="new-table"><tr><td>1</td></tr></table>')
    with pytest.raises(ValueError, match="two tables named models"):
        add_csv_downloads('<table id="models"></table><table id="models"></table>')

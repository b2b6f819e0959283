"""The HTML report: self-contained, and showing exactly the numbers of the summary."""

from __future__ import annotations

import ast
import base64
import dataclasses
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import polars as pl
import pytest

from clirbench.core.atomic import write_csv, write_json, write_parquet
from clirbench.core.intermediate import DamagedFileError
from clirbench.evaluate.dataset_counts import PAPER_COUNTS, DatasetStatistics, write_dataset_counts
from clirbench.evaluate.metrics import METRICS, SUMMARY_COLUMNS, summarise_pairs, summary_table
from clirbench.report import rules
from clirbench.report.ef_sweep_figure import SweepPoint, sweep_labels
from clirbench.report.heatmaps import HEATMAP_METRICS, heatmap_panels, heatmaps, panel_table
from clirbench.report.page import build_report, render_report
from clirbench.report.pilot_figure import LanguageScores, pilot_figure_png
from clirbench.report.run_metadata import (
    REPORTED_LIBRARIES,
    benchmark_rule,
    format_duration,
    library_versions,
    stage_times_from_benchmarks,
)
from clirbench.report.table3 import table3
from clirbench.report.translation_pilot import examples, pilot_section, shorten

DATASETS = ["mkqa", "xquad"]
CONDITIONS = ["original", "reference-english"]
SYSTEMS = ["bm25", "e5-small", "minilm"]
LANGS = ["ar", "en", "es", "ja"]
TABLE_METRICS = ["recall@100", "recall@10", "ndcg@100"]
HIGHLIGHTED = [("en", "es"), ("ja", "en"), ("ar", "ja")]
ABSENT_PAIR = ("xquad", "ar", "ja")  # never evaluated: must show as a dash
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PageParser(HTMLParser):
    """Collects images, outward links and table cells (with their data-* labels)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.cells: list[dict[str, str | bool]] = []
        self._cell: dict[str, str | bool] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.tags.add(tag)
        if tag == "img":
            self.images.append(attributes.get("src", ""))
        self.links += [attributes[name] for name in ("src", "href") if name in attributes]
        if tag == "td":
            self._cell = {k: v for k, v in attributes.items() if k.startswith("data-")}
            self._cell["bold"] = False
            self._text = []
        if tag in ("strong", "b") and self._cell is not None:
            self._cell["bold"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self._cell["text"] = "".join(self._text).strip()
            self.cells.append(self._cell)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def synthetic_summary() -> pl.DataFrame:
    """2 datasets × 2 conditions × 3 systems × 4 languages, through the real summarisers."""
    rng = np.random.default_rng(7)
    pieces = []
    for dataset in DATASETS:
        for condition in CONDITIONS:
            for system in SYSTEMS:
                rows = [
                    (f"{query_lang}-{n}", query_lang, doc_lang, metric, float(rng.random()))
                    for query_lang in LANGS
                    for doc_lang in LANGS
                    if (dataset, query_lang, doc_lang) != ABSENT_PAIR
                    for n in range(3)
                    for metric in METRICS
                ]
                per_unit = pl.DataFrame(
                    rows,
                    schema=["query_id", "query_lang", "doc_lang", "metric", "value"],
                    orient="row",
                )
                pieces.append((dataset, condition, system, summarise_pairs(per_unit)))
    summary = summary_table(pieces)
    # A tie for the best value, so bold-all-tied is exercised too.
    tie = (pl.col("dataset") == "mkqa") & (pl.col("condition") == "original")
    tie &= (pl.col("metric") == "recall@10") & (pl.col("query_lang") == "all")
    return summary.with_columns(value=pl.when(tie).then(0.987).otherwise(pl.col("value")))


METADATA = {
    "library_versions": {"polars": "2.1.0", "matplotlib": "3.11.2"},
    "models": {"e5-small": "intfloat/multilingual-e5-small", "minilm": "all-MiniLM-L6-v2"},
    "config_hash": "cafe1234",
    "date": "2025-06-01",
    "seed": 13,
}


@pytest.fixture(scope="module")
def summary() -> pl.DataFrame:
    return synthetic_summary()


@pytest.fixture(scope="module")
def page(summary: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> str:
    stage_times = pl.DataFrame(
        {
            "stage": ["encode", "retrieve", "evaluate"],
            "jobs": [6, 12, 12],
            "seconds": [3725.4, 80.0, 12.0],
        }
    )
    out_path = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    build_report(summary, METADATA, stage_times, HIGHLIGHTED, out_path)
    listed = sorted(p.name for p in out_path.parent.iterdir())
    assert listed == [".report.html.written", "report.html"]  # no temp files left
    return out_path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parsed(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def test_page_is_self_contained(page: str, parsed: PageParser) -> None:
    external = [link for link in parsed.links if re.match(r"\s*(https?:)?//", link, re.IGNORECASE)]
    assert not external
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)  # nothing fetched from CSS
    assert "@import" not in page


def test_one_inline_png_per_dataset_and_condition(parsed: PageParser) -> None:
    assert len(parsed.images) == len(DATASETS) * len(CONDITIONS)
    for source in parsed.images:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        assert base64.b64decode(source[len(prefix) :]).startswith(PNG_MAGIC)


def test_table3_shows_macro_values_with_best_in_bold(
    summary: pl.DataFrame, parsed: PageParser
) -> None:
    macro = summary.filter(pl.col("query_lang") == "all")
    # Table 3's cells; the tables of every metric mark theirs with data-table.
    table = [cell for cell in parsed.cells if "data-metric" in cell and "data-table" not in cell]
    assert len(table) == len(DATASETS) * len(CONDITIONS) * len(SYSTEMS) * len(TABLE_METRICS)
    for cell in table:
        column = macro.filter(
            (pl.col("dataset") == cell["data-dataset"])
            & (pl.col("condition") == cell["data-condition"])
            & (pl.col("metric") == cell["data-metric"])
        )
        value = column.filter(pl.col("system") == cell["data-system"])["value"].item()
        assert cell["text"] == f"{value:.3f}"
        best = column["value"].max()
        assert isinstance(best, float)
        assert cell["bold"] == (round(value, 3) == round(best, 3))
    tied = [
        c
        for c in table
        if c["data-dataset"] == "mkqa"
        and c["data-condition"] == "original"
        and c["data-metric"] == "recall@10"
    ]
    assert all(c["bold"] for c in tied) and len(tied) == len(SYSTEMS)
    bold_per_column: dict[tuple[object, ...], int] = {}
    for cell in table:
        key = (cell["data-dataset"], cell["data-condition"], cell["data-metric"])
        bold_per_column[key] = bold_per_column.get(key, 0) + int(bool(cell["bold"]))
    assert all(count >= 1 for count in bold_per_column.values())


def test_highlighted_pairs_table(summary: pl.DataFrame, page: str, parsed: PageParser) -> None:
    pair_cells = [cell["text"] for cell in parsed.cells if "data-metric" not in cell]
    # Both datasets contain some highlighted pair: one table each, rows system × condition,
    # and per pair Recall@100 and nDCG@100.
    per_table = len(SYSTEMS) * len(CONDITIONS) * len(HIGHLIGHTED) * 2
    numeric = [text for text in pair_cells if re.fullmatch(r"\d\.\d{3}|–", str(text))]
    assert len(numeric) == len(DATASETS) * per_table
    for dataset, condition, system in [
        ("mkqa", "reference-english", "minilm"),
        ("xquad", "original", "bm25"),
    ]:
        for query_lang, doc_lang in [("en", "es"), ("ja", "en")]:
            for metric in ("recall@100", "ndcg@100"):
                value = summary.filter(
                    (pl.col("dataset") == dataset)
                    & (pl.col("condition") == condition)
                    & (pl.col("system") == system)
                    & (pl.col("query_lang") == query_lang)
                    & (pl.col("doc_lang") == doc_lang)
                    & (pl.col("metric") == metric)
                )["value"].item()
                assert f"{value:.3f}" in pair_cells
    # The absent xquad pair: two metrics × systems × conditions dashes, none for mkqa.
    assert numeric.count("–") == len(SYSTEMS) * len(CONDITIONS) * 2
    assert "en → es" in page and "ar → ja" in page


def test_metadata_is_shown(page: str) -> None:
    for text in [
        "cafe1234",
        "2025-06-01",
        "intfloat/multilingual-e5-small",
        "all-MiniLM-L6-v2",
        "polars",
        "2.1.0",
        "3.11.2",
        "seed",
        "encode",
        "retrieve",
        "1:02:05",  # encode's 3725.4 s
        format_duration(3725.4 + 80.0 + 12.0),  # total when no elapsed time is given
    ]:
        assert text in page, text


def test_stage_times_from_benchmarks(tmp_path: Path) -> None:
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    files = {
        "encode/mkqa_e5.tsv": header
        + "12.5\t0:00:12\t812.3\t900.1\t700.0\t720.0\t1.0\t2.0\t95.0\t11.9\n"
        + "7.5\t0:00:07\t812.3\t900.1\t700.0\t720.0\t1.0\t2.0\t95.0\t7.0\n",  # repeat()
        "encode/xquad_e5.tsv": header + "30.0\t0:00:30\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n",
        "retrieve/mkqa_e5.tsv": header
        + "4.25\t0:00:04\t100.0\t120.0\t90.0\t95.0\t0.1\t0.2\t50.0\t2.0\n",
    }
    paths = []
    for name, text in files.items():
        path = tmp_path / "benchmarks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    times = stage_times_from_benchmarks(paths)
    assert times.columns == ["stage", "jobs", "seconds"]
    assert times.rows() == [("encode", 2, 50.0), ("retrieve", 1, 4.25)]
    assert stage_times_from_benchmarks([]).height == 0


def test_stage_times_with_nested_wildcard_folders(tmp_path: Path) -> None:
    """benchmarks/<rule>/<dataset>/<condition>/<system>.tsv: the rule is the top folder."""
    # The output root itself below a folder named benchmarks: the last one counts.
    root = tmp_path / "benchmarks" / "out" / "benchmarks"
    paths = [
        root / "evaluate_run" / "mkqa" / "original" / "bm25.tsv",
        root / "evaluate_run" / "mkqa" / "reference-english" / "bm25.tsv",
        root / "prepare_dataset" / "mkqa.tsv",
    ]
    for seconds, path in zip([1.5, 2.5, 10.0], paths, strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"s\th:m:s\n{seconds}\t0:00:0{int(seconds)}\n")
    times = stage_times_from_benchmarks(paths)
    assert times.rows() == [("evaluate_run", 2, 4.0), ("prepare_dataset", 1, 10.0)]


def test_benchmark_files_must_sit_in_a_rule_folder(tmp_path: Path) -> None:
    assert benchmark_rule(Path("out/benchmarks/encode/mkqa/e5.tsv")) == "encode"
    for path in (Path("out/benchmarks/mkqa.tsv"), Path("out/encode/mkqa.tsv")):
        with pytest.raises(ValueError, match="benchmarks/<rule>"):
            benchmark_rule(path)
    stray = tmp_path / "benchmarks" / "encode" / "x.tsv"
    stray.parent.mkdir(parents=True)
    stray.write_text("seconds\n1.0\n")
    with pytest.raises(ValueError, match="no 's' column"):
        stage_times_from_benchmarks([stray])


def test_library_versions() -> None:
    versions = library_versions(["polars", "surely-not-a-package-xyz"])
    assert versions["polars"] == pl.__version__
    assert versions["surely-not-a-package-xyz"] == "not installed"


def test_format_duration() -> None:
    assert format_duration(0) == "0:00:00"
    assert format_duration(59.6) == "0:01:00"
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(90061) == "25:01:01"


def test_dataset_statistics_table_beside_the_papers_counts(
    summary: pl.DataFrame, tmp_path: Path
) -> None:
    clirmatrix = DatasetStatistics(
        name="clirmatrix",
        kind="clirmatrix",
        documents=2_310,
        docs_per_language={"de": 1_105, "en": 1_205},
        queries=3_000,
        queries_per_pair={("de", "en"): 1_000, ("en", "de"): 999},
        relevance_threshold=6,
        query_split="all",
        paper=PAPER_COUNTS["clirmatrix"],
        pool_min_relevance=6,
    )
    tatoeba = dataclasses.replace(
        clirmatrix, name="tatoeba", kind="tatoeba", relevance_threshold=1, paper={},
        pool_min_relevance=None, queries_without_relevant=1_234,
    )  # fmt: skip
    mteb = dataclasses.replace(tatoeba, name="tatoeba-mteb", queries_without_relevant=0,
                               candidate_groups=11)  # fmt: skip
    out = tmp_path / "report.html"
    stage_times = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    build_report(
        summary, METADATA, stage_times, HIGHLIGHTED, out,
        dataset_statistics=[clirmatrix, tatoeba, mteb],
    )  # fmt: skip
    page = out.read_text(encoding="utf-8")
    row = re.search(r'<th class="row">clirmatrix</th>(.*?)</tr>', page, re.DOTALL)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells == [
        *("2,310", "2", "1,105–1,205", "3,000", "2", "999–1,000"),  # counted here
        *("9,055", "1,080–1,205", "1,000"),  # the paper's
    ]
    note = "relevant means relevance ≥ 6; the document pool holds the sampled queries' judged"
    assert f"{note} documents of grade ≥ 6)" in page.replace("&#39;", "'")
    assert "(tatoeba; relevant means relevance ≥ 1)" in page
    # A dataset searched per candidate group says so; the others search their whole pool.
    assert "(tatoeba; relevant means relevance ≥ 1; candidates: per group (11 groups)" in page
    assert page.count("candidates: per group") == 1
    # Queries left out for want of a relevant document are said, never silent.
    left_out = "1,234 all-split queries have no document of relevance ≥ 1 and are left out"
    assert left_out in page
    assert page.count("left out of every metric") == 1  # not for clirmatrix (none left out)


def _pairs(rows: list[tuple[str, str, str, float]], n_queries: int = 5) -> pl.DataFrame:
    """Summary rows of the pairs: each metric of the heatmaps' switch, the value scaled by
    the metric's position (1, 1/2, 1/3), `n_queries` queries each."""
    return pl.DataFrame(
        [
            (system, q, d, metric, value / (index + 1), n_queries)
            for system, q, d, value in rows
            for index, metric in enumerate(HEATMAP_METRICS)
        ],
        schema=["system", "query_lang", "doc_lang", "metric", "value", "n_queries"],
        orient="row",
    )


def test_heatmap_has_a_panel_per_system_with_the_missing_pair_blank() -> None:
    pairs = _pairs(
        [(system, q, d, 0.5) for system in ("b", "a") for q in LANGS for d in LANGS if q != d]
    )
    panels = heatmap_panels(pairs)
    assert [panel.title for panel in panels] == ["b", "a"]  # the summary's order
    assert panels[0].rows == panels[0].columns == sorted(LANGS)
    recall = panels[0].values["recall@100"]
    assert np.isnan(np.diag(recall)).all()  # same-language pairs not evaluated
    assert np.nansum(recall) == 0.5 * len(LANGS) * (len(LANGS) - 1)
    assert np.nansum(panels[0].values["ndcg@10"]) == pytest.approx(np.nansum(recall) / 3)
    assert (np.diag(panels[0].counts) == 0).all() and panels[0].counts[0, 1] == 5
    table = panel_table(panels[0])
    ar_row = dict(zip(table.columns, table.rows[0][1], strict=True))
    assert ar_row["ar"].count == "" and ar_row["ar"].values == ()
    assert ar_row["en"].values == ("0.50", "0.25", "0.17") and ar_row["en"].count == "n=5"


def test_heatmap_with_one_document_language_is_one_panel_of_systems() -> None:
    """Tatoeba xx→en: a column per system, a row per query language."""
    rows = [("use-m", "de", "en", 0.9), ("use-m", "ja", "en", 0.8), ("bm25", "de", "en", 0.1)]
    (panel,) = heatmap_panels(_pairs(rows))
    assert (panel.rows, panel.columns) == (["de", "ja"], ["use-m", "bm25"])
    assert panel.column_label == "system (documents in en)"
    np.testing.assert_array_equal(panel.values["recall@100"], [[0.9, 0.1], [0.8, np.nan]])
    np.testing.assert_array_equal(panel.counts, [[5, 5], [5, 0]])
    assert panel_table(panel).system_columns


def test_heatmap_with_one_query_language_is_one_panel_of_systems() -> None:
    """Large-Scale CLIR en→xx: a row per system, a column per document language."""
    rows = [("me5", "en", "de", 0.7), ("me5", "en", "sw", 0.2), ("bm25", "en", "sw", 0.3)]
    (panel,) = heatmap_panels(_pairs(rows))
    assert (panel.rows, panel.columns) == (["me5", "bm25"], ["de", "sw"])
    assert panel.row_label == "system (queries in en)"
    np.testing.assert_array_equal(panel.values["recall@100"], [[0.7, 0.2], [np.nan, 0.3]])
    assert not panel_table(panel).system_columns


def _counted_summary() -> pl.DataFrame:
    """mkqa, original: 2 systems, 3 languages, each cross-lingual pair with its own count
    (10 × query language index + document language index + 1) and values by hand."""
    langs = ["de", "en", "ja"]
    rows = [
        ("mkqa", "original", system, q, d, metric, value, 10 * langs.index(q) + langs.index(d) + 1)
        for system, base in (("bm25", 0.2), ("me5", 0.6))
        for q in langs
        for d in langs
        if q != d
        for metric, value in ((m, base / (i + 1)) for i, m in enumerate(METRICS))
    ]
    return pl.DataFrame(rows, schema=SUMMARY_COLUMNS, orient="row")


def _heatmap_tables(section: str) -> dict[str, dict[tuple[str, str], str]]:
    """Per heatmap panel of the page (by its data-system): (row label, column label) -> the
    cell's inner HTML. A panel is a CSS grid: a caption, a header line, a line per row."""
    tables = {}
    grids = re.findall(r'<div class="heatmap" data-system="([^"]*)"[^>]*>\n(.*?)\n\s*</div>\n',
                       section, re.DOTALL)  # fmt: skip
    for system, grid in grids:
        _, header, *rows = grid.splitlines()
        cell = re.compile(r'<div(?: class="[^"]*")?>(.*?)</div>')
        columns = cell.findall(header)[1:]
        cells = {}
        for row in rows:
            label, *values = cell.findall(row)
            cells.update(
                {(label, column): value for column, value in zip(columns, values, strict=True)}
            )
        tables[system] = cells
    return tables


def test_every_heatmap_cell_shows_its_values_and_query_count() -> None:
    stage_times = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    page = render_report(_counted_summary(), {"config_hash": "x"}, stage_times, [])
    section = _section(page, "heatmaps")
    tables = _heatmap_tables(section)
    assert list(tables) == ["bm25", "me5"]
    bm25, me5 = tables["bm25"], tables["me5"]
    langs = ["de", "en", "ja"]
    for q in langs:
        for d in langs:
            if q == d:
                assert bm25[(q, d)] == "–"  # not evaluated: no values, no count
                continue
            n = 10 * langs.index(q) + langs.index(d) + 1
            # recall@100, recall@10, ndcg@10: the switch's metrics, in its order.
            shown = "".join(f"<span>{value:.2f}</span>" for value in (0.6, 0.3, 0.15))
            assert me5[(q, d)] == f"{shown}<small>n={n}</small>"
    assert "n=" in section and "the number of queries it averages" in section


def test_heatmap_metric_switch_offers_three_metrics_recall_100_first() -> None:
    stage_times = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    page = render_report(_counted_summary(), {"config_hash": "x"}, stage_times, [])
    section = _section(page, "heatmaps")
    inputs = re.findall(r'<input type="radio" name="heatmap-metric" id="([^"]+)" '
                        r'value="([^"]+)"( checked)?>', section)  # fmt: skip
    assert [(value, checked) for _, value, checked in inputs] == [
        ("recall@100", " checked"), ("recall@10", ""), ("ndcg@10", "")
    ]  # fmt: skip
    labels = re.findall(r'<label for="([^"]+)">(.*?)</label>', section)
    assert labels == [(id_, label) for (id_, _, _), label in
                      zip(inputs, ["Recall@100", "Recall@10", "nDCG@10"], strict=True)]  # fmt: skip
    # The colour bar names the metric shown: one name per metric, CSS shows the checked one's.
    legend = re.search(r'<span class="heatmap-legend">(.*?)</div>', section, re.DOTALL)
    assert legend is not None
    names = re.findall(r'<span class="metric-name">(.*?)</span>', legend.group(1))
    assert names == ["Recall@100", "Recall@10", "nDCG@10"]
    for index in range(3):
        rule = (f"#heatmap-metric-{index}:checked ~ .heatmap-bar "
                f".metric-name:nth-of-type({index + 1}) {{ display: inline; }}")  # fmt: skip
        assert rule in section
    assert "<script" not in section
    # A colour rule per step, for whichever metric is on: me5's 0.6 is step 30 of recall@100,
    # class "a30" (b: recall@10, c: ndcg@10).
    (step_30,) = [line for line in section.splitlines() if ".a30," in line]
    selectors = ",".join(f"#heatmap-metric-{i}:checked~.heatmap-figures .{letter}30"
                         for i, letter in enumerate("abc"))  # fmt: skip
    viridis_06 = matplotlib.colors.to_hex(matplotlib.colormaps["viridis"](0.6))
    assert step_30 == selectors + f"{{background:{viridis_06};color:#000}}"  # light: dark text
    assert 'class="a30 b15 c8"' in section  # 0.6, 0.3 and 0.15 in steps of 0.02


def _small_summary(conditions: list[str], systems: list[str]) -> pl.DataFrame:
    rows = [
        (f"{q}-{n}", q, d, metric, 0.1 * (n + 1))
        for q, d in [("en", "de"), ("de", "en")]
        for n in range(2)
        for metric in METRICS
    ]
    per_unit = pl.DataFrame(
        rows, schema=["query_id", "query_lang", "doc_lang", "metric", "value"], orient="row"
    )
    pairs = summarise_pairs(per_unit)
    return summary_table(
        ("mkqa", condition, system, pairs) for condition in conditions for system in systems
    )


def test_conditions_in_condition_sort_key_order() -> None:
    """original, reference English, then the machine translations by name."""
    summary = _small_summary(["mt-zeta", "mt-alpha", "reference-english", "original"], ["bm25"])
    summary = summary.sort("condition", descending=True)  # the report must not rely on it
    conditions = [condition for condition, _ in table3(summary)["conditions"]]
    assert conditions == ["original", "reference-english", "mt-alpha", "mt-zeta"]


def _benchmark(path: Path, *seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    rows = "".join(f"{s}\t{format_duration(s)}\t1\t1\t1\t1\t0\t0\t50\t{s}\n" for s in seconds)
    path.write_text(header + rows)
    return path


def _stage_rows(page: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<table class="meta" id="stage-times">(.*?)</table>', page, re.DOTALL)
    assert table is not None
    return re.findall(
        r'<tr><th class="row">(.*?)</th><td class="num">(\d+)</td><td class="num">(.*?)</td>',
        table.group(1),
    )


def test_report_entry_point_on_declared_files(tmp_path: Path) -> None:
    out_root = tmp_path / "results"
    summary_path = out_root / "evaluation" / "summary.csv"
    summary = _small_summary(["original", "reference-english"], ["bm25", "me5-small"])
    write_csv(summary, summary_path)
    counts_path = out_root / "evaluation" / "mkqa" / "dataset_counts.json"
    write_dataset_counts(
        DatasetStatistics(
            name="mkqa",
            kind="mkqa",
            documents=1_234,
            docs_per_language={"de": 600, "en": 634},
            queries=40,
            queries_per_pair={("de", "en"): 20, ("en", "de"): 20},
            relevance_threshold=1,
            query_split="test",
        ),
        counts_path,
    )
    benchmarks = out_root / "benchmarks"
    given = [
        _benchmark(benchmarks / "bm25_run" / "mkqa" / "original" / "bm25.tsv", 30.0),
        _benchmark(benchmarks / "evaluate_run" / "mkqa.tsv", 3000.0, 1000.0),  # repeat(): 2 rows
    ]
    # Left behind by an earlier run with another system: on disk, but not an input.
    _benchmark(benchmarks / "bm25_run" / "mkqa" / "original" / "bm25-old.tsv", 99_999.0)
    metadata = {
        "experiment": "smoke",
        "config_hash": "0123abcd",
        "models": {"bm25": "bm25s, icu analyzer", "me5-small": "intfloat/e5-small [st]"},
        "highlighted_pairs": [["en", "de"]],
    }
    out = out_root / "report" / "report.html"

    rules.report(summary_path, [counts_path], given, metadata, out)

    page = out.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.parent.iterdir()) == [".report.html.written", "report.html"]
    assert 'data-system="bm25"' in page and 'data-system="me5-small"' in page
    assert _stage_rows(page) == [("evaluate_run", "1", "1:06:40"), ("bm25_run", "1", "0:00:30")]
    assert format_duration(4030.0) in page and format_duration(99_999.0) not in page
    for text in ("bm25s, icu analyzer", "intfloat/e5-small [st]", "0123abcd", "smoke", "en → de"):
        assert text in page, text
    assert "highlighted_pairs" not in page  # consumed, not listed as a metadata row
    assert '<th class="row">mkqa</th><td>1,234</td>' in page  # the dataset counts file
    libraries = re.search(r'id="libraries">(.*?)</table>', page, re.DOTALL)
    assert libraries is not None
    listed = re.findall(r'<th class="row">(.*?)</th>', libraries.group(1))
    assert listed == sorted(REPORTED_LIBRARIES)
    assert f"<code>{pl.__version__}</code>" in libraries.group(1)


def test_a_summary_without_query_counts_is_refused(tmp_path: Path) -> None:
    """A summary.csv of an older version: the page cannot show its counts, so it says so."""
    summary_path = tmp_path / "summary.csv"
    write_csv(_small_summary(["original"], ["bm25"]).drop("n_queries"), summary_path)
    with pytest.raises(ValueError, match="no n_queries column .* rerun the summarise_metrics"):
        rules.report(summary_path, [], [], {}, tmp_path / "report.html")
    assert not (tmp_path / "report.html").exists()


def test_importing_the_report_rules_loads_no_heavy_libraries() -> None:
    code = "import clirbench.report.rules, sys; print(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = {name.split(".")[0] for name in ast.literal_eval(result.stdout)}
    assert "clirbench" in loaded
    for heavy in ("torch", "bm25s", "icu", "transformers", "sentence_transformers"):
        assert heavy not in loaded, heavy


# The translation stage's sections: the MT pilot (Figure 2) and the translated conditions.

PILOT_LANGS = ["ar", "pt", "zh"]
# system -> (comet_kiwi, encoder_cosine, perplexity, off_target_rate, chrf) over all languages.
# nllb (chosen) is 2nd of 3 on adequacy behind deepl and 1st on fluency; bergamot (pt only)
# and the reference would beat it, but are not ranked.
PILOT_SCORES = {
    "deepl": (0.85, 0.80, 12.0, 0.0, 60.0),
    "nllb": (0.80, 0.75, 10.0, 0.05, 55.0),
    "m2m100": (0.70, 0.65, 20.0, 0.10, 45.0),
    "bergamot": (0.90, 0.85, 5.0, 0.0, 65.0),
    "reference": (0.95, 0.90, 8.0, 0.0, None),
}
LANG_OFFSET = {"ar": -0.1, "pt": 0.05, "zh": -0.05}
TRANSLATION_SETTINGS = {
    "chosen": "nllb",
    "fluency_lm": "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1)",
    "adequacy": "COMET-Kiwi (Unbabel/wmt22-cometkiwi-da)",
    "documents_per_language": 4,
    "seed": 1234,
    "skipped": ["libretranslate: no url configured; skipped"],
}
NLLB_SUMMARY = {
    "translator": "nllb",
    "description": "facebook/nllb-200-distilled-1.3B [hf-seq2seq, 5 beams]",
    "fingerprint": "f" * 64,
    "long_documents": "split",
    "translated": {"de": 600},
    "copied": {"en": 634},
    "kept": {"xh": 17},
    "empty_translations": 0,
}


def _pilot_languages(system: str) -> list[str]:
    return ["pt"] if system == "bergamot" else PILOT_LANGS


def pilot_summary_table(comet: bool = True) -> pl.DataFrame:
    rows = []
    for system, (kiwi, cosine, perplexity, off_target, chrf) in PILOT_SCORES.items():
        langs = _pilot_languages(system)
        for lang in [*langs, "all"]:
            shift = LANG_OFFSET.get(lang, 0.0)
            documents = 4 * (len(langs) if lang == "all" else 1)
            lang_perplexity = perplexity - 10 * shift
            rows.append({
                "system": system, "lang": lang, "documents": documents,
                "comet_kiwi": kiwi + shift if comet else None, "encoder_cosine": cosine + shift,
                "nll": float(np.log(lang_perplexity)), "perplexity": lang_perplexity,
                "off_target_rate": off_target, "chrf": chrf,
            })  # fmt: skip
    return pl.DataFrame(rows)


def pilot_document_table() -> pl.DataFrame:
    rows = []
    for system in PILOT_SCORES:
        for lang in _pilot_languages(system):
            for n in range(4):
                rows.append({
                    "dataset": "cldr", "doc_id": f"{lang}-{n}", "lang": lang, "system": system,
                    "source": f"<script>alert('{lang}{n}')</script> Texto & más {lang}",
                    "translation": f"{system} says <b>{lang}-{n}</b>",
                    "reference": f"reference {lang}-{n}", "nll": 2.0, "perplexity": 7.389,
                    "tokens": 12, "encoder_cosine": 0.8, "detected_lang": "en",
                    "off_target": False, "chrf": 50.0, "comet_kiwi": 0.7,
                })  # fmt: skip
    return pl.DataFrame(rows)


def _translation_inputs(folder: Path, comet: bool = True) -> dict[str, Any]:
    """The report entry point's translation arguments, their files written in `folder`."""
    write_csv(pilot_summary_table(comet), folder / "pilot" / "summary.csv")
    write_parquet(pilot_document_table(), folder / "pilot" / "documents.parquet")
    write_json(NLLB_SUMMARY, folder / "translation" / "mkqa" / "nllb" / "summary.json")
    bergamot = {**NLLB_SUMMARY, "translator": "bergamot", "long_documents": None,
                "translated": {"pt": 5}, "kept": {"de": 600, "ja": 3},
                "empty_translations": 2}  # fmt: skip
    write_json(bergamot, folder / "translation" / "mkqa" / "bergamot" / "summary.json")
    return {
        "pilot_summary": folder / "pilot" / "summary.csv",
        "pilot_documents": folder / "pilot" / "documents.parquet",
        "translation_summaries": {
            ("mkqa", "mt-nllb"): folder / "translation" / "mkqa" / "nllb" / "summary.json",
            ("mkqa", "mt-bergamot"): folder / "translation" / "mkqa" / "bergamot" / "summary.json",
        },
    }


def _render_with_translation(folder: Path, comet: bool = True) -> str:
    summary_path = folder / "summary.csv"
    conditions = ["mt-nllb", "original", "mt-bergamot", "reference-english"]
    write_csv(_small_summary(conditions, ["bm25"]), summary_path)
    metadata = {"config_hash": "0123abcd", "translation": TRANSLATION_SETTINGS}
    out = folder / "report.html"
    rules.report(summary_path, [], [], metadata, out, **_translation_inputs(folder, comet))
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def translation_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _render_with_translation(tmp_path_factory.mktemp("translation"))


def _section(page: str, section_id: str) -> str:
    found = re.search(rf'<h2 id="{section_id}">(.*?)(?=<h2 |</body>)', page, re.DOTALL)
    assert found is not None, section_id
    return found.group(1)


def _pilot_cells(page: str) -> dict[tuple[str, str, str], tuple[str, bool]]:
    parser = PageParser()
    parser.feed(page)
    return {
        (str(c["data-pilot-lang"]), str(c["data-pilot-system"]), str(c["data-pilot-score"])):
            (str(c["text"]), bool(c["bold"]))
        for c in parser.cells
        if "data-pilot-lang" in c
    }  # fmt: skip


def test_pilot_tables_show_the_summary_with_the_best_candidate_in_bold(
    translation_page: str,
) -> None:
    cells = _pilot_cells(translation_page)
    summary = pilot_summary_table()
    headings = {"comet_kiwi": "COMET-Kiwi", "encoder_cosine": "encoder cosine", "nll": "NLL",
                "perplexity": "perplexity", "off_target_rate": "off-target rate",
                "chrf": "chrF"}  # fmt: skip
    for row in summary.iter_rows(named=True):
        for column, heading in headings.items():
            text, _ = cells[row["lang"], row["system"], heading]
            value = row[column]
            assert text == ("–" if value is None else f"{value:.3f}"), (row, column)
    # Overall: deepl's COMET-Kiwi and nllb's perplexity are bold; neither bergamot (fewer
    # languages) nor the reference (the upper bound) is, though their values are better.
    assert cells["all", "deepl", "COMET-Kiwi"] == ("0.850", True)
    assert cells["all", "nllb", "perplexity"] == ("10.000", True)
    assert not cells["all", "bergamot", "COMET-Kiwi"][1]
    assert not cells["all", "reference", "COMET-Kiwi"][1]
    assert not cells["all", "reference", "perplexity"][1]
    # Per language, every system that took the language competes: bergamot wins pt.
    assert cells["pt", "bergamot", "COMET-Kiwi"] == ("0.950", True)
    assert cells["ar", "deepl", "COMET-Kiwi"] == ("0.750", True)
    section = _section(translation_page, "translation-pilot")
    assert "reference English (upper bound)" in section
    assert '<th class="row">reference</th>' not in section
    assert '<th class="row" rowspan="4">ar</th>' in section  # deepl, m2m100, nllb, reference
    assert '<th class="row" rowspan="5">pt</th>' in section


def test_pilot_says_measures_sample_and_seed(translation_page: str) -> None:
    section = _section(translation_page, "translation-pilot")
    for text in [
        "Machine translation pilot",
        "4 documents per language (seed 1234)",
        "Adequacy: <strong>COMET-Kiwi</strong>",
        "COMET-Kiwi (Unbabel/wmt22-cometkiwi-da)",
        "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1)",
        "libretranslate: no url configured; skipped",
        "bergamot took pt only",
    ]:
        assert text in section, text
    assert "Not scored in this run" not in section


def test_chosen_system_and_its_ranks(translation_page: str) -> None:
    chosen = re.search(r'<p id="pilot-chosen">(.*?)</p>', translation_page, re.DOTALL)
    assert chosen is not None
    text = chosen.group(1)
    assert "<strong>nllb</strong>" in text
    assert '<span class="rank" data-score="adequacy">2nd of 3</span>' in text
    assert '<span class="rank" data-score="fluency">1st of 3</span>' in text
    assert "bergamot not ranked" in text
    assert translation_page.count("nllb <em>(chosen)</em>") == 1 + len(PILOT_LANGS)


def test_pilot_figure_is_an_inline_png(translation_page: str) -> None:
    section = _section(translation_page, "translation-pilot")
    (source,) = re.findall(r'<img src="data:image/png;base64,([^"]+)"', section)
    png = base64.b64decode(source)
    assert png.startswith(PNG_MAGIC)
    width = int.from_bytes(png[16:20], "big")
    assert 1000 <= width <= 1400  # about the page's width, not a thumbnail


def test_example_translations_are_escaped(translation_page: str) -> None:
    section = _section(translation_page, "translation-pilot")
    assert "<script>" not in translation_page and "<b>" not in translation_page
    assert "&lt;script&gt;alert(&#39;ar0&#39;)&lt;/script&gt; Texto &amp; más ar" in section
    assert "nllb says &lt;b&gt;ar-0&lt;/b&gt;" in section
    parser = PageParser()
    parser.feed(translation_page)
    assert "script" not in parser.tags and "b" not in parser.tags
    # Three documents, in three languages (pt first: every system took it).
    assert re.findall(r'data-doc-id="(.*?)"', section) == ["pt-0", "ar-0", "zh-0"]


def test_translated_conditions_section(translation_page: str) -> None:
    section = _section(translation_page, "translated-conditions")
    row_pattern = r'<tr data-dataset="mkqa" data-condition="(.*?)">(.*?)</tr>'
    rows = re.findall(row_pattern, section, re.DOTALL)
    assert [condition for condition, _ in rows] == ["mt-bergamot", "mt-nllb"]
    bergamot, nllb = (row for _, row in rows)
    assert "machine translation (nllb)" in nllb and "facebook/nllb-200-distilled-1.3B" in nllb
    assert "split at sentence boundaries" in nllb and "<code>ffffffffffff</code>" in nllb
    assert '<td class="translated">de 600</td>' in nllb
    assert '<td class="copied">en 634</td>' in nllb
    assert '<td class="kept">xh 17</td>' in nllb
    assert '<td class="kept">de 600, ja 3</td>' in bergamot
    assert "sent whole" in bergamot
    kept_notes = re.findall(r'<p class="note kept-note">(.*?)</p>', section, re.DOTALL)
    assert len(kept_notes) == 2
    assert "machine translation (nllb): xh is kept untranslated" in kept_notes[1]
    assert "compare untranslated text" in kept_notes[1]
    assert "de, ja are kept untranslated" in kept_notes[0]
    assert "2 documents were translated to empty text" in section


def test_machine_translated_conditions_sorted_and_labelled(translation_page: str) -> None:
    table = _section(translation_page, "table3")
    headings = re.findall(r'<th colspan="3">(.*?)</th>', table)
    assert headings == ["original", "reference-english", "machine translation (bergamot)",
                        "machine translation (nllb)"]  # fmt: skip
    heatmaps = _section(translation_page, "heatmaps")
    captions = re.findall(r"<figcaption><strong>(.*?)</strong>", heatmaps)
    assert captions == ["mkqa, original", "mkqa, reference-english",
                        "mkqa, machine translation (bergamot)",
                        "mkqa, machine translation (nllb)"]  # fmt: skip


def test_offline_pilot_uses_the_encoder_cosine(tmp_path: Path) -> None:
    page = _render_with_translation(tmp_path, comet=False)
    section = _section(page, "translation-pilot")
    assert "Adequacy: <strong>encoder cosine</strong>" in section
    assert "COMET-Kiwi was not scored" in section
    assert "Not scored in this run: COMET-Kiwi." in section
    assert "<th>COMET-Kiwi</th>" not in section  # no column of dashes
    cells = _pilot_cells(page)
    assert cells["all", "deepl", "encoder cosine"] == ("0.800", True)
    # The ranks follow the cosine now: still 2nd of 3 (deepl higher), 1st on perplexity.
    assert '<span class="rank" data-score="adequacy">2nd of 3</span>' in section


def test_adequacy_measure_per_language_in_the_figure() -> None:
    """A language without COMET-Kiwi scores falls back to the cosine, and says so."""
    summary = pilot_summary_table().with_columns(
        comet_kiwi=pl.when(pl.col("lang") == "zh").then(None).otherwise(pl.col("comet_kiwi"))
    )
    context = pilot_section(summary, None, {"chosen": None})
    assert context["mixed_adequacy"] and context["adequacy_measure"] == "COMET-Kiwi"
    assert context["chosen"] == {"system": None} and context["examples"] == []
    figure = pilot_figure_png(
        [LanguageScores("ar", "COMET-Kiwi", {"a": 0.5}, {"a": 30.0}),
         LanguageScores("zh", "encoder cosine", {"a": 0.7, "b": 0.6}, {"b": 3.0})],
        ["a", "b"], {"a": "a", "b": "b"}, chosen="b",
    )  # fmt: skip
    assert figure.startswith(PNG_MAGIC)


def test_chosen_system_outside_the_pilot() -> None:
    context = pilot_section(pilot_summary_table(), None, {"chosen": "deepl-pro"})
    assert context["chosen"] == {"system": "deepl-pro", "in_pilot": False}


def test_examples_and_shortening() -> None:
    documents = pilot_document_table().filter(pl.col("lang") == "ar")
    picked = examples(documents)
    assert [example.doc_id for example in picked] == ["ar-0", "ar-1", "ar-2"]
    labels = [label for label, _, _ in picked[0].translations]
    assert labels == ["deepl", "m2m100", "nllb", "reference English (upper bound)"]
    assert shorten("word " * 200, 50).endswith(" …") and len(shorten("word " * 200, 50)) <= 52
    assert shorten("short", 50) == "short"


def test_no_translation_inputs_no_translation_sections(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.csv"
    write_csv(_small_summary(["original", "reference-english"], ["bm25"]), summary_path)
    out = tmp_path / "report.html"
    rules.report(summary_path, [], [], {"config_hash": "0123abcd"}, out)
    page = out.read_text(encoding="utf-8")
    for absent in ("translation-pilot", "translated-conditions", "machine translation",
                   "translation"):  # fmt: skip
        assert absent not in page, absent
    assert len(re.findall(r"<img ", page)) == 2  # the per-language figures only


def test_translation_notices_without_a_translation_section(tmp_path: Path) -> None:
    stage_times = pl.DataFrame({"stage": ["encode"], "jobs": [1], "seconds": [1.0]})
    summary = _small_summary(["original"], ["bm25"])
    page = render_report(
        summary, {"config_hash": "x"}, stage_times, [],
        translation={"chosen": None, "skipped": ["deepl: no key; skipped"]},
    )  # fmt: skip
    assert "translation-pilot" not in page
    assert '<th class="row">translation notices</th><td>deepl: no key; skipped</td>' in page


def test_damaged_translation_inputs_are_named(tmp_path: Path) -> None:
    inputs = _translation_inputs(tmp_path)
    summary_path = tmp_path / "summary.csv"
    write_csv(_small_summary(["original"], ["bm25"]), summary_path)
    documents = Path(str(inputs["pilot_documents"]))
    documents.write_bytes(documents.read_bytes()[:-20])  # cut short
    with pytest.raises(DamagedFileError, match="documents.parquet"):
        rules.report(summary_path, [], [], {}, tmp_path / "report.html", **inputs)
    assert not documents.exists()  # set aside, so the workflow rebuilds it
    inputs = _translation_inputs(tmp_path)
    json_path = tmp_path / "translation" / "mkqa" / "nllb" / "summary.json"
    json_path.write_text(json_path.read_text()[:-5])
    with pytest.raises(DamagedFileError, match="summary.json"):
        rules.report(summary_path, [], [], {}, tmp_path / "report.html", **inputs)


def test_translation_inputs_of_the_wrong_shape(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.csv"
    write_csv(_small_summary(["original"], ["bm25"]), summary_path)
    pilot = tmp_path / "pilot.csv"
    write_csv(pilot_summary_table().drop("chrf"), pilot)
    with pytest.raises(ValueError, match=r"pilot.csv: not a pilot summary \(no column chrf\)"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html", pilot_summary=pilot)
    wrong = tmp_path / "wrong.json"
    write_json({**NLLB_SUMMARY, "long_documents": "chop"}, wrong)
    with pytest.raises(ValueError, match="long_documents is 'chop'"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html",
                     translation_summaries={("mkqa", "mt-nllb"): wrong})  # fmt: skip
    write_json(NLLB_SUMMARY, wrong)
    with pytest.raises(ValueError, match="are named mt-<translator>"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html",
                     translation_summaries={("mkqa", "nllb"): wrong})  # fmt: skip


# The ANN stage's section: approximate search (the paper's Table 7).

ANN_RECALL = {"me5-small": 0.812, "me5-small+hnsw": 0.804, "minilm": 0.701, "minilm+hnsw": 0.655}
ANN_MACHINE = {"cpu": "AMD EPYC 7763 64-Core Processor", "cores": 2,
               "platform": "Linux-6.1.0-test-x86_64", "python": "3.11.7", "hnswlib": "0.8.0",
               "numpy": "2.4.6", "torch": "2.13.0"}  # fmt: skip
ANN_SETTINGS = {"M": 16, "ef_construction": 200, "ef": 50, "adaptive_ef": True,
                "search_ef": 200, "seed": 100, "build_threads": 1}  # fmt: skip


def _ann_summary() -> pl.DataFrame:
    """mkqa, original: every unit of a system has its recall@100 of ANN_RECALL (so the macro
    average has it too), and a decoy value under reference-english."""
    pieces = []
    for condition, shift in (("original", 0.0), ("reference-english", -0.3)):
        for system, recall in ANN_RECALL.items():
            rows = [
                (f"{q}-{n}", q, d, metric, recall + shift if metric == "recall@100" else 0.5)
                for q, d in [("en", "de"), ("de", "en")]
                for n in range(2)
                for metric in METRICS
            ]
            per_unit = pl.DataFrame(
                rows, schema=["query_id", "query_lang", "doc_lang", "metric", "value"],
                orient="row",
            )  # fmt: skip
            pieces.append(("mkqa", condition, system, summarise_pairs(per_unit)))
    return summary_table(pieces)


def ann_efficiency(encoder: str, machine: dict[str, Any] | None = None) -> dict[str, Any]:
    fast = encoder == "me5-small"
    return {
        "dataset": "mkqa", "condition": "original", "encoder": encoder,
        "system": f"{encoder}+hnsw", "exact_system": encoder, "documents": 12_480,
        "queries": 2_082, "dimension": 384, "top_k": 100, "rounds": 5, "latency_queries": 200,
        "search_threads": 1, "settings": ANN_SETTINGS, "machine": machine or ANN_MACHINE,
        "engines": [
            {"engine": "exact", "build_seconds": None, "index_bytes": 19_169_280,
             "latency_p50_ms": 0.21, "latency_p95_ms": 0.35,
             "queries_per_second": 51_234.0 if fast else 40_000.4, "overlap_at_k": 1.0},
            {"engine": "hnsw", "build_seconds": 1.2345, "index_bytes": 22_912_345,
             "latency_p50_ms": 0.15, "latency_p95_ms": 0.304,
             "queries_per_second": 23_456.0 if fast else 12_345.6,
             "overlap_at_k": 0.987 if fast else 0.9123},
        ],
        "ef_sweep": [
            {"ef": ef, "search_ef": max(ef, 100),
             "queries_per_second": (90_000.0 if fast else 40_000.0) / (1 + max(ef, 100) / 50),
             "overlap_at_k": min(1.0, (0.93 if fast else 0.85) + max(ef, 100) / 4000)}
            for ef in (10, 100, 200, 400)
        ],
    }  # fmt: skip


def ann_overlap_table() -> pl.DataFrame:
    rows = [
        ("me5-small", "en", "de", 10, 0.95),
        ("me5-small", "de", "en", 12, 0.91),  # the lowest pair of me5-small+hnsw
        ("me5-small", "de", "de", 5, 0.99),
        ("minilm", "en", "de", 10, 0.88),  # the lowest pair of minilm+hnsw
        ("minilm", "de", "en", 12, 0.90),
        ("minilm", "en", "en", 0, None),  # no unit: no overlap, not counted
    ]
    return pl.DataFrame(
        [("mkqa", "original", encoder, f"{encoder}+hnsw", q, d, units, overlap)
         for encoder, q, d, units, overlap in rows],
        schema={"dataset": pl.String, "condition": pl.String, "encoder": pl.String,
                "system": pl.String, "query_lang": pl.String, "doc_lang": pl.String,
                "units": pl.Int64, "overlap": pl.Float64},
        orient="row",
    )  # fmt: skip


def _ann_inputs(folder: Path, machines: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report entry point's ANN arguments, their files written in `folder`."""
    efficiency = []
    for encoder in ("minilm", "me5-small"):
        path = folder / "ann" / "mkqa" / "efficiency" / f"{encoder}.json"
        write_json(ann_efficiency(encoder, (machines or {}).get(encoder)), path)
        efficiency.append(path)
    overlap = folder / "ann" / "mkqa" / "overlap.parquet"
    write_parquet(ann_overlap_table(), overlap)
    return {"ann_efficiency": efficiency, "ann_overlap": [overlap]}


def _render_with_ann(folder: Path, **inputs: Any) -> str:
    summary_path = folder / "summary.csv"
    write_csv(_ann_summary(), summary_path)
    out = folder / "report.html"
    rules.report(summary_path, [], [], {"config_hash": "0123abcd"}, out, **inputs)
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ann_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("ann")
    return _render_with_ann(folder, **_ann_inputs(folder))


def _ann_rows(section: str, table_id: str) -> dict[tuple[str, ...], dict[str, str]]:
    """Rows of a section table by their data-* labels: {data-ann column: text}."""
    table = re.search(rf'<table class="results" id="{table_id}">(.*?)</table>', section, re.DOTALL)
    assert table is not None, table_id
    rows = {}
    for labels, body in re.findall(r"<tr (data-[^>]*)>(.*?)</tr>", table.group(1), re.DOTALL):
        key = tuple(re.findall(r'data-[\w-]+="(.*?)"', labels))
        rows[key] = dict(re.findall(r'<td[^>]* data-ann="([\w-]+)">(.*?)</td>', body))
    return rows


def test_ann_efficiency_table(ann_page: str) -> None:
    section = _section(ann_page, "approximate-search")
    rows = _ann_rows(section, "ann-efficiency")
    assert list(rows) == [  # me5-small before minilm; exact before HNSW
        ("mkqa", "original", "me5-small", "exact"),
        ("mkqa", "original", "me5-small+hnsw", "hnsw"),
        ("mkqa", "original", "minilm", "exact"),
        ("mkqa", "original", "minilm+hnsw", "hnsw"),
    ]
    exact = rows["mkqa", "original", "me5-small", "exact"]
    hnsw = rows["mkqa", "original", "me5-small+hnsw", "hnsw"]
    assert exact == {"build": "–", "memory": "19.17", "p50": "0.210", "p95": "0.350",
                     "qps": "51,234", "recall": "0.812", "overlap": "1.0000"}  # fmt: skip
    assert hnsw == {"build": "1.23", "memory": "22.91", "p50": "0.150", "p95": "0.304",
                    "qps": "23,456", "recall": "0.804", "overlap": "0.9870"}  # fmt: skip
    # Recall@100 is the summary's macro value of that system under the file's condition.
    assert rows["mkqa", "original", "minilm+hnsw", "hnsw"]["recall"] == "0.655"
    assert rows["mkqa", "original", "minilm", "exact"]["qps"] == "40,000"
    assert rows["mkqa", "original", "minilm+hnsw", "hnsw"]["overlap"] == "0.9123"
    assert '<td class="num" rowspan="2">12,480</td>' in section  # documents, once per pair
    assert '<td class="num" rowspan="2">2,082</td>' in section
    assert "Share of the exact top 100 recovered" in section


def test_ann_caption_names_machine_protocol_and_settings(ann_page: str) -> None:
    caption = re.search(r'<div class="note" id="ann-caption">(.*?)</div>', ann_page, re.DOTALL)
    assert caption is not None
    text = caption.group(1)
    for expected in [
        "interleaved (exact, HNSW, exact, HNSW, …) over 5 rounds",
        "single-query latency over 200 queries",
        "Machine: AMD EPYC 7763 64-Core Processor (2 cores; Linux-6.1.0-test-x86_64), "
        "1 search thread; python 3.11.7, hnswlib 0.8.0, numpy 2.4.6, torch 2.13.0.",
        "M 16, ef_construction 200, ef 50 requested, searched with ef 200 (adaptive: "
        "max(ef, 2k)) for k = 100, seed 100, 1 build thread.",
    ]:
        assert expected in text, expected
    assert "different machines" not in text
    assert text.count("AMD EPYC") == 1  # both files on one machine: said once


def test_ann_caption_lists_each_machine_when_they_differ(tmp_path: Path) -> None:
    other = {**ANN_MACHINE, "cpu": "Intel Xeon Gold 6338", "cores": 64}
    page = _render_with_ann(tmp_path, **_ann_inputs(tmp_path, {"minilm": other}))
    caption = re.search(r'<div class="note" id="ann-caption">(.*?)</div>', page, re.DOTALL)
    assert caption is not None
    items = re.findall(r"<li>(.*?)</li>", caption.group(1), re.DOTALL)
    assert "2 different machines" in caption.group(1)
    assert len(items) == 2
    assert items[0].startswith("AMD EPYC 7763 64-Core Processor (2 cores")
    assert items[0].endswith(": mkqa (original), me5-small")
    assert items[1].startswith("Intel Xeon Gold 6338 (64 cores")
    assert items[1].endswith(": mkqa (original), minilm")


def test_ann_overlap_table(ann_page: str) -> None:
    section = _section(ann_page, "approximate-search")
    rows = _ann_rows(section, "ann-overlap")
    assert rows["mkqa", "original", "me5-small+hnsw"] == {
        "pairs": "3", "mean": "0.9500", "lowest-pair": "de → en", "lowest": "0.9100", "units": "27"
    }
    assert rows["mkqa", "original", "minilm+hnsw"] == {
        "pairs": "2", "mean": "0.8900", "lowest-pair": "en → de", "lowest": "0.8800", "units": "22"
    }
    assert "independent of relevance" in section


def test_ann_ef_sweep_figure_is_an_inline_png(ann_page: str) -> None:
    section = _section(ann_page, "approximate-search")
    (source,) = re.findall(r'<img src="data:image/png;base64,([^"]+)"', section)
    png = base64.b64decode(source)
    assert png.startswith(PNG_MAGIC)
    assert 1000 <= int.from_bytes(png[16:20], "big") <= 1400  # about the page's width
    assert "10→100" in section  # the caption explains the labels of ef below k
    assert len(re.findall(r"<img ", ann_page)) == 2 + 1  # per-language figures, the sweep


def test_hnsw_systems_in_the_other_tables(ann_page: str) -> None:
    """'+' in a system name: table3 cells and heatmap panels are labelled with it as is."""
    table = _section(ann_page, "table3")
    assert table.count('data-system="me5-small+hnsw"') == 2 * 3  # 2 conditions × 3 metrics
    assert '<th class="row">minilm+hnsw</th>' in table


def test_ann_section_with_the_overlap_only(tmp_path: Path) -> None:
    inputs = _ann_inputs(tmp_path)
    page = _render_with_ann(tmp_path, ann_efficiency=[], ann_overlap=inputs["ann_overlap"])
    section = _section(page, "approximate-search")
    assert 'id="ann-overlap"' in section
    assert 'id="ann-efficiency"' not in section and "<img " not in section


def test_no_ann_inputs_no_ann_section(tmp_path: Path) -> None:
    no_files: list[dict[str, list[Path]]] = [{}, {"ann_efficiency": [], "ann_overlap": []}]
    for inputs in no_files:
        page = _render_with_ann(tmp_path, **inputs)
        assert "approximate-search" not in page and "Approximate search" not in page
        assert "+hnsw" in page  # the HNSW systems' rows are in the other tables all the same


def test_damaged_or_wrong_ann_inputs_are_named(tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.csv"
    write_csv(_ann_summary(), summary_path)
    inputs = _ann_inputs(tmp_path)
    json_path = inputs["ann_efficiency"][0]
    json_path.write_text(json_path.read_text()[:-5])
    with pytest.raises(DamagedFileError, match="minilm.json"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html", **inputs)
    inputs = _ann_inputs(tmp_path)
    overlap = inputs["ann_overlap"][0]
    overlap.write_bytes(overlap.read_bytes()[:-20])
    with pytest.raises(DamagedFileError, match="overlap.parquet"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html", **inputs)
    inputs = _ann_inputs(tmp_path)
    wrong = ann_efficiency("minilm")
    wrong["engines"] = wrong["engines"][:1]
    write_json(wrong, inputs["ann_efficiency"][0])
    with pytest.raises(ValueError, match=r"minilm.json: engines are \['exact'\]"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html", **inputs)
    write_parquet(ann_overlap_table().drop("units"), inputs["ann_overlap"][0])
    inputs["ann_efficiency"] = []
    with pytest.raises(ValueError, match=r"overlap.parquet: not an ANN overlap table \(no col"):
        rules.report(summary_path, [], [], {}, tmp_path / "r.html", **inputs)


def test_sweep_point_labels() -> None:
    """One label per search: asked-for values hnswlib raised to k share it."""
    points = [SweepPoint(ef, max(ef, 100), 1.0, 0.9) for ef in (400, 10, 100, 50, 200)]
    labelled = [(point.ef, label) for point, label in sweep_labels(points)]
    assert labelled == [(10, "10, 50, 100→100"), (200, "200"), (400, "400")]
    assert [label for _, label in sweep_labels(points[1:2])] == ["10→100"]


def test_hnsw_systems_get_no_heatmap_panel() -> None:
    rows = [
        ("demo", "original", system, q, d, "recall@100", value, 3)
        for system, value in (("me5", 0.9), ("me5+hnsw", 0.8))
        for q, d in (("de", "en"), ("en", "de"))
    ]
    summary = pl.DataFrame(
        rows,
        schema=["dataset", "condition", "system", "query_lang", "doc_lang", "metric", "value",
                "n_queries"],
        orient="row",
    )
    (figure,) = heatmaps(summary).figures
    assert [panel.title for panel in figure.panels] == ["me5"]

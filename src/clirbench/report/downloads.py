"""Every table of the report page as CSV: a download link beside it, and the same files for
the Snakemake report.

A reader who wants to re-plot a table, or to paste it into a paper, should not have to
scrape the page; a reviewer should find the page's tables among the run's outputs. The unit
of work is one rendered `<table>`: its cells are read back from the HTML (column and row
spans expanded into a rectangle, header rows joined per column), so the CSV holds exactly
what the page shows, whatever section drew the table, and no section has to build its
table twice. The link is a `data:` URI, so the page stays self-contained and script-free.

Each table's file name says what it is: its `id`, else its kind (its class other than
"results" / "meta") followed by its `data-*` attributes, e.g.
`significance__demo__original__recall@100.csv`. The kind names the caption
(`TABLE_CAPTIONS`), which the Snakemake report shows above the file; a table of a kind
without a caption is an error, so a new section cannot add one silently.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from clirbench.core.atomic import write_text

# The kind of every table the page draws -> what the table is (the Snakemake report's caption).
TABLE_CAPTIONS: Mapping[str, str] = {
    "table3-values": "Table 3: macro averages over language pairs per system, dataset, "
    "condition and metric (with bootstrap intervals and significance marks where the "
    "analyses ran).",
    "dataset-statistics": "The datasets: documents, queries and judgements per language.",
    "translated-conditions-table": "The machine-translated document conditions: translator, "
    "fingerprint and documents translated.",
    "pairs": "The highlighted language pairs: each system's metrics on them.",
    "all-metrics": "Every metric's macro average over language pairs per condition and system "
    "of one dataset (MAP@100, MAP, P@1 and R@1 beside Table 3's); (cut): cut by the run "
    "depth (retrieval.top_k).",
    "fine-tuning-table": "Table 4: Recall@100 of each base encoder and its fine-tuned versions.",
    "fine-tuned-models": "The fine-tuned models: training data, pairs, kept epoch, settings.",
    "fine-tuning-curves": "Fine-tuning: training loss and validation score per epoch.",
    "reranking-table": "Table 6: first stage against re-ranked run on the same queries.",
    "rerankers": "The cross-encoder re-rankers: negatives, pairs, kept epoch, settings.",
    "reranking-curves": "Re-ranker training: training and validation loss per epoch.",
    "significance": "Paired tests of each system against the best system, the BM25 "
    "baselines, its base encoder or its first stage (Holm-corrected p-values).",
    "intervals": "Macro averages with their bootstrap confidence intervals.",
    "bias": "Language bias: the share of retrieved documents in the query's language, and "
    "by role when the relevant documents are in another language.",
    "similarity": "Spearman correlation of per-pair results with lang2vec similarity of the "
    "query and document languages (Table 8).",
    "feature-sets": "Correlation between the lang2vec feature sets' similarities.",
    "ann-efficiency": "Table 7: HNSW against exact search: recall, latency, index size.",
    "ann-overlap": "Overlap of HNSW's and exact search's top documents per language pair.",
    "pilot-overall": "The translation pilot: fluency and adequacy per MT system.",
    "pilot-per-language": "The translation pilot per source language.",
    "example": "Example translations of the pilot.",
    "run-facts": "The run: date, configuration, commit, hardware and times.",
    "stage-times": "Job time per stage.",
    "models": "The models, exactly identified.",
    "libraries": "Library versions.",
}
GENERIC_CLASSES = frozenset({"results", "meta"})
_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.DOTALL)


@dataclass(frozen=True)
class TableFile:
    name: str  # the file name without ".csv"
    kind: str  # the key of its caption in TABLE_CAPTIONS
    csv: str


def add_csv_downloads(page: str) -> tuple[str, list[TableFile]]:
    """`page` with a CSV download link before every table, and the tables' files."""
    tables: list[TableFile] = []
    pieces: list[str] = []
    position = 0
    for found in _TABLE.finditer(page):
        table = read_table(found.group(0))
        tables.append(table)
        encoded = base64.b64encode(table.csv.encode("utf-8")).decode("ascii")
        pieces += [
            page[position : found.start()],
            f'<p class="download"><a download="{table.name}.csv" '
            f'href="data:text/csv;charset=utf-8;base64,{encoded}">CSV</a></p>\n',
            found.group(0),
        ]
        position = found.end()
    pieces.append(page[position:])
    names = [table.name for table in tables]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"the page has two tables named {', '.join(repeated)}: give each an id")
    return "".join(pieces), tables


def write_tables(tables: list[TableFile], folder: Path) -> None:
    """One CSV per table in `folder` (the Snakemake report's files)."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in tables:
        write_text(table.csv, folder / f"{table.name}.csv")


def read_table(html: str) -> TableFile:
    """One `<table>...</table>`'s name, kind and cells as CSV."""
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    attributes = parser.table_attributes
    kind = attributes.get("id") or next(
        (name for name in attributes.get("class", "").split() if name not in GENERIC_CLASSES),
        "",
    )
    if kind not in TABLE_CAPTIONS:
        raise ValueError(
            f"a report table of kind {kind or '(no id or class)'!r} has no caption in "
            "clirbench.report.downloads.TABLE_CAPTIONS"
        )
    qualifiers = [value for key, value in attributes.items() if key.startswith("data-")]
    name = "__".join(_file_safe(part) for part in [kind, *qualifiers])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header, body = _rectangle(parser.header_rows), _rectangle(parser.body_rows)
    if header:
        # Several header rows (a dataset over its conditions over its metrics): one name
        # per column, its headers joined, repeats of a spanning header kept.
        writer.writerow(
            [" / ".join(dict.fromkeys(filter(None, column))) for column in zip(*header, strict=True)]
        )
    writer.writerows(body)
    return TableFile(name, kind, buffer.getvalue())


def _rectangle(rows: list[list[tuple[str, int, int]]]) -> list[list[str]]:
    """Rows of (text, colspan, rowspan) cells as a grid: a spanning cell's text in every
    position it covers, so each column keeps its meaning."""
    grid: dict[tuple[int, int], str] = {}
    for row_index, cells in enumerate(rows):
        column = 0
        for text, colspan, rowspan in cells:
            while (row_index, column) in grid:
                column += 1
            for row_offset in range(rowspan):
                for column_offset in range(colspan):
                    grid[(row_index + row_offset, column + column_offset)] = text
            column += colspan
    if not grid:
        return []
    height = max(row for row, _ in grid) + 1
    width = max(column for _, column in grid) + 1
    return [[grid.get((row, column), "") for column in range(width)] for row in range(height)]


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]+", "-", text).strip("-")


class _TableParser(HTMLParser):
    """A table's attributes and its header and body rows as (text, colspan, rowspan) cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.table_attributes: dict[str, str] = {}
        self.header_rows: list[list[tuple[str, int, int]]] = []
        self.body_rows: list[list[tuple[str, int, int]]] = []
        self._in_head = False
        self._row: list[tuple[str, int, int]] | None = None
        self._cell: list[str] | None = None
        self._spans = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "table":
            self.table_attributes = values
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
            self._spans = (int(values.get("colspan", 1)), int(values.get("rowspan", 1)))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            text = " ".join("".join(self._cell).split())
            self._row.append((text, *self._spans))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            (self.header_rows if self._in_head else self.body_rows).append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

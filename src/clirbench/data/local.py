"""A user's own collection: docs and queries as JSON lines or TSV, qrels in TREC format.

JSON lines: one object per line with `doc_id` (or `_id`/`id`), `text`, optional `title` and
`lang` (else the file's default language from the config). TSV: a header row naming the
same columns. Queries likewise, with `query_id` (or `_id`/`id`) and an optional `split`
(default "test"). An optional translated-docs file (same format, English text) enables the
reference-english condition.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.datamodel import DOCS_SCHEMA, Dataset
from clirbench.core.trec import read_qrels

_ID_ALIASES = ("_id", "id")


def _records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs from a .jsonl or .tsv file; errors name file and line."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix in {".tsv", ".tab"}:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            return [(number, row) for number, row in enumerate(reader, start=2)]
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number}: invalid JSON ({error.msg})") from error
    return records


def _table(
    path: Path, id_column: str, default_lang: str | None, extra: dict[str, str]
) -> pl.DataFrame:
    rows = []
    for number, record in _records(path):
        identifier = record.get(id_column) or next(
            (record[a] for a in _ID_ALIASES if record.get(a)), None
        )
        lang = record.get("lang") or default_lang
        if identifier is None or "text" not in record or not lang:
            raise ValueError(
                f"{path}:{number}: needs `{id_column}`, `text` and `lang` (or a default language in the config)"
            )
        row = {id_column: str(identifier), "lang": lang, "text": record["text"] or ""}
        row |= {column: str(record.get(column) or default) for column, default in extra.items()}
        rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no records")
    return pl.DataFrame(rows)


def read_local_docs(path: Path, default_lang: str | None) -> pl.DataFrame:
    return _table(path, "doc_id", default_lang, {"title": ""})


def build_local(
    docs: Path,
    queries: Path,
    qrels: Path,
    reference_english: Path | None,
    docs_lang: str | None,
    queries_lang: str | None,
) -> Dataset:
    translated = (
        read_local_docs(reference_english, "en")
        if reference_english
        else pl.DataFrame(schema=DOCS_SCHEMA)
    )
    return Dataset(
        docs=read_local_docs(docs, docs_lang),
        queries=_table(queries, "query_id", queries_lang, {"split": "test"}),
        qrels=read_qrels(qrels),
        reference_english=translated,
    )

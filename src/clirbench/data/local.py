"""A user's own collection: docs and queries as JSON lines or TSV, qrels in TREC format.

JSON lines (`.jsonl`): one object per line with `doc_id` (or `_id`/`id`), `text`, optional
`title` and `lang` (else the file's default language from the config). TSV (`.tsv`/`.tab`):
a header row naming the same columns, each unique and non-blank, then rows with exactly as
many tab-separated fields; there is no quoting or escaping, so a text holding a tab or a
newline needs JSON lines instead. Queries likewise, with `query_id` (or `_id`/`id`) and an
optional `split` (default "test"). An optional translated-docs file (same format, English
text) enables the reference-english condition. Optional candidate-group files (same
formats, given together) restrict each query to the documents of its group when the
dataset's `candidate_pool` is "group": `doc_groups` has `doc_id` and `group` (a document in
several groups has a row for each), `query_groups` has `query_id` and `group` (one row per
query, every query). Every file is UTF-8; blank lines are skipped.

Errors name the file and, once reading has started, the line: a user fixes their own file
from the message alone. `check_local_file` is the cheap part (format and existence) for
the workflow to run before any job starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.datamodel import (
    DOC_GROUPS_SCHEMA,
    DOCS_SCHEMA,
    QUERY_GROUPS_SCHEMA,
    Dataset,
)
from clirbench.core.trec import read_qrels

_ID_ALIASES = ("_id", "id")
_JSONL_SUFFIXES = (".jsonl",)
_TSV_SUFFIXES = (".tsv", ".tab")
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
    type(None): "null",
}


def check_local_file(path: Path) -> None:
    """Raise if `path` is not a docs/queries file this module can read: a format other than
    .jsonl, .tsv or .tab (ValueError), or a missing file (FileNotFoundError).

    Cheap (no parsing) so that the workflow can check every configured docs, queries and
    reference-english file at start-up, rather than fail in a job after others have run;
    content errors surface when the file is read. Not for qrels: TREC files take any name.
    """
    if path.suffix.lower() not in _JSONL_SUFFIXES + _TSV_SUFFIXES:
        found = f"extension {path.suffix!r}" if path.suffix else "no extension"
        raise ValueError(
            f"{path}: {found}, but docs and queries must be JSON lines (.jsonl, one object "
            "per line) or TSV with a header row (.tsv or .tab)"
        )
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line without its line break) pairs, decoded here rather than by `open`
    because a text-mode UnicodeDecodeError names neither the file nor the line."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not UTF-8 (byte {raw[error.start]:#04x} at offset "
                    f"{offset + error.start} of the file); save the file as UTF-8"
                ) from error
            if number == 1:  # a byte-order mark, as Excel and Notepad write, is no text
                line = line.removeprefix("\ufeff")
            yield number, line.rstrip("\r\n")
            offset += len(raw)


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: invalid JSON ({error.msg})") from error
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}:{number}: expected a JSON object ({{...}}), found "
                f"{_JSON_KINDS[type(record)]}"
            )
        yield number, record


def _tsv_records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows split on tabs by hand: csv.DictReader would file surplus fields under the key
    None and pad short rows with None, silently cutting a text that holds a tab."""
    header: list[str] | None = None
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if header is None:
            header = _header(path, number, fields)
        elif len(fields) != len(header):
            raise ValueError(
                f"{path}:{number}: expected {len(header)} tab-separated fields "
                f"({', '.join(header)}), found {len(fields)}; TSV has no quoting, so a tab or "
                "line break inside a text must be replaced (say, by a space) or the file "
                "written as JSON lines (.jsonl)"
            )
        else:
            yield number, dict(zip(header, fields, strict=True))


def _header(path: Path, number: int, fields: list[str]) -> list[str]:
    """Column names; a blank or repeated one would make a row's fields ambiguous."""
    names = [field.strip() for field in fields]
    if "" in names:
        raise ValueError(
            f"{path}:{number}: header column {names.index('') + 1} has no name "
            "(a stray tab in the header?)"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{path}:{number}: header names {', '.join(repeated)} more than once")
    return names


def _records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs from a .jsonl or .tsv/.tab file."""
    check_local_file(path)
    if path.suffix.lower() in _TSV_SUFFIXES:
        return _tsv_records(path)
    return _jsonl_records(path)


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


def _qrels(path: Path) -> pl.DataFrame:
    """read_qrels decodes in text mode, whose UnicodeDecodeError names neither file nor line;
    on that (rare) failure, read the file again to find the line."""
    try:
        return read_qrels(path)
    except UnicodeDecodeError:
        for _ in _lines(path):  # raises at the first line that is not UTF-8
            pass
        raise


def read_local_docs(path: Path, default_lang: str | None) -> pl.DataFrame:
    return _table(path, "doc_id", default_lang, {"title": ""})


def read_local_groups(path: Path, id_column: str) -> pl.DataFrame:
    """(id, group) rows of a candidate-group file (`doc_id` or `query_id`, or `_id`/`id`)."""
    rows = []
    for number, record in _records(path):
        identifier = record.get(id_column) or next(
            (record[a] for a in _ID_ALIASES if record.get(a)), None
        )
        group = record.get("group")
        if identifier is None or group is None or not str(group).strip():
            raise ValueError(f"{path}:{number}: needs `{id_column}` and a non-empty `group`")
        rows.append((str(identifier), str(group).strip()))
    if not rows:
        raise ValueError(f"{path}: no records")
    schema = DOC_GROUPS_SCHEMA if id_column == "doc_id" else QUERY_GROUPS_SCHEMA
    return pl.DataFrame(rows, schema=schema, orient="row")


def build_local(
    docs: Path,
    queries: Path,
    qrels: Path,
    reference_english: Path | None,
    docs_lang: str | None,
    queries_lang: str | None,
    doc_groups: Path | None = None,
    query_groups: Path | None = None,
) -> Dataset:
    translated = (
        read_local_docs(reference_english, "en")
        if reference_english
        else pl.DataFrame(schema=DOCS_SCHEMA)
    )
    return Dataset(
        docs=read_local_docs(docs, docs_lang),
        queries=_table(queries, "query_id", queries_lang, {"split": "test"}),
        qrels=_qrels(qrels),
        reference_english=translated,
        doc_groups=(
            read_local_groups(doc_groups, "doc_id")
            if doc_groups
            else pl.DataFrame(schema=DOC_GROUPS_SCHEMA)
        ),
        query_groups=(
            read_local_groups(query_groups, "query_id")
            if query_groups
            else pl.DataFrame(schema=QUERY_GROUPS_SCHEMA)
        ),
    )

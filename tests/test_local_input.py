"""Malformed local collection files fail with a message naming the file and line, never
silently (a text cut at a tab) or bare (a UnicodeDecodeError with no file)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clirbench.core.datamodel import DatasetError, validate
from clirbench.data.builders import build_dataset
from clirbench.data.local import build_local, check_local_file, read_local_docs

DOCS_HEADER = "doc_id\tlang\ttext"


def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join([*lines, ""]).encode("utf-8"))
    return path


def valid_collection(tmp_path: Path) -> tuple[Path, Path, Path]:
    docs = write_lines(tmp_path / "docs.jsonl", [json.dumps({"doc_id": "d1", "text": "x"})])
    queries = write_lines(tmp_path / "queries.tsv", ["query_id\ttext", "q1\thouse"])
    qrels = write_lines(tmp_path / "qrels.trec", ["q1 0 d1 1"])
    return docs, queries, qrels


def test_tsv_text_holding_a_tab_is_an_error_not_cut(tmp_path: Path) -> None:
    docs = write_lines(tmp_path / "docs.tsv", [DOCS_HEADER, "", "d1\tde\tDas Haus\tist groß."])
    with pytest.raises(
        ValueError,
        match=r"docs\.tsv:3: expected 3 tab-separated fields \(doc_id, lang, text\), found 4; "
        r"TSV has no quoting, so a tab .* written as JSON lines \(\.jsonl\)",
    ):
        read_local_docs(docs, None)


def test_tsv_row_missing_a_field_is_an_error_not_an_empty_text(tmp_path: Path) -> None:
    docs = write_lines(tmp_path / "docs.tsv", [DOCS_HEADER, "d1\tde\tDas Haus", "d2\tde"])
    with pytest.raises(ValueError, match=r"docs\.tsv:3: expected 3 tab-separated fields .*found 2"):
        read_local_docs(docs, None)


@pytest.mark.parametrize(
    ("header", "column"), [("doc_id\t\ttext", 2), ("doc_id\tlang\ttext\t", 4)]
)
def test_tsv_header_with_a_blank_name_is_an_error(
    tmp_path: Path, header: str, column: int
) -> None:
    docs = write_lines(tmp_path / "docs.tsv", [header, "d1\tde\tDas Haus"])
    with pytest.raises(ValueError, match=rf"docs\.tsv:1: header column {column} has no name"):
        read_local_docs(docs, "de")


def test_tsv_header_with_a_repeated_name_is_an_error(tmp_path: Path) -> None:
    docs = write_lines(tmp_path / "docs.tsv", ["doc_id\ttext\tlang\ttext", "d1\ta\tde\tb"])
    with pytest.raises(ValueError, match=r"docs\.tsv:1: header names text more than once"):
        read_local_docs(docs, None)


def test_tsv_with_crlf_line_breaks_and_blank_lines_reads_whole_texts(tmp_path: Path) -> None:
    docs = write_lines(
        tmp_path / "docs.tab",
        [DOCS_HEADER, "", "d1\tde\tDas Haus ist groß.", "d2\tde\t"],
        newline="\r\n",
    )
    frame = read_local_docs(docs, None)
    assert frame["text"].to_list() == ["Das Haus ist groß.", ""]


@pytest.mark.parametrize("table", ["docs", "queries", "qrels"])
@pytest.mark.parametrize("docs_name", ["docs.jsonl", "docs.tsv"])
def test_file_not_utf8_names_file_line_and_byte(
    tmp_path: Path, table: str, docs_name: str
) -> None:
    """Each file's second line holds "ß", written as Latin-1 into the broken one."""
    lines = {
        "docs.jsonl": ['{"doc_id": "d1", "text": "x"}', '{"doc_id": "d2", "text": "groß"}'],
        "docs.tsv": ["doc_id\ttext", "d2\tgroß"],
        "queries": ["query_id\ttext", "q2\tgroß"],
        "qrels": ["q1 0 d1 1", "q2 0 groß 1"],
    }
    docs = write_lines(tmp_path / docs_name, lines[docs_name])
    queries = write_lines(tmp_path / "queries.tsv", lines["queries"])
    qrels = write_lines(tmp_path / "qrels.trec", lines["qrels"])
    broken = {"docs": docs, "queries": queries, "qrels": qrels}[table]
    content = broken.read_bytes().replace("ß".encode(), "ß".encode("latin-1"))
    broken.write_bytes(content)
    offset = content.index("ß".encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(broken.name)}:2: not UTF-8 \(byte 0xdf at offset "
        rf"{offset} of the file\); save the file as UTF-8",
    ):
        build_local(docs, queries, qrels, None, "de", "en")


@pytest.mark.parametrize("name", ["docs.csv", "docs.json", "docs.txt", "docs"])
def test_unsupported_format_is_rejected_before_parsing(tmp_path: Path, name: str) -> None:
    _, queries, qrels = valid_collection(tmp_path)
    docs = write_lines(tmp_path / name, [json.dumps({"doc_id": "d1", "text": "x"})])
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(docs))}: (extension '\.\w+'|no extension), but docs and queries "
        r"must be JSON lines \(\.jsonl, one object per line\) or TSV with a header row "
        r"\(\.tsv or \.tab\)",
    ):
        build_local(docs, queries, qrels, None, "en", "en")


@pytest.mark.parametrize(("line", "kind"), [("[1, 2]", "an array"), ('"d2"', "a string")])
def test_json_line_that_is_not_an_object_names_file_and_line(
    tmp_path: Path, line: str, kind: str
) -> None:
    docs = write_lines(tmp_path / "docs.jsonl", [json.dumps({"doc_id": "d1", "text": "x"}), line])
    with pytest.raises(ValueError, match=rf"docs\.jsonl:2: expected a JSON object .* found {kind}"):
        read_local_docs(docs, "en")


def test_check_local_file_checks_format_and_existence_without_parsing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"docs\.csv: extension '\.csv', but"):
        check_local_file(tmp_path / "docs.csv")  # the format is checked first, without I/O
    with pytest.raises(FileNotFoundError, match=r"docs\.jsonl: no such file"):
        check_local_file(tmp_path / "docs.jsonl")
    for name in ("docs.jsonl", "docs.tsv", "docs.tab", "docs.TSV"):
        check_local_file(write_lines(tmp_path / name, ["not parsed"]))


def test_byte_order_mark_is_not_part_of_the_header(tmp_path: Path) -> None:
    """Spreadsheets save UTF-8 with a byte-order mark; the first column is still `doc_id`."""
    docs = tmp_path / "docs.tsv"
    docs.write_bytes("\ufeffdoc_id\tlang\ttext\nd1\tde\tDas Haus\n".encode())
    assert read_local_docs(docs, None)["doc_id"].to_list() == ["d1"]


def test_candidate_group_files_read_like_docs_and_queries(tmp_path: Path) -> None:
    docs, queries, qrels = valid_collection(tmp_path)
    write_lines(docs, [json.dumps({"doc_id": d, "text": d}) for d in ("d1", "d2")])
    doc_groups = write_lines(
        tmp_path / "doc_groups.tsv", ["doc_id\tgroup", "d1\tx", "d2\tx", "d2\ty"]
    )
    query_groups = write_lines(
        tmp_path / "query_groups.jsonl", [json.dumps({"_id": "q1", "group": "x"})]
    )
    settings = {
        "type": "local", "docs": str(docs), "queries": str(queries), "qrels": str(qrels),
        "docs_lang": "de", "queries_lang": "en",
        "doc_groups": str(doc_groups), "query_groups": str(query_groups),
    }  # fmt: skip
    dataset, sources = build_dataset("mine", settings, tmp_path)
    validate(dataset, sources)
    assert dataset.doc_groups.rows() == [("d1", "x"), ("d2", "x"), ("d2", "y")]
    assert dataset.query_groups.rows() == [("q1", "x")]
    # A group error names the user's own file.
    write_lines(query_groups, [json.dumps({"query_id": "q1", "group": "z"})])
    dataset, sources = build_dataset("mine", settings, tmp_path)
    with pytest.raises(DatasetError, match=re.escape(f"{query_groups}: 1 queries whose group")):
        validate(dataset, sources)
    write_lines(doc_groups, ["doc_id\tgroup", "d1\t "])
    needs = r"doc_groups\.tsv:2: needs `doc_id` and a non-empty `group`"
    with pytest.raises(ValueError, match=needs):
        build_dataset("mine", settings, tmp_path)
    # Without group files the dataset has none.
    ungrouped = settings | {"doc_groups": None, "query_groups": None}
    plain, _ = build_dataset("mine", ungrouped, tmp_path)
    assert plain.doc_groups.is_empty() and plain.query_groups.is_empty()

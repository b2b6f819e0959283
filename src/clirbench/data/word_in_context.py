"""Word-in-context (WiC) pairs: XL-WiC, AM2iCo and SenWiCh in one table.

The unit is one published WiC instance: a target word, two sentences using it, and whether
it means the same in both. The word-level fine-tuning (`clirbench.finetune`) draws its
positives (same sense) and the datasets' own negatives (different sense) from them, as the
paper does (Appendix D.4). Each collection is read in the layout it is published in:

- XL-WiC (Raganato et al. 2020; `xlwic_datasets.zip`): `wic_english/{train,valid}_en.txt`,
  `xlwic_wikt/<name>_<code>/<code>_{train,valid}.txt`, `xlwic_wn/<name>_<code>/
  <code>_valid.txt` and test files split into `<code>_test_data.txt` and `<code>_test_gold.txt`;
  tab-separated `target_word, PoS, start_1, end_1, start_2, end_2, example_1, example_2,
  label` with label 1 (same sense) or 0. Monolingual: both sentences in the file's language.
- AM2iCo (Liu et al. 2021; github.com/cambridgeltl/AM2iCo): `data/<code>/{train,dev,test}.tsv`,
  tab-separated `Context1, Context2, Label` under a header line, the target marked
  `<word>…</word>` in both contexts, label T or F. Cross-lingual: Context1 English, Context2
  in the folder's language.
- SenWiCh (Goworek et al. 2025): `<code>/{train,dev,test}.jsonl`, one instance per line in
  the SuperGLUE WiC fields (`word`, `sentence1`, `sentence2`, `label` as true/false or 1/0;
  span offsets may be present and are not needed). Monolingual.

Splits: `train` trains, `dev` (XL-WiC's `valid`) selects the epoch; test files are read only
so that a wrong layout shows, and are never used for training. Every malformed line is an
error naming its file and line.

Sources: a local folder holding the extracted release (the folder itself or any folder
above it), or the release archive downloaded and checked against a sha256
(`clirbench.data.download.published_archive`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import polars as pl

from clirbench.core.languages import base_language

XL_WIC = "xl-wic"
AM2ICO = "am2ico"
SENWICH = "senwich"
COLLECTIONS = (XL_WIC, AM2ICO, SENWICH)
WIC_SPLITS = ("train", "dev", "test")

WIC_SCHEMA = {
    "collection": pl.String,
    "split": pl.String,
    "lang_1": pl.String,
    "lang_2": pl.String,
    "target": pl.String,
    "sentence_1": pl.String,
    "sentence_2": pl.String,
    "label": pl.Boolean,
    "source": pl.String,  # file:line, for messages
}

_XLWIC_SPLIT = {"train": "train", "valid": "dev", "test": "test"}
_XLWIC_FIELDS = 9
_TARGET_MARK = re.compile(r"<word>(.*?)</word>")
_LANGUAGE_FOLDER = re.compile(r"^[a-z]{2,3}$")


class WicFormatError(ValueError):
    """A line that does not follow its collection's published format."""


def _label(value: str, where: str, allowed: Mapping[str, bool]) -> bool:
    try:
        return allowed[value.strip()]
    except KeyError:
        raise WicFormatError(
            f"{where}: label {value!r} is not one of {', '.join(allowed)}"
        ) from None


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline); blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise WicFormatError(f"{path}: not UTF-8 ({error})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            yield number, line


def _row(collection: str, split: str, langs: tuple[str, str], target: str, first: str,
         second: str, label: bool, where: str) -> dict[str, object]:
    if not first.strip() or not second.strip():
        raise WicFormatError(f"{where}: an empty sentence")
    return {"collection": collection, "split": split, "lang_1": langs[0], "lang_2": langs[1],
            "target": target, "sentence_1": first, "sentence_2": second, "label": label,
            "source": where}


# --- XL-WiC -------------------------------------------------------------------------------

def _xlwic_fields(line: str, where: str, count: int) -> list[str]:
    fields = line.split("\t")
    if len(fields) != count:
        raise WicFormatError(
            f"{where}: {len(fields)} tab-separated fields, expected {count} (target_word, PoS, "
            "start_1, end_1, start_2, end_2, example_1, example_2"
            + (", label)" if count == _XLWIC_FIELDS else ")")
        )
    for offset in fields[2:6]:
        if not offset.strip().lstrip("-").isdigit():
            raise WicFormatError(f"{where}: character offset {offset!r} is not a number")
    return fields


def read_xlwic_file(path: Path, lang: str, split: str, gold: Path | None = None) -> list[dict]:
    """One XL-WiC file; a test file's labels come from its gold file, line by line."""
    rows = []
    lines = list(_text_lines(path))
    labels: list[tuple[int, str]] | None = None
    if gold is not None:
        labels = list(_text_lines(gold))
        if len(labels) != len(lines):
            raise WicFormatError(
                f"{gold}: {len(labels)} labels for the {len(lines)} instances of {path}"
            )
    for index, (number, line) in enumerate(lines):
        where = f"{path}:{number}"
        if labels is None:
            fields = _xlwic_fields(line, where, _XLWIC_FIELDS)
            label_text, label_where = fields[8], where
        else:
            fields = _xlwic_fields(line, where, _XLWIC_FIELDS - 1)
            label_text, label_where = labels[index][1], f"{gold}:{labels[index][0]}"
        label = _label(label_text, label_where, {"1": True, "0": False, "T": True, "F": False})
        rows.append(_row(XL_WIC, split, (lang, lang), fields[0], fields[6], fields[7], label, where))
    return rows


def read_xlwic(root: Path) -> list[dict]:
    """Every XL-WiC file under `root` (the extracted `xlwic_datasets` or a folder above it)."""
    rows: list[dict] = []
    for path in sorted(root.rglob("*.txt")):
        if "wic_english" in path.parts:
            match = re.fullmatch(r"(train|valid)_en\.txt", path.name)
            if match:
                rows += read_xlwic_file(path, "en", _XLWIC_SPLIT[match.group(1)])
            continue
        if not any(part.startswith("xlwic_") for part in path.parts):
            continue
        code = path.parent.name.rsplit("_", 1)[-1]
        match = re.fullmatch(rf"{re.escape(code)}_(train|valid|test_data)\.txt", path.name)
        if not match:
            continue  # gold files (read with their data file), IV/OOV analysis subsets
        kind = match.group(1)
        if kind == "test_data":
            gold = path.with_name(f"{code}_test_gold.txt")
            if not gold.exists():
                raise WicFormatError(f"{gold}: missing (the labels of {path})")
            rows += read_xlwic_file(path, code, "test", gold)
        else:
            rows += read_xlwic_file(path, code, _XLWIC_SPLIT[kind])
    return rows


# --- AM2iCo -------------------------------------------------------------------------------

def _unmarked(context: str, where: str) -> tuple[str, str]:
    """The context without its <word> tags, and the marked target."""
    targets = _TARGET_MARK.findall(context)
    if len(targets) != 1:
        raise WicFormatError(
            f"{where}: expected the target marked once as <word>…</word>, found {len(targets)}"
        )
    return _TARGET_MARK.sub(lambda match: match.group(1), context), targets[0]


def read_am2ico_file(path: Path, lang: str, split: str) -> list[dict]:
    rows = []
    for number, line in _text_lines(path):
        where = f"{path}:{number}"
        fields = line.split("\t")
        if len(fields) != 3:
            raise WicFormatError(
                f"{where}: {len(fields)} tab-separated fields, expected 3 (Context1, Context2, Label)"
            )
        if number == 1 and fields[2].strip().lower() == "label":
            continue  # the header
        english, target = _unmarked(fields[0], where)
        foreign, _ = _unmarked(fields[1], where)
        label = _label(fields[2], where, {"T": True, "F": False})
        rows.append(_row(AM2ICO, split, ("en", lang), target, english, foreign, label, where))
    return rows


def read_am2ico(root: Path) -> list[dict]:
    """Every `<code>/{train,dev,test}.tsv` under `root` (the repository's `data` folder)."""
    rows: list[dict] = []
    for path in sorted(root.rglob("*.tsv")):
        split = path.stem
        if split in WIC_SPLITS and _LANGUAGE_FOLDER.match(path.parent.name):
            rows += read_am2ico_file(path, path.parent.name, split)
    return rows


# --- SenWiCh ------------------------------------------------------------------------------

def read_senwich_file(path: Path, lang: str, split: str) -> list[dict]:
    rows = []
    for number, line in _text_lines(path):
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise WicFormatError(f"{where}: not a JSON object ({error.msg})") from None
        missing = [key for key in ("word", "sentence1", "sentence2", "label") if key not in item]
        if missing:
            raise WicFormatError(f"{where}: missing field(s) {', '.join(missing)}")
        label = _label(str(item["label"]), where, {"True": True, "False": False, "true": True,
                                                   "false": False, "1": True, "0": False})
        rows.append(_row(SENWICH, split, (lang, lang), str(item["word"]), str(item["sentence1"]),
                         str(item["sentence2"]), label, where))
    return rows


def read_senwich(root: Path) -> list[dict]:
    rows: list[dict] = []
    for path in sorted(root.rglob("*.jsonl")):
        if path.stem in WIC_SPLITS and _LANGUAGE_FOLDER.match(path.parent.name):
            rows += read_senwich_file(path, path.parent.name, path.stem)
    return rows


READERS = {XL_WIC: read_xlwic, AM2ICO: read_am2ico, SENWICH: read_senwich}


def read_collection(collection: str, root: Path, config_key: str) -> pl.DataFrame:
    """One collection's instances as a table (WIC_SCHEMA); an error if `root` holds none."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder ({config_key})")
    rows = READERS[collection](root)
    if not rows:
        raise WicFormatError(
            f"{root}: no {collection} files in their published layout ({config_key}); "
            "see clirbench.data.word_in_context for the layouts read"
        )
    return pl.DataFrame(rows, schema=WIC_SCHEMA)


def in_languages(table: pl.DataFrame, languages: Iterable[str]) -> pl.DataFrame:
    """Instances whose both sentences are in one of `languages` (base codes compared)."""
    wanted = sorted({base_language(code) for code in languages})
    base = {code: base_language(code) for code in {*table["lang_1"], *table["lang_2"]}}

    def kept(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(base, return_dtype=pl.String).is_in(wanted)

    return table.filter(kept("lang_1") & kept("lang_2"))

"""A dataset's documents translated into English, one chunk job at a time.

The unit of work is one chunk: the documents of one language, sorted by doc_id, rows
``[chunk * chunk_size, (chunk + 1) * chunk_size)``. A corpus of a million documents is too
much for one job, so the workflow plans the chunks (`plan_chunks`), runs one job per chunk
(`translate_chunk`; on a cluster they run in parallel), and gathers the chunk files into
the translated docs table (`gather_translation`). Every chunk job goes through the
translation cache, so a killed job resumes where its last checkpoint left off, and a text
already translated by any job (another dataset, the pilot) is not translated again.

English documents ("en", "en-simple") are copied unchanged, never translated. A language
the translator cannot take is an error before any job runs, or, with
``stages.translation.untranslatable: keep``, its documents stay in their language (the
summary says which).

A chunk file is a docs table (`DOCS_SCHEMA`) plus one column, ``empty_translation``: the
data model forbids empty text, so a blank translation is replaced by the source text, and
the flag lets the gather count those documents in its summary instead of hiding them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.atomic import write_json, write_parquet
from clirbench.core.datamodel import DOCS_SCHEMA, conform
from clirbench.core.intermediate import read_parquet, reading
from clirbench.translate import translators
from clirbench.translate.cache import TranslationCache

log = logging.getLogger("clirbench")

UNTRANSLATABLE = ("error", "keep")
EMPTY_COLUMN = "empty_translation"  # chunk files only: the translator returned nothing
CHUNK_SCHEMA = pl.Schema([*DOCS_SCHEMA.items(), (EMPTY_COLUMN, pl.Boolean())])
_SHOWN = 10  # ids or chunks named in one message


def plan_chunks(
    docs: Path,
    config: translators.TranslatorConfig,
    chunk_size: int,
    untranslatable: str,
    plan: Path,
) -> None:
    """Write `plan` (JSON): the chunk jobs that translate `docs` with the translator of
    `config`, the languages copied as English and those kept in their language.

    Fails before any work if `untranslatable` is "error" and the translator cannot take
    some language of `docs` (the error names the config keys and the languages).
    """
    _check_chunk_size(chunk_size)
    if untranslatable not in UNTRANSLATABLE:
        raise ValueError(
            f"stages.translation.untranslatable: {untranslatable!r} is not one of "
            f"{', '.join(UNTRANSLATABLE)}"
        )
    counts = _language_counts(read_parquet(docs, columns=["doc_id", "lang"]), docs)
    foreign = [lang for lang in counts if lang not in translators.ENGLISH_CODES]
    unsupported = sorted(set(translators.unsupported_languages(config, foreign)))
    if unsupported and untranslatable == "error":
        raise ValueError(
            f"{config.config_key} cannot translate the {', '.join(unsupported)} documents of "
            f"{docs}; set stages.translation.untranslatable to keep to leave them in their "
            "language, or choose another translator"
        )
    chunks = [
        {"lang": lang, "chunk": chunk, "documents": min(chunk_size, counts[lang] - start)}
        for lang in foreign
        if lang not in unsupported
        for chunk, start in enumerate(range(0, counts[lang], chunk_size))
    ]
    write_json(
        {
            "translator": config.name,
            "description": translators.describe_translator(config),
            "fingerprint": translators.translator_fingerprint(config),
            "long_documents": config.settings.get("long_documents"),
            "chunk_size": chunk_size,
            "untranslatable": untranslatable,
            "chunks": chunks,
            "copied": {lang: n for lang, n in counts.items() if lang in translators.ENGLISH_CODES},
            "kept": {lang: counts[lang] for lang in unsupported},
        },
        plan,
    )


def translate_chunk(
    docs: Path,
    lang: str,
    chunk: int,
    chunk_size: int,
    config: translators.TranslatorConfig,
    threads: int,
    cache_root: Path,
    out: Path,
) -> None:
    """Translate one chunk of `docs` (the `lang` documents sorted by doc_id, rows
    ``[chunk * chunk_size, (chunk + 1) * chunk_size)``) into English through the cache under
    `cache_root`, and write it to `out`: doc_id, lang ("en"), title (unchanged), text (the
    translation), and `empty_translation`.

    The data model forbids empty text, so a translation that is empty (or only white space)
    is replaced by the source text; it is logged, flagged in `empty_translation`, and counted
    by `gather_translation` as "empty_translations" in the summary.
    """
    _check_chunk_size(chunk_size)
    frame = read_parquet(docs)
    counts = _language_counts(frame, docs)
    if lang in translators.ENGLISH_CODES:
        raise ValueError(f"{lang!r} is English: its documents are copied, never translated")
    if lang not in counts:
        raise ValueError(
            f"{docs} has no documents in language {lang!r} (its languages: "
            f"{', '.join(counts)}); the chunk plan does not fit these docs"
        )
    if translators.unsupported_languages(config, [lang]):
        raise ValueError(f"{config.config_key} cannot translate from {lang!r}")
    chunks = math.ceil(counts[lang] / chunk_size)
    if not 0 <= chunk < chunks:
        raise ValueError(
            f"chunk {chunk} of language {lang!r} is beyond the plan: {docs} has "
            f"{counts[lang]} {lang} documents, {chunks} chunk(s) of {chunk_size} "
            f"(numbered 0 to {chunks - 1})"
        )
    rows = _chunk_rows(frame, lang, chunk, chunk_size)
    translator = translators.LazyTranslator(config, threads)
    cache = TranslationCache(cache_root, translator, translators.translator_fingerprint(config))
    translations = cache.translate(rows["text"].to_list(), lang)
    log.info(
        "%s %s chunk %d: %d documents, %d from the cache, %d texts translated",
        *(config.name, lang, chunk, len(rows), cache.hits, cache.translated),
    )
    empty = [not translation.strip() for translation in translations]
    if any(empty):
        ids = [doc_id for doc_id, blank in zip(rows["doc_id"], empty, strict=True) if blank]
        log.warning(
            "%s returned an empty translation of %d %s document(s) (kept their source text): %s",
            *(config.config_key, len(ids), lang, _listing(ids)),
        )
    texts = [
        source if blank else translation
        for source, translation, blank in zip(rows["text"], translations, empty, strict=True)
    ]
    translated = pl.DataFrame(
        {
            "doc_id": rows["doc_id"],
            "lang": ["en"] * len(rows),
            "title": rows["title"],
            "text": texts,
            EMPTY_COLUMN: empty,
        },
        schema=CHUNK_SCHEMA,
    )
    write_parquet(translated, out)


def gather_translation(
    docs: Path, plan: Path, chunks: Sequence[Path], out_docs: Path, out_summary: Path
) -> None:
    """Write the translated docs table (same doc_ids, same order as `docs`: the translated
    chunks' rows, English documents copied, "keep" languages unchanged) and a JSON summary.

    `chunks` are the chunk files of `plan`, in any order; each must hold exactly the
    doc_ids of one planned chunk (the error names the file), and every planned chunk must
    be there once.
    """
    with reading(plan):
        planned: dict[str, Any] = json.loads(Path(plan).read_text(encoding="utf-8"))
    frame = read_parquet(docs)
    counts = _language_counts(frame, docs)
    chunk_size = int(planned["chunk_size"])
    _check_plan_fits(planned, counts, docs, plan)
    sorted_ids = {  # each language's doc_ids, in the order chunks slice them
        lang: frame.filter(pl.col("lang") == lang).sort("doc_id")["doc_id"]
        for lang in {entry["lang"] for entry in planned["chunks"]}
    }
    expected = {
        (entry["lang"], entry["chunk"]): sorted_ids[entry["lang"]].slice(
            entry["chunk"] * chunk_size, chunk_size
        )
        for entry in planned["chunks"]
    }
    by_first_id = {ids[0]: key for key, ids in expected.items()}
    found: dict[tuple[str, int], Path] = {}
    parts = []
    for path in chunks:
        part = read_parquet(path)
        key = _which_chunk(part, path, by_first_id, expected, plan)
        if key in found:
            raise ValueError(
                f"{path} and {found[key]} both hold chunk {key[1]} of language {key[0]!r}"
            )
        found[key] = path
        parts.append(part)
    missing = [f"{lang} {chunk}" for lang, chunk in expected if (lang, chunk) not in found]
    if missing:
        raise ValueError(
            f"no chunk file for chunk(s) {_listing(missing)} of {plan} among the "
            f"{len(chunks)} chunk files given"
        )
    translated = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=CHUNK_SCHEMA)
    untouched = frame.filter(~pl.col("doc_id").is_in(translated["doc_id"].implode()))
    combined = pl.concat([conform(translated, DOCS_SCHEMA), conform(untouched, DOCS_SCHEMA)])
    ordered = (
        frame.select("doc_id")
        .with_row_index("position")
        .join(combined, on="doc_id", how="left")
        .sort("position")
    )
    assert len(ordered) == len(frame) == len(combined)  # each doc_id once: checked above
    write_parquet(conform(ordered, DOCS_SCHEMA), out_docs)
    translated_counts: dict[str, int] = {}
    for entry in planned["chunks"]:
        translated_counts[entry["lang"]] = translated_counts.get(entry["lang"], 0) + int(
            entry["documents"]
        )
    write_json(
        {
            "translator": planned["translator"],
            "description": planned["description"],
            "fingerprint": planned["fingerprint"],
            "long_documents": planned.get("long_documents"),
            "translated": translated_counts,
            "copied": planned["copied"],
            "kept": planned["kept"],
            "empty_translations": int(translated[EMPTY_COLUMN].sum()),
        },
        out_summary,
    )


def _check_chunk_size(chunk_size: int) -> None:
    if chunk_size < 1:
        raise ValueError(f"stages.translation.chunk_size must be >= 1, got {chunk_size}")


def _language_counts(frame: pl.DataFrame, docs: Path) -> dict[str, int]:
    """Documents per language, by language code; a document without one is an error."""
    missing = frame.filter(pl.col("lang").fill_null("").str.strip_chars() == "")
    if len(missing):
        raise ValueError(
            f"{docs}: {len(missing)} documents without a language: "
            f"{_listing(missing['doc_id'].to_list())}"
        )
    counted = frame.group_by("lang").len().sort("lang")
    return dict(zip(counted["lang"].to_list(), counted["len"].to_list(), strict=True))


def _chunk_rows(frame: pl.DataFrame, lang: str, chunk: int, chunk_size: int) -> pl.DataFrame:
    """Rows of one chunk: the language's documents sorted by doc_id, then sliced."""
    in_lang = frame.filter(pl.col("lang") == lang).sort("doc_id")
    return in_lang.slice(chunk * chunk_size, chunk_size)


def _check_plan_fits(
    planned: dict[str, Any], counts: dict[str, int], docs: Path, plan: Path
) -> None:
    """The plan was made from these docs: same languages, same document counts."""
    by_plan: dict[str, int] = {**planned["copied"], **planned["kept"]}
    for entry in planned["chunks"]:
        by_plan[entry["lang"]] = by_plan.get(entry["lang"], 0) + int(entry["documents"])
    if by_plan != counts:
        raise ValueError(
            f"{plan} does not fit {docs}: documents per language {by_plan} in the plan, "
            f"{counts} in the docs; plan the chunks again"
        )


def _which_chunk(
    part: pl.DataFrame,
    path: Path,
    by_first_id: dict[str, tuple[str, int]],
    expected: dict[tuple[str, int], pl.Series],
    plan: Path,
) -> tuple[str, int]:
    """The planned chunk whose doc_ids `part` holds, exactly and in order; an error naming
    `path` if there is none, or if the rows are not translations."""
    if list(part.schema.items()) != list(CHUNK_SCHEMA.items()):
        raise ValueError(
            f"{path}: columns {dict(part.schema)} are not a translated chunk's {dict(CHUNK_SCHEMA)}"
        )
    ids = part["doc_id"]
    key = by_first_id.get(ids[0]) if len(ids) else None
    if key is None or not ids.equals(expected[key]):
        first = ", ".join(map(str, ids.head(3).to_list()))
        where = f"chunk {key[1]} of language {key[0]!r}" if key else "any chunk"
        raise ValueError(
            f"{path} holds {len(ids)} doc_ids ({first}, ...) other than {plan} expects of "
            f"{where}; translate that chunk again"
        )
    problems = part.filter(
        (pl.col("lang") != "en") | (pl.col("text").fill_null("").str.strip_chars() == "")
    )
    if len(problems):
        raise ValueError(
            f"{path}: {len(problems)} rows that are not English text: "
            f"{_listing(problems['doc_id'].to_list())}"
        )
    return key


def _listing(values: Sequence[Any]) -> str:
    shown = ", ".join(map(str, values[:_SHOWN]))
    more = len(values) - _SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")

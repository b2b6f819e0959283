"""Rewrite README.md's generated blocks from the workflow's outputs, so they cannot drift.

Each block sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->` in the README
and is replaced as a whole:

- `demo`: the demo's table, from results/demo/metrics/summary.csv;
- `xquad`, `tatoeba`, `tatoeba-mteb`: the XQuAD and Tatoeba tables (Tatoeba pooled and as
  MTEB reads it), from results/xquad/metrics/summary.csv;
- `demo-translation`: one language pair of the demo in every condition, from its summary.csv;
- `demo-pilot`: the demo's MT pilot, from results/demo/translation_pilot/summary.csv;
- `demo-reranking`: the demo's re-ranked systems beside their first stages on the same
  queries (the report's Table 6), from the per-query metrics of both;
- `paper-jobs`: the number of jobs `snakemake -n --configfile config/paper.yaml` plans.

A block whose source file does not exist is left as it is (and the tool says so).

    python tools/update_readme.py           rewrite README.md
    python tools/update_readme.py --check   exit 1 and print a diff if README.md is stale
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from clirbench.core.languages import script_of
from clirbench.core.systems import ORIGINAL, REFERENCE_ENGLISH, RERANKED
from clirbench.evaluate.metrics import ALL
from clirbench.report.common import format_value, value_lookup
from clirbench.report.reranking import TABLE_METRICS, macro_on_queries
from clirbench.rerank.specs import INJECTED_SUFFIX, RERANK_SEPARATOR

ROOT = Path(__file__).resolve().parents[1]
METRICS = (("recall@100", "R@100"), ("recall@10", "R@10"), ("ndcg@100", "nDCG@100"))
CROSS_SCRIPT_METRIC = "recall@100"
# Both readings of Tatoeba side by side: P@1 is MTEB's bitext-mining accuracy.
TATOEBA_METRICS = (("p@1", "P@1"), ("recall@10", "R@10"), ("ndcg@10", "nDCG@10"), ("recall@100", "R@100"))


@dataclass(frozen=True)
class Block:
    """A generated part of the README: the file it is made from and how it is rendered."""

    source: str  # relative to the repository root
    render: Callable[[Path], str]  # source path -> the text between the markers


@dataclass(frozen=True)
class Table:
    """A README table of one dataset: a row per system, R@100 | R@10 | nDCG@100 (or
    `metrics`) per condition."""

    dataset: str
    corner: str  # the header's first cell
    conditions: tuple[str, ...]
    cross_script: bool = False  # add the mean original R@100 over cross-script pairs
    metrics: tuple[tuple[str, str], ...] = METRICS  # (summary.csv metric, column label)

    def __call__(self, summary_path: Path) -> str:
        summary = first_stages(pl.read_csv(summary_path)).filter(pl.col("dataset") == self.dataset)
        if summary.is_empty():
            raise ValueError(f"{summary_path}: no rows of dataset {self.dataset!r}")
        macro = summary.filter((pl.col("query_lang") == ALL) & (pl.col("doc_lang") == ALL))
        values = value_lookup(macro, ["condition", "system", "metric"])
        header = [self.corner]
        for condition in self.conditions:
            prefix = f"{condition} " if len(self.conditions) > 1 else ""
            header += [prefix + self.metrics[0][1], *(label for _, label in self.metrics[1:])]
        if self.cross_script:
            header.append("cross-script pairs R@100")
        cross = cross_script_means(summary) if self.cross_script else {}
        lines = [_row(header), "|" + "---|" * len(header)]
        for system in sorted(summary["system"].unique()):
            cells = [system] + [
                format_value(values.get((condition, system, metric)))
                for condition in self.conditions
                for metric, _ in self.metrics
            ]
            if self.cross_script:
                cells.append(format_value(cross.get(system)))
            lines.append(_row(cells))
        return "\n" + "\n".join(lines) + "\n"


@dataclass(frozen=True)
class PairTable:
    """One language pair of a dataset: a row per system, one metric in every condition."""

    dataset: str
    query_lang: str
    doc_lang: str
    conditions: tuple[str, ...]
    metric: tuple[str, str] = METRICS[0]

    def __call__(self, summary_path: Path) -> str:
        summary = first_stages(pl.read_csv(summary_path)).filter(
            (pl.col("dataset") == self.dataset)
            & (pl.col("query_lang") == self.query_lang)
            & (pl.col("doc_lang") == self.doc_lang)
            & (pl.col("metric") == self.metric[0])
        )
        if summary.is_empty():
            raise ValueError(f"{summary_path}: no {self.query_lang}→{self.doc_lang} rows")
        values = value_lookup(summary, ["condition", "system"])
        pair = f"{self.query_lang}→{self.doc_lang}"
        header = [f"{pair} {self.metric[1]}", *self.conditions]
        lines = [_row(header), "|" + "---|" * len(header)]
        for system in sorted(summary["system"].unique()):
            cells = [format_value(values.get((c, system))) for c in self.conditions]
            lines.append(_row([system, *cells]))
        return "\n" + "\n".join(lines) + "\n"


def first_stages(summary: pl.DataFrame) -> pl.DataFrame:
    """summary.csv without re-ranked systems: they are scored on the re-ranked queries only
    (a sample in the demo), so they have a table of their own (`reranking_table`)."""
    return summary.filter(~pl.col("system").str.contains(RERANK_SEPARATOR, literal=True))


def reranking_table(queries_path: Path) -> str:
    """Each re-ranked system of the demo's original condition beside its first stage,
    Recall@10 and nDCG@100 on the same (re-ranked) queries, as the report's Table 6."""
    dataset = queries_path.stem
    metrics = queries_path.parents[2] / "metrics" / dataset / ORIGINAL
    queries = pl.read_parquet(queries_path)["query_id"]
    labels = {"recall@10": "R@10", "ndcg@100": "nDCG@100"}
    header = ["first stage > re-ranker", "pipeline"]
    for metric in TABLE_METRICS:
        header += [f"{labels[metric]} first stage", f"{labels[metric]} re-ranked"]
    lines = [_row(header), "|" + "---|" * len(header)]
    for path in sorted((metrics / RERANKED.name).glob("*.per_query.parquet")):
        system = path.name.removesuffix(".per_query.parquet")
        first_stage = system.split(RERANK_SEPARATOR)[0]
        (first_path,) = [
            p for p in metrics.glob(f"*/{first_stage}.per_query.parquet")
            if p.parent.name != RERANKED.name
        ]  # fmt: skip
        first = macro_on_queries(pl.read_parquet(first_path), queries)
        reranked = macro_on_queries(pl.read_parquet(path), queries)
        cells = [system.removesuffix(INJECTED_SUFFIX),
                 "injected" if system.endswith(INJECTED_SUFFIX) else "plain"]
        for metric in TABLE_METRICS:
            cells += [format_value(first.get(metric)), format_value(reranked.get(metric))]
        lines.append(_row(cells))
    count = f"{queries.len():,} re-ranked queries, the same in every row:"
    return f"\n{count}\n\n" + "\n".join(lines) + "\n"


PILOT_COLUMNS = (
    ("documents", "documents"),
    ("encoder_cosine", "adequacy (cosine)"),
    ("chrf", "chrF"),
    ("perplexity", "perplexity"),
    ("off_target_rate", "off target"),
)


WHOLE = {"perplexity", "chrf"}  # shown to one decimal: values in the tens and hundreds


def pilot_table(summary_path: Path) -> str:
    """The MT pilot's overall row per system (the mean over its documents)."""
    summary = pl.read_csv(summary_path).filter(pl.col("lang") == ALL).sort("system")
    languages = pl.read_csv(summary_path).filter(pl.col("lang") != ALL).group_by("system").agg(
        pl.col("lang").sort().str.join(" ")
    )
    covered = dict(zip(languages["system"], languages["lang"], strict=True))
    header = ["system", "languages", *(label for _, label in PILOT_COLUMNS)]
    lines = [_row(header), "|" + "---|" * len(header)]
    for row in summary.iter_rows(named=True):
        cells = [str(row["documents"])] + [
            "–" if row[column] is None else f"{row[column]:.{1 if column in WHOLE else 3}f}"
            for column, _ in PILOT_COLUMNS[1:]
        ]
        lines.append(_row([row["system"], covered.get(row["system"], ""), *cells]))
    return "\n" + "\n".join(lines) + "\n"


def cross_script_means(summary: pl.DataFrame) -> dict[str, float]:
    """Per system: mean original-condition R@100 over pairs whose languages' scripts differ."""
    pairs = summary.filter(
        (pl.col("condition") == ORIGINAL)
        & (pl.col("metric") == CROSS_SCRIPT_METRIC)
        & (pl.col("query_lang") != ALL)
        & (pl.col("doc_lang") != ALL)
    )
    cross = pairs.filter(
        pl.struct("query_lang", "doc_lang").map_elements(
            lambda pair: script_of(pair["query_lang"]) != script_of(pair["doc_lang"]),
            return_dtype=pl.Boolean,
        )
    )
    means = cross.group_by("system").agg(pl.col("value").mean())
    return dict(zip(means["system"].to_list(), means["value"].to_list(), strict=True))


def paper_job_count(config: Path) -> str:
    """The total of the "Job stats" table of a dry run of `config` into an empty folder."""
    with tempfile.TemporaryDirectory() as results_dir:
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-n", "--configfile", str(config)]
            + ["--config", f"results_dir={results_dir}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    output = result.stdout + result.stderr
    found = re.search(r"Job stats:.*?^total\s+(\d+)$", output, re.DOTALL | re.MULTILINE)
    if result.returncode != 0 or found is None:
        raise RuntimeError(f"snakemake -n --configfile {config} failed:\n{output[-3000:]}")
    return f"{int(found.group(1)):,}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


TABLES: dict[str, Block] = {
    "demo": Block(
        "results/demo/metrics/summary.csv",
        Table("demo", "system", (ORIGINAL, REFERENCE_ENGLISH), cross_script=True),
    ),
    "demo-translation": Block(
        "results/demo/metrics/summary.csv",
        PairTable("demo", "en", "pt", (ORIGINAL, "mt-bergamot", REFERENCE_ENGLISH)),
    ),
    "demo-pilot": Block("results/demo/translation_pilot/summary.csv", pilot_table),
    "demo-reranking": Block("results/demo/reranking/queries/demo.parquet", reranking_table),
    "xquad": Block(
        "results/xquad/metrics/summary.csv",
        Table("xquad", "XQuAD", (ORIGINAL, REFERENCE_ENGLISH)),
    ),
    "tatoeba": Block(
        "results/xquad/metrics/summary.csv",
        Table("tatoeba", "Tatoeba (xx→en), pooled", (ORIGINAL,), metrics=TATOEBA_METRICS),
    ),
    "tatoeba-mteb": Block(
        "results/xquad/metrics/summary.csv",
        Table("tatoeba-mteb", "Tatoeba, MTEB protocol", (ORIGINAL,), metrics=TATOEBA_METRICS),
    ),
}
BLOCKS: dict[str, Block] = {**TABLES, "paper-jobs": Block("config/paper.yaml", paper_job_count)}


def update(text: str, root: Path, blocks: Mapping[str, Block]) -> tuple[str, list[str]]:
    """`text` with each block's markers' content regenerated, and what was done."""
    messages = []
    for name, block in blocks.items():
        pattern = re.compile(
            rf"(<!-- results:{re.escape(name)} -->)(.*?)(<!-- /results:{re.escape(name)} -->)",
            re.DOTALL,
        )
        if not pattern.search(text):
            messages.append(f"{name}: no <!-- results:{name} --> markers in the README, skipped")
            continue
        source = root / block.source
        if not source.exists():
            messages.append(f"{name}: {source} does not exist, block left unchanged")
            continue
        content = block.render(source)
        text = pattern.sub(lambda match: match.group(1) + content + match.group(3), text)
        messages.append(f"{name}: generated from {source}")
    return text, messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--root", type=Path, default=ROOT, help="where results/ and config/ are")
    args = parser.parse_args(argv)
    old = args.readme.read_text(encoding="utf-8")
    new, messages = update(old, args.root, BLOCKS)
    for message in messages:
        print(message, file=sys.stderr)
    if new == old:
        print(f"{args.readme}: up to date", file=sys.stderr)
        return 0
    if args.check:
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                str(args.readme),
                f"{args.readme} (generated)",
            )
        )
        return 1
    args.readme.write_text(new, encoding="utf-8")
    print(f"{args.readme}: updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

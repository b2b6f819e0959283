"""tools/update_readme.py: README tables generated from summary.csv, other blocks untouched."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from clirbench.evaluate.metrics import summary_table

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = "results/demo/metrics/summary.csv"

README = """# title

<!-- results:demo -->
old demo table
<!-- /results:demo -->

text between

<!-- results:xquad -->
| XQuAD | hand-written |
<!-- /results:xquad -->
"""


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "tools/update_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def pairs(rows: list[tuple[str, str, float]], macro: tuple[float, float, float]) -> pl.DataFrame:
    """A summarise_pairs-like table: the given R@100 per pair (10 queries each), and the
    macro row's 3 metrics."""
    pair_rows = [(q, d, "recall@100", value, 10) for q, d, value in rows]
    macro_rows = [
        ("all", "all", metric, value, 10 * len(rows))
        for metric, value in zip(("recall@100", "recall@10", "ndcg@100"), macro, strict=True)
    ]
    return pl.DataFrame(
        pair_rows + macro_rows,
        schema=["query_lang", "doc_lang", "metric", "value", "n_queries"],
        orient="row",
    )


def write_summary(root: Path) -> None:
    # en-ru (Latin-Cyrillic) and ja-en (Japanese-Latin) cross scripts, en-de does not.
    summary = summary_table(
        [
            (
                "demo",
                "original",
                "bm25-icu",
                pairs([("en", "de", 0.9), ("en", "ru", 0.1), ("ja", "en", 0.2)], (0.4, 0.3, 0.2)),
            ),
            (
                "demo",
                "reference-english",
                "bm25-icu",
                pairs([("en", "de", 0.5)], (0.5, 0.4, 0.3)),
            ),
            (
                "demo",
                "original",
                "me5-small",
                pairs([("en", "ru", 0.6), ("ja", "en", 0.8)], (0.7, 0.1234, 0.6)),
            ),
            # Only the demo dataset is tabulated.
            ("other", "original", "bm25-icu", pairs([("en", "ru", 0.99)], (0.99, 0.99, 0.99))),
        ]
    )
    path = root / SUMMARY
    path.parent.mkdir(parents=True)
    summary.write_csv(path)


def generated_rows(text: str, name: str) -> dict[str, list[str]]:
    block = text.split(f"<!-- results:{name} -->", 1)[1].split(f"<!-- /results:{name} -->")[0]
    header, separator, *rows = block.strip().splitlines()
    assert separator.startswith("|---|")
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in [header, *rows]]
    return {row[0]: row[1:] for row in cells}


def test_demo_table_from_summary_and_missing_summary_left_alone(
    tool: ModuleType, tmp_path: Path
) -> None:
    write_summary(tmp_path)
    text, messages = tool.update(README, tmp_path, tool.TABLES)

    rows = generated_rows(text, "demo")
    assert rows["system"] == [
        "original R@100",
        "R@10",
        "nDCG@100",
        "reference-english R@100",
        "R@10",
        "nDCG@100",
        "cross-script pairs R@100",
    ]
    # Macro values, 3 decimals; a condition a system was not run in shows a dash.
    assert rows["me5-small"] == ["0.700", "0.123", "0.600", "–", "–", "–", "0.700"]
    # Cross-script: mean of en-ru 0.1 and ja-en 0.2 (en-de shares the Latin script).
    assert rows["bm25-icu"] == ["0.400", "0.300", "0.200", "0.500", "0.400", "0.300", "0.150"]
    assert set(rows) == {"system", "bm25-icu", "me5-small"}

    # No results/xquad/metrics/summary.csv: the block and everything outside blocks unchanged.
    assert "<!-- results:xquad -->\n| XQuAD | hand-written |\n<!-- /results:xquad -->" in text
    assert text.startswith("# title\n\n<!-- results:demo -->\n| system |")
    end = "<!-- /results:demo -->"
    assert text.split(end)[1] == README.split(end)[1]
    assert any("xquad" in m and "does not exist" in m for m in messages)

    # A second pass changes nothing.
    assert tool.update(text, tmp_path, tool.TABLES)[0] == text


def test_check_reports_a_stale_readme(
    tool: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_summary(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    # README has no paper-jobs markers, so no snakemake dry run happens.

    assert tool.main(["--readme", str(readme), "--root", str(tmp_path), "--check"]) == 1
    assert "+| me5-small | 0.700 | 0.123 |" in capsys.readouterr().out
    assert readme.read_text() == README

    assert tool.main(["--readme", str(readme), "--root", str(tmp_path)]) == 0
    assert tool.main(["--readme", str(readme), "--root", str(tmp_path), "--check"]) == 0


def test_reranked_systems_get_their_own_table_on_the_reranked_queries(
    tool: ModuleType, tmp_path: Path
) -> None:
    """A re-ranked system is scored on the re-ranked queries only: it stays out of the demo
    table and sits beside its first stage, both on those queries, in demo-reranking."""
    def per_query(values: dict[str, float]) -> pl.DataFrame:
        return pl.DataFrame(
            [(q, "en", "de", metric, value) for q, value in values.items()
             for metric in ("recall@10", "ndcg@100")],
            schema=["query_id", "query_lang", "doc_lang", "metric", "value"], orient="row",
        )  # fmt: skip

    out = tmp_path / "results" / "demo"
    metrics = out / "metrics" / "demo" / "original"
    for folder, name, values in (
        ("lexical", "bm25-icu", {"q1": 1.0, "q2": 0.0, "q3": 0.0}),
        ("reranked", "bm25-icu>ce", {"q1": 1.0, "q2": 1.0}),
        ("reranked", "bm25-icu>ce+injected", {"q1": 1.0, "q2": 0.0}),
    ):
        (metrics / folder).mkdir(parents=True, exist_ok=True)
        per_query(values).write_parquet(metrics / folder / f"{name}.per_query.parquet")
    (out / "reranking" / "queries").mkdir(parents=True)
    pl.DataFrame({"query_id": ["q1", "q2"]}).write_parquet(out / "reranking/queries/demo.parquet")
    table = tool.reranking_table(out / "reranking" / "queries" / "demo.parquet")
    assert "2 re-ranked queries" in table
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in table.splitlines()
        if line.startswith("| bm25")
    ]
    # The first stage on q1 and q2 only: 0.5, not its 0.333 over all three queries.
    assert sorted(rows) == [
        ["bm25-icu>ce", "injected", "0.500", "0.500", "0.500", "0.500"],
        ["bm25-icu>ce", "plain", "0.500", "1.000", "0.500", "1.000"],
    ]
    summary = summary_table(
        [("demo", "original", name, pairs([("en", "de", 0.5)], (0.5, 0.5, 0.5)))
         for name in ("bm25-icu", "bm25-icu>ce")]
    )  # fmt: skip
    summary_path = tmp_path / "summary.csv"
    summary.write_csv(summary_path)
    demo = tool.Table("demo", "system", ("original",))(summary_path)
    assert "bm25-icu>ce" not in demo and "| bm25-icu |" in demo

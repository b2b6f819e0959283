"""Entry points of the data stage's rules: paths and settings in, tables out (atomically).

workflow/scripts/prepare_dataset.py and split_queries.py only unpack the `snakemake` object
and call these, so the stage also runs and is tested without Snakemake.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from clirbench.core.atomic import write_parquet
from clirbench.core.datamodel import write_dataset
from clirbench.core.intermediate import read_parquet
from clirbench.data.builders import build_dataset
from clirbench.data.splits import QUERY_SETS, choose_query_sets

log = logging.getLogger("clirbench")


def prepare_dataset(
    name: str, settings: dict[str, Any], out_folder: Path, download_folder: Path
) -> None:
    """Build dataset `name` from its source and write its validated tables to `out_folder`."""
    dataset, sources = build_dataset(name, settings, download_folder)
    write_dataset(dataset, out_folder, sources)
    log.info(
        "%s: %d docs, %d queries, %d qrels",
        name,
        len(dataset.docs),
        len(dataset.queries),
        len(dataset.qrels),
    )
    if not dataset.query_groups.is_empty():
        ungrouped = dataset.docs.join(dataset.doc_groups, on="doc_id", how="anti").height
        log.info(
            "%s: %d candidate groups; %d docs in no group (never a candidate when each query "
            "searches its group only)",
            name,
            dataset.query_groups["group"].n_unique(),
            ungrouped,
        )


def split_queries(
    queries_path: Path,
    qrels_path: Path,
    query_split: str,
    relevance_threshold: int,
    outputs: dict[str, Path],
) -> None:
    """Write the evaluated, train and dev query tables (`outputs` keyed by QUERY_SETS)."""
    if set(outputs) != set(QUERY_SETS):
        raise ValueError(f"outputs must be exactly {QUERY_SETS}, got {sorted(outputs)}")
    sets = choose_query_sets(
        read_parquet(queries_path), read_parquet(qrels_path), query_split, relevance_threshold
    )
    for name, table in sets.items():
        write_parquet(table, outputs[name])
        log.info("%s queries: %d", name, table.height)

"""The dataset statistics table: documents per language and queries per language pair.

A rebuilt collection is only comparable with the paper's when it has about the same size,
so the page shows what was counted here (see `clirbench.evaluate.dataset_counts`) beside the
counts the paper reports, and per dataset which relevance grade counts as relevant.
"""

from __future__ import annotations

from collections.abc import Iterable

from clirbench.evaluate.dataset_counts import DatasetStatistics


def dataset_rows(statistics: Iterable[DatasetStatistics]) -> list[DatasetStatistics]:
    """The datasets in the order given (the workflow's), one table row each."""
    return list(statistics)

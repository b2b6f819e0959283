"""Entry point of the describe_models rule: the study's model specs in, one JSON out.

The workflow script only unpacks the `snakemake` object and calls `describe_models`. Its
output, `{"models": [record, ...]}` in the order of the specs, is what the report's run
metadata lists (see `clirbench.provenance.models` for what a record holds).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clirbench.core.atomic import write_json
from clirbench.provenance.models import describe_model

log = logging.getLogger("clirbench")


def describe_models(specs: Sequence[Mapping[str, Any]], out: Path, threads: int) -> None:
    """Describe every model of `specs` (`models.model_specs`) and write the records to `out`."""
    records = []
    for spec in specs:
        record = describe_model(spec, threads)
        log.info(
            "%s%s: %s parameters, dimension %s",
            record["name"],
            f" ({record['scope']})" if record.get("scope") else "",
            record.get("parameters") or "-",
            record.get("dimension") or record.get("outputs") or "-",
        )
        records.append(record)
    write_json({"models": records}, out)

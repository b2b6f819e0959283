"""The run metadata's exact facts as the page shows them: the models table, the commit and
the hardware.

The models table has one row per model record (`clirbench.provenance.models`, written by the
describe_models job): what the model is (its reference), which version of it (a Hub commit,
the sha256 of a folder's content, or a bundled package's version), the packages that provide
its weights and runtime, its dimension and its parameter count; for an encoder also the
prompts it puts before queries and documents (quoted, so that a trailing space shows; "none"
when empty: two systems of one model differ by them) and the languages it was trained on.
Hashes are shortened on the page, whole in each cell's title; every record in full is in
`provenance/models.json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clirbench.core.intermediate import reading
from clirbench.report.common import MISSING

SHORT_HASH = 12
RECORD_KEYS = frozenset({"name", "role", "reference", "packages"})
GIB = 1024**3


def read_model_records(path: Path) -> list[dict[str, Any]]:
    """The records describe_models wrote to `path` (`{"models": [record, ...]}`)."""
    with reading(path):
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    records = data.get("models") if isinstance(data, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: not a model descriptions file (no list under 'models')")
    for record in records:
        missing = RECORD_KEYS - set(record)
        if missing:
            raise ValueError(
                f"{path}: model {record.get('name')!r} has no {', '.join(sorted(missing))}"
            )
    return records


def model_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row of the models table per record, in the records' order."""
    return [_model_row(record) for record in records]


def _model_row(record: Mapping[str, Any]) -> dict[str, Any]:
    scope = record.get("scope")
    base = record.get("base")
    label, short, full = _version(record)
    return {
        "name": f"{record['name']} ({scope})" if scope else str(record["name"]),
        "role": str(record["role"]),
        "reference": str(record["reference"]),
        "base": f"from {base}" if base else None,
        "version_label": label,
        "version_short": short,
        "version_full": full,
        "packages": ", ".join(f"{name} {version}" for name, version in record["packages"]),
        "dimension": _dimension(record),
        "parameters": (
            f"{record['parameters']:,}" if isinstance(record.get("parameters"), int) else MISSING
        ),
        "counted_from": str(record.get("counted_from") or ""),
        "prompts": _prompts(record),
        **_languages(record),
    }


def shown_prompt(prompt: str) -> str:
    """A prompt as the page shows it: quoted (a trailing space matters), or "none"."""
    return json.dumps(prompt, ensure_ascii=False) if prompt else "none"


def _prompts(record: Mapping[str, Any]) -> str:
    if "query_prompt" not in record:
        return ""  # not an encoder (or a record from before prompts were recorded)
    query = shown_prompt(str(record["query_prompt"] or ""))
    document = shown_prompt(str(record.get("document_prompt") or ""))
    return f"query {query}, document {document}"


def _languages(record: Mapping[str, Any]) -> dict[str, str]:
    """The training languages: how many (all of them in the title) and whence the list."""
    if "languages_source" not in record:
        return {"languages": "", "languages_title": ""}
    languages = record.get("languages")
    if languages is None:
        return {"languages": "unknown", "languages_title": "no list known: no check"}
    count = f"{len(languages)} language" + ("s" if len(languages) != 1 else "")
    return {
        "languages": count if len(languages) > 3 else ", ".join(languages),
        "languages_title": f"{', '.join(languages)} ({record['languages_source']})",
    }


def _version(record: Mapping[str, Any]) -> tuple[str, str, str]:
    """(what the version is, shown, whole): a commit, a content hash, a package version."""
    if record.get("revision"):
        commit = str(record["revision"])
        return "commit", commit[:SHORT_HASH], commit
    if record.get("fingerprint"):
        digest = str(record["fingerprint"])
        return "content sha256", digest[:SHORT_HASH], digest
    identity = record.get("identity") or {}
    if "package" in identity:
        shown = f"{identity['package']} {identity['version']} ({identity.get('variant')})"
        return "package", shown, shown
    return "", MISSING, ""


def _dimension(record: Mapping[str, Any]) -> str:
    if isinstance(record.get("dimension"), int):
        return str(record["dimension"])
    if isinstance(record.get("outputs"), int):  # a cross-encoder: scores, not vectors
        outputs = record["outputs"]
        return f"{outputs} score" + ("s" if outputs != 1 else "")
    return MISSING


def source_fact(source: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The workflow's commit for the page (`clirbench.provenance.source.source_commit`)."""
    if not source:
        return None
    commit = str(source.get("commit") or "unknown")
    changes = source.get("uncommitted_changes")
    return {
        "commit": commit,
        "short": commit[:SHORT_HASH],
        "known": commit != "unknown",
        "changes": None if changes is None else bool(changes),
    }


def hardware_facts(hardware: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The hardware in one line, and whose it is (`...provenance.source.hardware`)."""
    if not hardware:
        return None
    cores = f"{hardware.get('logical_cores', MISSING)} logical cores"
    if hardware.get("usable_cores") not in (None, hardware.get("logical_cores")):
        cores += f" ({hardware['usable_cores']} usable by the job)"
    memory = hardware.get("memory_bytes")
    gpus = list(hardware.get("gpus") or [])
    parts = [
        str(hardware.get("cpu", MISSING)),
        cores,
        f"{memory / GIB:.1f} GiB memory" if isinstance(memory, int) else "memory unknown",
        "GPU: " + ("; ".join(gpus) if gpus else "none"),
        str(hardware.get("system", "")),
    ]
    recorded_on = str(hardware.get("recorded_on", "the machine that ran the report job"))
    if hardware.get("cluster"):
        whose = (
            f"{recorded_on}, the report job's; the other jobs ran on the nodes the cluster "
            "gave them"
        )
    else:
        whose = f"{recorded_on}: with Snakemake's local executor, the one that ran every job"
    return {"summary": ", ".join(part for part in parts if part), "whose": whose}

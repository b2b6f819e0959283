"""Dataset builders: each turns a source into the canonical docs/queries/qrels tables.

Adding a dataset type: write `build_<type>(...) -> Dataset` in a module here, add a branch
to `build_dataset`, and its settings to workflow/schemas/config.schema.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clirbench.datamodel import Dataset


def build_dataset(
    name: str, settings: dict[str, Any], download_folder: Path
) -> tuple[Dataset, dict[str, str]]:
    """The dataset and, for error messages, where each of its tables came from."""
    kind = settings["type"]
    key = f"datasets.{name}"
    if kind == "cldr_cards":
        from clirbench.datasets.cldr_cards import build_cldr_cards

        dataset = build_cldr_cards(
            settings["languages"],
            settings["entity_kinds"],
            settings["max_entities"],
            settings["seed"],
            settings["split_fractions"],
        )
        return dataset, {
            table: f"{key} (CLDR cards) {table}"
            for table in ("docs", "queries", "qrels", "translated_docs")
        }
    if kind == "xquad":
        from clirbench.datasets.xquad import build_xquad, xquad_files

        local = Path(settings["local_folder"]) if settings.get("local_folder") else None
        files = xquad_files(settings["languages"], local, download_folder, key)
        dataset = build_xquad(
            files,
            settings["languages"],
            settings["seed"],
            settings["split_fractions"],
            settings["max_paragraphs"],
        )
        origin = f"{key} (XQuAD from {files['en'].parent})"
        return dataset, {
            table: f"{origin} {table}" for table in ("docs", "queries", "qrels", "translated_docs")
        }
    if kind == "local":
        from clirbench.datasets.local import build_local

        paths = {
            table: settings.get(table) for table in ("docs", "queries", "qrels", "translated_docs")
        }
        dataset = build_local(
            Path(paths["docs"]),
            Path(paths["queries"]),
            Path(paths["qrels"]),
            Path(paths["translated_docs"]) if paths["translated_docs"] else None,
            settings.get("docs_lang"),
            settings.get("queries_lang"),
        )
        return dataset, {table: str(path) for table, path in paths.items() if path}
    raise ValueError(f"{key}.type: unknown dataset type {kind!r}")

"""Dataset builders: each turns a source into the canonical docs/queries/qrels tables.

Adding a dataset type: write `build_<type>(...) -> Dataset` in a module here, a small
adapter below that reads its settings, an entry in BUILDERS, and its settings in
src/clirbench/core/config.schema.yaml.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clirbench.core.datamodel import Dataset
from clirbench.core.settings import LOCAL_FILE_KEYS

TABLES = ("docs", "queries", "qrels", "reference_english", "doc_groups", "query_groups")
Built = tuple[Dataset, str]  # the dataset and a description of its source, for error messages
Builder = Callable[[str, dict[str, Any], Path], Built]


def _local_folder(settings: dict[str, Any]) -> Path | None:
    return Path(settings["local_folder"]) if settings.get("local_folder") else None


def _cldr_cards(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.data.cldr_cards import build_cldr_cards

    dataset = build_cldr_cards(
        settings["languages"],
        settings["entity_kinds"],
        settings["max_entities"],
        settings["seed"],
        settings["split_fractions"],
    )
    return dataset, f"{key} (CLDR cards)"


def _xquad(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.data.xquad import build_xquad, xquad_files

    files = xquad_files(settings["languages"], _local_folder(settings), download_folder, key)
    dataset = build_xquad(
        files,
        settings["languages"],
        settings["seed"],
        settings["split_fractions"],
        settings["max_paragraphs"],
    )
    return dataset, f"{key} (XQuAD from {files['en'].parent})"


def _tatoeba(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.data.tatoeba import build_tatoeba, tatoeba_files

    files = tatoeba_files(settings["languages"], _local_folder(settings), download_folder, key)
    dataset = build_tatoeba(
        files,
        settings["direction"],
        settings["seed"],
        settings["split_fractions"],
        settings["max_pairs_per_language"],
        settings["protocol"],
    )
    return dataset, f"{key} (Tatoeba)"


def _via_ir_datasets(module: str, options: tuple[str, ...], label: str) -> Builder:
    """The adapter of a dataset read through ir_datasets: shared settings plus its `options`."""

    def build(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
        builder = getattr(
            importlib.import_module(f"clirbench.data.{module}"), f"build_{module}"
        )
        home = settings.get("ir_datasets_home")
        dataset = builder(
            settings["languages"],
            settings["seed"],
            settings["split_fractions"],
            ir_datasets_home=Path(home) if home else None,
            build_docstore=settings["build_docstore"],
            **{option: settings[option] for option in options},
        )
        return dataset, f"{key} ({label} via ir_datasets)"

    return build


BUILDERS: dict[str, Builder] = {
    "cldr_cards": _cldr_cards,
    "clirmatrix": _via_ir_datasets(
        "clirmatrix",
        ("queries_per_pair", "split", "collection", "pool_min_relevance"),
        "CLIRMatrix",
    ),
    "mmarco": _via_ir_datasets("mmarco", ("max_queries", "subset"), "mMARCO"),
    "tatoeba": _tatoeba,
    "wikiclir": _via_ir_datasets(
        "wikiclir",
        ("queries_per_pair", "query_field", "pool_min_relevance"),
        "Large-Scale CLIR",
    ),
    "xquad": _xquad,
}


def build_dataset(
    name: str, settings: dict[str, Any], download_folder: Path
) -> tuple[Dataset, dict[str, str]]:
    """The dataset and, for error messages, where each of its tables came from."""
    key = f"datasets.{name}"
    if settings.get("type") == "local":
        return _local(settings)
    builder = BUILDERS.get(settings.get("type", ""))
    if builder is None:
        known = ", ".join(sorted([*BUILDERS, "local"]))
        raise ValueError(
            f"{key}.type: unknown dataset type {settings.get('type')!r} (known: {known})"
        )
    dataset, origin = builder(key, settings, download_folder)
    return dataset, {table: f"{origin} {table}" for table in TABLES}


def _local(settings: dict[str, Any]) -> tuple[Dataset, dict[str, str]]:
    """A user's files: errors name the file itself."""
    from clirbench.data.local import build_local

    paths = {table: settings.get(key) for table, key in LOCAL_FILE_KEYS.items()}
    dataset = build_local(
        Path(settings["docs"]),
        Path(settings["queries"]),
        Path(settings["qrels"]),
        Path(paths["reference_english"]) if paths["reference_english"] else None,
        settings.get("docs_lang"),
        settings.get("queries_lang"),
        Path(paths["doc_groups"]) if paths["doc_groups"] else None,
        Path(paths["query_groups"]) if paths["query_groups"] else None,
    )
    return dataset, {table: str(path) for table, path in paths.items() if path}

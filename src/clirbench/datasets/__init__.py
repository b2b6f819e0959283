"""Dataset builders: each turns a source into the canonical docs/queries/qrels tables.

Adding a dataset type: write `build_<type>(...) -> Dataset` in a module here, a small
`_<type>` adapter below that reads its settings, an entry in BUILDERS, and its settings in
workflow/schemas/config.schema.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clirbench.datamodel import Dataset

TABLES = ("docs", "queries", "qrels", "translated_docs")
Built = tuple[Dataset, str]  # the dataset and a description of its source, for error messages


def _local_folder(settings: dict[str, Any]) -> Path | None:
    return Path(settings["local_folder"]) if settings.get("local_folder") else None


def _cldr_cards(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.datasets.cldr_cards import build_cldr_cards

    dataset = build_cldr_cards(
        settings["languages"],
        settings["entity_kinds"],
        settings["max_entities"],
        settings["seed"],
        settings["split_fractions"],
    )
    return dataset, f"{key} (CLDR cards)"


def _xquad(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.datasets.xquad import build_xquad, xquad_files

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
    from clirbench.datasets.tatoeba import build_tatoeba, tatoeba_files

    files = tatoeba_files(settings["languages"], _local_folder(settings), download_folder, key)
    dataset = build_tatoeba(
        files,
        settings["direction"],
        settings["seed"],
        settings["split_fractions"],
        settings["max_pairs_per_language"],
    )
    return dataset, f"{key} (Tatoeba)"


def _irds_options(settings: dict[str, Any]) -> dict[str, Any]:
    home = settings.get("ir_datasets_home")
    return {
        "ir_datasets_home": Path(home) if home else None,
        "build_docstore": settings["build_docstore"],
    }


def _clirmatrix(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.datasets.clirmatrix import build_clirmatrix

    dataset = build_clirmatrix(
        settings["languages"],
        settings["seed"],
        settings["split_fractions"],
        queries_per_pair=settings["queries_per_pair"],
        split=settings["split"],
        collection=settings["collection"],
        **_irds_options(settings),
    )
    return dataset, f"{key} (CLIRMatrix via ir_datasets)"


def _mmarco(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.datasets.mmarco import build_mmarco

    dataset = build_mmarco(
        settings["languages"],
        settings["seed"],
        settings["split_fractions"],
        max_queries=settings["max_queries"],
        subset=settings["subset"],
        **_irds_options(settings),
    )
    return dataset, f"{key} (mMARCO via ir_datasets)"


def _wikiclir(key: str, settings: dict[str, Any], download_folder: Path) -> Built:
    from clirbench.datasets.wikiclir import build_wikiclir

    dataset = build_wikiclir(
        settings["languages"],
        settings["seed"],
        settings["split_fractions"],
        queries_per_pair=settings["queries_per_pair"],
        query_field=settings["query_field"],
        **_irds_options(settings),
    )
    return dataset, f"{key} (Large-Scale CLIR via ir_datasets)"


BUILDERS: dict[str, Callable[[str, dict[str, Any], Path], Built]] = {
    "cldr_cards": _cldr_cards,
    "clirmatrix": _clirmatrix,
    "mmarco": _mmarco,
    "tatoeba": _tatoeba,
    "wikiclir": _wikiclir,
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
    from clirbench.datasets.local import build_local

    paths = {table: settings.get(table) for table in TABLES}
    dataset = build_local(
        Path(settings["docs"]),
        Path(settings["queries"]),
        Path(settings["qrels"]),
        Path(paths["translated_docs"]) if paths["translated_docs"] else None,
        settings.get("docs_lang"),
        settings.get("queries_lang"),
    )
    return dataset, {table: str(path) for table, path in paths.items() if path}

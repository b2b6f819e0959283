"""Entry point of the embedding rules: one table's texts in, an `.npz` of ids and vectors out.

The vectors come through the shared embedding cache, so a text already encoded by the same
model (in any experiment or dataset) is not encoded again, and a job whose texts are all
cached never loads the model. Each row is stored with its id (`ids`, `vectors`), so the
search ties a vector to its query or document by id, never by position alone. A long encode
shows its progress on the console too, labelled with what the job embeds
(`clirbench.core.console_progress`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from clirbench.core.embedding_files import write_embeddings
from clirbench.core.intermediate import check_folder
from clirbench.embed.cache import EmbeddingCache
from clirbench.embed.encoders import EncoderConfig, lazy_encoder

log = logging.getLogger("clirbench")

ID_COLUMNS = {"query": "query_id", "document": "doc_id"}


def embed_table(
    table: Path,
    kind: str,
    encoder_name: str,
    encoder_settings: dict[str, Any],
    cache_root: Path,
    out: Path,
    threads: int,
    model_check: tuple[Path, Path] | None = None,
    label: str | None = None,
) -> None:
    """Embed every row of `table` (queries or documents) and write ids and vectors to `out`.

    `model_check`: a trained model's folder and the record whose manifest it must match
    (`clirbench.core.intermediate.check_folder`), checked before the folder is hashed or
    loaded. `label`: what the console's progress lines call the job (e.g. "me5-small demo
    docs (original)"; by default the encoder and the kind of texts)."""
    if model_check is not None:
        check_folder(*model_check)
    id_column = ID_COLUMNS[kind]
    frame = pl.read_parquet(table, columns=[id_column, "text"])
    encoder = lazy_encoder(EncoderConfig.from_config(encoder_name, encoder_settings), threads)
    cache = EmbeddingCache(cache_root, encoder)
    vectors = cache.encode(frame["text"].to_list(), kind, label=label)
    log.info(
        "%s, %s texts: %d in all, %d from the cache, %d encoded%s",
        encoder_name,
        kind,
        len(frame),
        cache.hits,
        cache.encoded,
        "" if encoder.loaded else " (model not loaded)",
    )
    write_embeddings(frame[id_column].to_numpy().astype(str), vectors, out, encoder.fingerprint)


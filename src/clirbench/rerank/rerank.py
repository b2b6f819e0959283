"""Re-ranking one first-stage run: its top `depth` documents per query, sorted by the score
a trained cross-encoder gives each (query, document) pair.

The scores are cached per (model, query text, document text) in the content-keyed cache the
embeddings use (`clirbench.embed.cache`: a pair is a "text", its score a one-column row),
under the trained folder's fingerprint: a second first stage, the injected variant, or a
killed job run again scores only the pairs not scored yet. Pairs are scored in batches of
one token count (at most `batch_size`, the paper's 32), so no pair is padded and a score is
bitwise the same in whatever batch it was computed.

The re-ranked run lists the re-scored documents by score (ties in the first stage's order),
then the first stage's documents below the depth in its order, scored below every
re-scored one so that a tool sorting by score reads the same ranking. With the paper's
injection, each relevant document missing from a query's top `depth` replaces its last
candidate that is not relevant (rank `depth` first, then `depth - 1`...): the
candidates then always hold every relevant document, which no real pipeline can promise;
the injected documents are listed in a side table.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

log = logging.getLogger("clirbench")

PAIR_KIND = "pair"  # the cache's `kind` of a (query, document) pair: no prompt
SCORES_VERSION = "activation per score"  # see scorer_fingerprint
INJECTED_COLUMNS = {"query_id": pl.String, "doc_id": pl.String, "replaced_doc_id": pl.String}


@dataclass(frozen=True)
class ScorerConfig:
    """What the score cache's folder description says of the scorer."""

    name: str  # the re-ranker, with the dataset it was trained on
    folder: str
    batch_size: int
    device: str
    trust_remote_code: bool  # a base with its own modelling code (Nomic) keeps needing it


class CrossEncoderScorer:
    """A trained cross-encoder as the score cache's model: each text a (query, document)
    pair (`pair_text`), each row its one score (the model's sigmoid of the logit).

    The model is loaded on first use, so a job whose pairs are all cached never loads it."""

    def __init__(self, config: ScorerConfig, fingerprint: str, max_length: int, threads: int):
        self.config = config
        self.fingerprint = fingerprint
        self.max_length = max_length
        self.threads = threads
        self._model: Any = None

    @property
    def dim(self) -> int:
        return 1

    def prompt(self, kind: str) -> str:
        return ""

    @property
    def model(self) -> Any:
        if self._model is None:
            # Imported before torch runs: it puts MKL in strict CNR mode, without which a
            # pair's logit depends on its batch-mates (see clirbench.embed.backends).
            from clirbench.embed.backends import prepare_torch

            prepare_torch(f"re-ranker {self.config.name!r}", self.config.device, self.threads)
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(
                self.config.folder,
                max_length=self.max_length,
                device=self.config.device,
                trust_remote_code=self.config.trust_remote_code,
            )
        return self._model

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Pairs of one token count a batch (longest first): no padding, so each score is
        the same in any batch."""
        from clirbench.embed.encoders import equal_length_batches

        counts: list[int] = []
        for start in range(0, len(texts), 256):
            features = self.model.preprocess([pair_of(text) for text in texts[start : start + 256]])
            counts.extend(features["attention_mask"].sum(dim=1).tolist())
        return equal_length_batches(counts, self.config.batch_size)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        import torch

        pairs = [pair_of(text) for text in texts]
        logits = self.model.predict(
            pairs,
            batch_size=max(len(pairs), 1),
            activation_fn=torch.nn.Identity(),
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        # The model's activation (a sigmoid) one score at a time: on a whole batch, torch
        # computes the elements that fill its vector lanes by a vectorised path and the rest
        # by a scalar one, whose last bits differ, so a score would depend on its place in
        # the batch (measured: 4 of 64 scores of one batch differed from the same pairs alone).
        activation = self.model.activation_fn
        with torch.inference_mode():
            scores = [activation(logit.reshape(1, 1)).item() for logit in logits.reshape(-1)]
        return np.asarray(scores, dtype=np.float32).reshape(len(pairs), 1)


def pair_text(query: str, document: str) -> str:
    """One (query, document) pair as one cache text (JSON: no separator can be ambiguous)."""
    return json.dumps([query, document], ensure_ascii=False)


def pair_of(text: str) -> tuple[str, str]:
    query, document = json.loads(text)
    return str(query), str(document)


def scorer_fingerprint(record_path: Path) -> str:
    """The trained model's fingerprint: the sha256 of its record, which holds the sha256
    of every file of the folder (so another training never shares its scores)."""
    import hashlib

    # SCORES_VERSION: scores cached before the activation was applied score by score may
    # differ in their last bits, so they are never mixed with the new ones.
    digest = hashlib.sha256(record_path.read_bytes() + SCORES_VERSION.encode())
    return digest.hexdigest()[:32]


def candidates(run: pl.DataFrame, depth: int) -> pl.DataFrame:
    """The run's top `depth` documents per query: query_id, doc_id, rank (1-based)."""
    return (
        run.sort("query_id", "rank")
        .filter(pl.int_range(pl.len()).over("query_id") < depth)
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("query_id"))
        .select("query_id", "doc_id", "rank")
    )


def inject_relevant(
    top: pl.DataFrame, relevant: pl.DataFrame, depth: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The paper's injection: each relevant document of a query missing from its candidates
    takes the place of the last candidate that is not relevant (or is appended, where the
    query has fewer than `depth`); (the candidates after, the injected documents with the
    candidate each replaced). `relevant`: query_id, doc_id of the evaluated queries."""
    injected_rows: list[tuple[str, str, str | None]] = []
    kept: list[tuple[str, str, int]] = []
    relevant_by_query = {
        query: sorted(ids) for query, ids in relevant.group_by("query_id").agg("doc_id").iter_rows()
    }
    for (query,), group in top.sort("query_id", "rank").group_by("query_id", maintain_order=True):
        docs = group["doc_id"].to_list()
        wanted = relevant_by_query.get(str(query), [])
        present, relevant_docs = set(docs), set(wanted)
        missing = [doc for doc in wanted if doc not in present]
        replaceable = [i for i in range(len(docs) - 1, -1, -1) if docs[i] not in relevant_docs]
        for doc in missing:
            if len(docs) < depth:
                docs.append(doc)
                injected_rows.append((str(query), doc, None))
            elif replaceable:
                position = replaceable.pop(0)
                injected_rows.append((str(query), doc, docs[position]))
                docs[position] = doc
        kept.extend((str(query), doc, rank) for rank, doc in enumerate(docs, start=1))
    for query in sorted(set(relevant_by_query) - set(top["query_id"].to_list())):
        # A query the first stage returned nothing for: its relevant documents are all
        # the candidates it gets.
        for rank, doc in enumerate(relevant_by_query[query][:depth], start=1):
            kept.append((query, doc, rank))
            injected_rows.append((query, doc, None))
    after = pl.DataFrame(
        kept, schema={"query_id": pl.String, "doc_id": pl.String, "rank": pl.Int64}, orient="row"
    )
    injected = pl.DataFrame(injected_rows, schema=INJECTED_COLUMNS, orient="row")
    return after, injected


def reranked_order(
    run: pl.DataFrame, top: pl.DataFrame, scores: np.ndarray, depth: int
) -> pl.DataFrame:
    """The re-ranked run: `top` (the candidates, one score each in `scores`) by score, ties
    by their rank; then the run's documents below `depth` that are not among the
    candidates, in the run's order, each scored below the one before. Columns query_id,
    doc_id, score; rows in ranking order per query."""
    scored = top.with_columns(score=pl.Series(scores, dtype=pl.Float64)).sort(
        ["query_id", "score", "rank"], descending=[False, True, False]
    )
    lowest = scored.group_by("query_id").agg(floor=pl.col("score").min())
    tail = (
        run.sort("query_id", "rank")
        .with_columns(position=pl.int_range(pl.len()).over("query_id"))
        .filter(pl.col("position") >= depth)
        .join(top.select("query_id", "doc_id"), on=["query_id", "doc_id"], how="anti")
        .join(lowest, on="query_id", how="left")
        .sort("query_id", "position")  # the joins need not keep the run's order
        .with_columns(
            score=pl.col("floor").fill_null(0.0) - 1.0 - pl.int_range(pl.len()).over("query_id")
        )
    )
    return pl.concat(
        [scored.select("query_id", "doc_id", "score"), tail.select("query_id", "doc_id", "score")]
    ).sort("query_id", maintain_order=True)


def scorer_description(config: ScorerConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)

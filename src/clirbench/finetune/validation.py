"""The validation score that picks a fine-tuned model's best epoch, one per level.

The trainer evaluates after every epoch and keeps the checkpoint with the best score, as
the paper does (Appendix D.4):
- phrase: the sum of A→B and B→A Recall@1 over held-out pairs (each text searches the other
  language's texts of its language pair; the score is the macro average over language
  pairs, so it runs from 0 to 2);
- query-document: macro nDCG@10 over language pairs on the dataset's validation queries,
  searched against its whole document pool and scored by the workflow's own metrics
  (`clirbench.evaluate.metrics`), exactly as the evaluation stage scores test runs: on the
  same evaluation units (`evaluation.unit`), so the epoch kept is the best by the study's
  own measure;
- word: accuracy on the held-out word-in-context instances at the cosine threshold that
  maximises it (sentence-transformers' `BinaryClassificationEvaluator`: the threshold is
  tuned on the same instances, as "accuracy with a tuned threshold" reads).

Both are sentence-transformers evaluators, so the trainer logs them and selects on them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator

from clirbench.evaluate.metrics import ALL, QUERY_DOC_LANGUAGE, evaluate_run, summarise_pairs
from clirbench.retrieve.exact_search import exact_search

log = logging.getLogger(__name__)

PHRASE_METRIC = "recall@1_sum"
QUERY_DOCUMENT_METRIC = "ndcg@10"
WORD_METRIC = "cosine_accuracy"
ENCODE_BATCH = 64


def _encode(model: Any, texts: list[str], prompt: str) -> np.ndarray:
    vectors = model.encode(
        [prompt + text for text in texts],
        batch_size=ENCODE_BATCH,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


class PhraseRecallEvaluator(BaseEvaluator):
    """Sum of A→B and B→A Recall@1 over held-out parallel pairs, macro over language pairs."""

    def __init__(self, pairs: pl.DataFrame, prompt: str, name: str = "validation") -> None:
        super().__init__()
        if pairs.is_empty():
            raise ValueError("no held-out pairs to select the best epoch on")
        self.pairs = pairs
        self.prompt = prompt
        self.name = name
        self.primary_metric = PHRASE_METRIC

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        sides = sorted({*self.pairs["anchor"], *self.pairs["positive"]})
        position = {text: row for row, text in enumerate(sides)}
        vectors = _encode(model, sides, self.prompt)
        forward, backward = [], []
        languages = pl.concat_str(
            pl.min_horizontal("anchor_lang", "positive_lang"),
            pl.max_horizontal("anchor_lang", "positive_lang"),
            separator="-",
        )
        for _, group in self.pairs.with_columns(languages.alias("pair")).group_by(
            "pair", maintain_order=True
        ):
            a = np.array([position[text] for text in group["anchor"]])
            b = np.array([position[text] for text in group["positive"]])
            forward.append(_recall_at_1(vectors[a], vectors[b], group["positive"].to_list()))
            backward.append(_recall_at_1(vectors[b], vectors[a], group["anchor"].to_list()))
        metrics = {
            "recall@1_forward": float(np.mean(forward)),
            "recall@1_backward": float(np.mean(backward)),
        }
        metrics[PHRASE_METRIC] = metrics["recall@1_forward"] + metrics["recall@1_backward"]
        log.info("validation after epoch %s: %s", epoch, _rounded(metrics))
        return self.prefix_name_to_metrics(metrics, self.name)


def _recall_at_1(sources: np.ndarray, targets: np.ndarray, target_texts: list[str]) -> float:
    """Share of sources whose most similar target is their own (or an identical text)."""
    best = (sources @ targets.T).argmax(axis=1)
    return float(np.mean([target_texts[b] == target_texts[i] for i, b in enumerate(best)]))


class RetrievalEvaluator(BaseEvaluator):
    """Macro nDCG@10 over language pairs of validation queries against the document pool,
    per evaluation unit `unit` (`evaluation.unit`)."""

    def __init__(
        self,
        queries: pl.DataFrame,
        docs: pl.DataFrame,
        qrels: pl.DataFrame,
        relevance_threshold: int,
        prompts: tuple[str, str],
        name: str = "validation",
        unit: str = QUERY_DOC_LANGUAGE,
    ) -> None:
        super().__init__()
        if queries.is_empty():
            raise ValueError("no validation queries to select the best epoch on")
        self.queries = queries
        self.docs = docs
        self.qrels = qrels
        self.relevance_threshold = relevance_threshold
        self.unit = unit
        self.query_prompt, self.document_prompt = prompts
        self.name = name
        self.primary_metric = QUERY_DOCUMENT_METRIC

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        doc_vectors = _encode(model, self.docs["text"].to_list(), self.document_prompt)
        query_vectors = _encode(model, self.queries["text"].to_list(), self.query_prompt)
        indices, scores = exact_search(query_vectors, doc_vectors, k=min(100, len(doc_vectors)))
        depth = indices.shape[1]
        run = pl.DataFrame(
            {
                "query_id": np.repeat(self.queries["query_id"].to_numpy(), depth),
                "doc_id": self.docs["doc_id"].to_numpy()[indices.ravel()],
                "score": scores.ravel().astype(np.float64),
            }
        )
        per_unit = evaluate_run(
            run, self.qrels, self.queries, self.docs, self.relevance_threshold, self.unit
        )
        summary = summarise_pairs(per_unit)
        macro = summary.filter(
            (pl.col("query_lang") == ALL) & pl.col("metric").is_in(["ndcg@10", "recall@100"])
        )
        metrics = {row["metric"]: float(row["value"]) for row in macro.iter_rows(named=True)}
        log.info("validation after epoch %s: %s", epoch, _rounded(metrics))
        return self.prefix_name_to_metrics(metrics, self.name)


class WordInContextEvaluator(BinaryClassificationEvaluator):
    """Accuracy at the tuned cosine threshold on labelled word-in-context pairs."""

    def __init__(self, pairs: pl.DataFrame, prompt: str, name: str = "validation") -> None:
        if pairs.is_empty():
            raise ValueError("no held-out word-in-context instances to select the best epoch on")
        super().__init__(
            [prompt + text for text in pairs["anchor"]],
            [prompt + text for text in pairs["positive"]],
            [int(label) for label in pairs["label"]],
            name=name,
            batch_size=ENCODE_BATCH,
            write_csv=False,
            similarity_fn_names=["cosine"],
        )
        self.primary_metric = WORD_METRIC

    def __call__(
        self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        metrics = super().__call__(model, output_path, epoch, steps)
        log.info("validation after epoch %s: %s", epoch, _rounded(metrics))
        return metrics


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 4) for key, value in metrics.items()}

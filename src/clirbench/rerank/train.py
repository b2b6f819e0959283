"""Training one re-ranker: the unit of work is one (re-ranker, dataset).

The sentence-transformers `CrossEncoderTrainer` runs the paper's recipe (Appendix D.5,
Table 11; each a setting of `stages.reranking.training`): a one-score classification head
on the base model, `BinaryCrossEntropyLoss` on labels 1/0, AdamW at 2e-5 with a linear
schedule and 10% warm-up, batches of 8, up to 10 epochs, (query, document) cut to 512
tokens together, fp16 on CUDA and full precision otherwise; the model is evaluated on the
held-out 10% of the pairs after every epoch and the epoch with the lowest eval loss kept.

Long and resumable like the encoders' training (`clirbench.finetune.train`, whose trainer
arguments, training curve and atomic model folder it shares): a progress bar in the job
log, a checkpoint after every epoch in a work folder beside the output, a killed job
resumed from the last one, the trained folder renamed into place with its record.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from clirbench.finetune.train import (
    save_model_folder,
    table_sha256,
    trainer_options,
    training_curve,
)
from clirbench.rerank.pairs import TRAIN, VALIDATION

log = logging.getLogger(__name__)

RECORD_NAME = "reranker.json"
SELECTED_BY = "validation_loss"  # the curve's name of the eval loss the epoch is chosen by


@dataclass(frozen=True)
class RerankTrainingSettings:
    """`stages.reranking.training`, schema defaults filled in (the paper's)."""

    learning_rate: float
    batch_size: int
    max_epochs: int
    warmup_ratio: float
    scheduler: str
    weight_decay: float
    max_grad_norm: float | None
    max_length: int
    validation_share: float
    max_train_queries: int | None
    seed: int
    device: str

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any]) -> RerankTrainingSettings:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(mapping) - names
        if unknown:
            raise ValueError(f"stages.reranking.training: unknown keys {sorted(unknown)}")
        return cls(**{name: mapping[name] for name in names})


def base_source(model: str, revision: str | None, setting: str) -> tuple[str, str | None]:
    """What to load: a folder (`pkg:` or a path), or a Hub id and the commit its identity
    names (so an upstream update cannot slip in between); errors name `setting`."""
    from clirbench.embed.model_identity import reference_commit, reference_folder

    folder = reference_folder(model, setting)
    if folder is not None:
        return str(folder), None
    return model, reference_commit(model, revision, setting)


def starting_cross_encoder(
    reranker: Mapping[str, Any], settings: RerankTrainingSettings, threads: int
) -> Any:
    """The base model with a newly initialised (seeded) one-score head (`num_labels=1`)."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import set_seed

    torch.set_num_threads(threads)
    # The head is initialised at random when the model is built, before the trainer seeds
    # anything: seeded here, two trainings of the same settings end with the same weights.
    set_seed(settings.seed)
    source, commit = base_source(
        reranker["model"], reranker.get("revision"),
        f"stages.reranking.models.{reranker['name']}.model",
    )  # fmt: skip
    return CrossEncoder(
        source,
        num_labels=1,
        max_length=settings.max_length,
        revision=commit,
        trust_remote_code=bool(reranker.get("trust_remote_code")),
        device=settings.device,
    )


def train_reranker(
    reranker: Mapping[str, Any],
    dataset: str,
    settings: RerankTrainingSettings,
    pairs: pl.DataFrame,
    out: Path,
    work: Path,
    threads: int,
) -> dict[str, Any]:
    """Train on the `train` pairs, keep the epoch with the lowest loss on the `validation`
    pairs, write the model folder to `out` (atomically) with its record; the record.

    `work` holds the per-epoch checkpoints: a run finding some there resumes from the last.
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers.trainer_utils import get_last_checkpoint

    from clirbench.embed.model_identity import reference_identity

    key = f"stages.reranking.models.{reranker['name']}"
    train, validation = (pairs.filter(pl.col("split") == name) for name in (TRAIN, VALIDATION))
    if train.height < settings.batch_size:
        raise ValueError(
            f"{key}: {train.height} training pairs for {dataset}, fewer than one batch "
            f"(stages.reranking.training.batch_size: {settings.batch_size})"
        )
    model = starting_cross_encoder(reranker, settings, threads)
    arguments = CrossEncoderTrainingArguments(
        **trainer_options(settings, work, "loss", greater_is_better=False)
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=arguments,
        train_dataset=_dataset(Dataset, train),
        eval_dataset=_dataset(Dataset, validation),
        loss=BinaryCrossEntropyLoss(model),
    )
    resume = get_last_checkpoint(str(work)) if work.is_dir() else None
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    curve = training_curve(trainer.state.log_history, trainer.state.best_model_checkpoint)
    for epoch in curve["epochs"]:  # the trainer calls the eval loss "loss"
        if "loss" in epoch:
            epoch["validation_loss"] = epoch.pop("loss")
    record = {
        "name": reranker["name"],
        "dataset": dataset,
        "scope": dataset,  # as the encoders' records name what a model was trained for
        "config_key": key,
        "base": {
            "model": reranker["model"],
            "identity": reference_identity(
                reranker["model"], reranker.get("revision"), f"{key}.model"
            ),
        },
        "negatives": reranker["negatives"],
        "negatives_per_positive": reranker["negatives_per_positive"],
        "hard_negatives_from": reranker.get("hard_negatives_from"),
        "settings": dataclasses.asdict(settings),
        "train_pairs": train.height,
        "validation_pairs": validation.height,
        "pairs_sha256": table_sha256(pairs.select("query", "document", "label", "split")),
        **curve,
        "selected_by": SELECTED_BY,
    }
    save_model_folder(trainer.model, record, out, RECORD_NAME)
    shutil.rmtree(work, ignore_errors=True)  # only the best epoch is kept: the output
    return record


def _dataset(dataset_class: Any, pairs: pl.DataFrame) -> Any:
    """The trainer's columns: the two texts first, then `label` (a float for BCE)."""
    return dataset_class.from_dict(
        {
            "query": pairs["query"].to_list(),
            "document": pairs["document"].to_list(),
            "label": pairs["label"].cast(pl.Float32).to_list(),
        }
    )

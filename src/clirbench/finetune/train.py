"""Training one fine-tuned encoder: the unit of work is one (model, scope).

The sentence-transformers trainer runs the paper's recipe (Appendix D.4, Table 10; each a
setting of `stages.fine_tuning.training`): Adam at 1e-5, batches of 16, InfoNCE with
in-batch negatives at temperature 0.1 (`MultipleNegativesRankingLoss` with scale 1/τ), no
scheduler, warm-up, weight decay or clipping, up to 10 epochs, the model evaluated after
every epoch (`clirbench.finetune.validation`) and only the best epoch kept. Word-level
triplets carry the dataset's own negative: the loss is then symmetric (anchor to positive
among the batch's positives and negatives, and positive back to anchor among the batch's
anchors, one softmax per direction), the paper's symmetric contrastive loss.

Long and resumable: the trainer shows a progress bar in the job log and saves a checkpoint
(weights, optimizer, scheduler, random states) after every epoch in a work folder beside
the output; a killed job resumes from the last one, and since the batch sampler is seeded
per epoch and the random states are restored, the resumed training ends with the same
weights as an uninterrupted one. The trained folder appears atomically (renamed into
place) with its record, `fine_tuning.json`: base model identity, training data hash,
settings, the curve (loss and validation score per epoch) and the chosen epoch. The record
is one of the files the model's identity hashes (`clirbench.embed.model_identity`), so the
embedding cache never mixes two trainings up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from clirbench.core.atomic import atomic_open
from clirbench.embed.encoders import EncoderConfig, prompt_of
from clirbench.embed.model_identity import model_identity

if TYPE_CHECKING:  # the re-rankers' trainer imports this module
    from clirbench.rerank.train import RerankTrainingSettings

log = logging.getLogger(__name__)

RECORD_NAME = "fine_tuning.json"
CHECKPOINT_PREFIX = "checkpoint-"


@dataclass(frozen=True)
class TrainingSettings:
    """`stages.fine_tuning.training`, schema defaults filled in (the paper's)."""

    optimizer: str
    learning_rate: float
    batch_size: int
    temperature: float
    max_epochs: int
    weight_decay: float
    warmup_ratio: float
    scheduler: str
    max_grad_norm: float | None
    max_length: Mapping[str, int]
    max_train_examples: int | None
    validation_examples: int
    seed: int
    device: str

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any]) -> TrainingSettings:
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(mapping) - names
        if unknown:
            raise ValueError(f"stages.fine_tuning.training: unknown keys {sorted(unknown)}")
        return cls(**{name: mapping[name] for name in names})

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "max_length": dict(self.max_length)}


def starting_model(base: EncoderConfig, max_length: int, threads: int) -> Any:
    """A trainable SentenceTransformer of the base encoder: its own modules for the
    sentence-transformers backend; for the hf backend the transformer with the base's
    pooling and L2 normalisation, which is what the hf backend computes (so the trained
    folder embeds the same way through it)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    from clirbench.embed.backends import model_source

    torch.set_num_threads(threads)
    source, revision = model_source(base)
    options: dict[str, Any] = {"revision": revision, "trust_remote_code": base.trust_remote_code}
    if base.backend == "sentence-transformers":
        model = SentenceTransformer(
            source, device=base.device, revision=revision, trust_remote_code=base.trust_remote_code
        )
        model.max_seq_length = max_length
        return model
    if base.backend != "hf":
        raise ValueError(f"encoder {base.name!r}: the {base.backend} backend cannot be trained")
    transformer = Transformer(
        source,
        max_seq_length=max_length,
        model_kwargs=options,
        processor_kwargs=options,
        config_kwargs=options,
    )
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode=base.pooling)
    return SentenceTransformer(modules=[transformer, pooling, Normalize()], device=base.device)


def table_sha256(table: pl.DataFrame) -> str:
    """Content hash of a pairs table (its rows in order, as JSON lines)."""
    digest = hashlib.sha256()
    for row in table.iter_rows():
        digest.update(repr(row).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def train_encoder(
    base: EncoderConfig,
    level: str,
    settings: TrainingSettings,
    train_pairs: pl.DataFrame,
    evaluator: Any,
    out: Path,
    work: Path,
    threads: int,
    description: Mapping[str, Any],
) -> dict[str, Any]:
    """Train from `base` on `train_pairs`, keep the epoch `evaluator` scores best, and write
    the model folder to `out` (atomically) with its record; the record.

    `work` holds the per-epoch checkpoints: a run finding some there resumes from the last.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )
    from transformers.trainer_utils import get_last_checkpoint

    if train_pairs.height < settings.batch_size:
        raise ValueError(
            f"{description['config_key']}: {train_pairs.height} training pairs, fewer than "
            f"one batch (stages.fine_tuning.training.batch_size: {settings.batch_size})"
        )
    model = starting_model(base, settings.max_length[level], threads)
    query_prompt = prompt_of(base, "query")
    # Query-document pairs pair a query with a document; parallel pairs are alike on both
    # sides, so both get the query prompt (as E5 does for symmetric tasks).
    positive_prompt = prompt_of(base, "document") if level == "query-document" else query_prompt
    columns = [c for c in ("anchor", "positive", "negative") if c in train_pairs.columns]
    prompts: dict[str, str] = {
        column: query_prompt if column == "anchor" else positive_prompt
        for column in columns
        if (query_prompt if column == "anchor" else positive_prompt)
    }
    arguments = SentenceTransformerTrainingArguments(
        **trainer_options(settings, work, selection_metric(evaluator)),
        # In-batch negatives: a batch must not hold the same text twice.
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        prompts=prompts or None,
    )
    optimizer = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    selected_by = selection_metric(evaluator)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=arguments,
        train_dataset=Dataset.from_dict({column: train_pairs[column].to_list() for column in columns}),
        loss=contrastive_loss(model, level, settings.temperature),
        evaluator=evaluator,
        optimizer_cls_and_kwargs=(
            optimizer,
            {"lr": settings.learning_rate, "weight_decay": settings.weight_decay},
        ),
    )
    resume = get_last_checkpoint(str(work)) if work.is_dir() else None
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    record = {
        **description,
        "base": {"name": base.name, "identity": model_identity(base)},
        "level": level,
        "settings": settings.as_dict(),
        "train_pairs": train_pairs.height,
        "train_sha256": table_sha256(train_pairs),
        **training_curve(trainer.state.log_history, trainer.state.best_model_checkpoint),
        "selected_by": selected_by,
    }
    save_model_folder(trainer.model, record, out)
    shutil.rmtree(work, ignore_errors=True)  # only the best epoch is kept: the output
    return record


def contrastive_loss(model: Any, level: str, temperature: float) -> Any:
    """InfoNCE at temperature τ (scale 1/τ); symmetric for the word level's triplets."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    if level == "word":
        return MultipleNegativesRankingLoss(
            model,
            scale=1.0 / temperature,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
    return MultipleNegativesRankingLoss(model, scale=1.0 / temperature)


def trainer_options(
    settings: TrainingSettings | RerankTrainingSettings,
    work: Path,
    metric: str,
    greater_is_better: bool = True,
) -> dict[str, Any]:
    """The trainer's arguments from the settings: the paper's recipe, evaluated and saved
    after every epoch, the best epoch (by `metric`) loaded at the end; fp16 on CUDA. The
    re-rankers' trainer (`clirbench.rerank.train`) takes the same arguments."""
    return {
        "output_dir": str(work),
        "num_train_epochs": settings.max_epochs,
        "per_device_train_batch_size": settings.batch_size,
        "per_device_eval_batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "weight_decay": settings.weight_decay,
        # A float below 1 is a share of all steps (the warm-up ratio).
        "warmup_steps": float(settings.warmup_ratio),
        "lr_scheduler_type": settings.scheduler,
        # The trainer clips only at a positive norm: 0 switches clipping off.
        "max_grad_norm": settings.max_grad_norm or 0.0,
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "logging_strategy": "epoch",
        "load_best_model_at_end": True,
        "metric_for_best_model": f"eval_{metric}",
        "greater_is_better": greater_is_better,
        "seed": settings.seed,
        "data_seed": settings.seed,
        "fp16": settings.device.startswith("cuda"),
        "use_cpu": settings.device == "cpu",
        "report_to": "none",
        "dataloader_num_workers": 0,
        "disable_tqdm": False,  # the progress bar goes to the job log
    }


def selection_metric(evaluator: Any) -> str:
    """The key of the evaluator's primary metric in what it returns (sentence-transformers
    prefixes the name once it has been called)."""
    metric = str(evaluator.primary_metric)
    prefix = f"{evaluator.name}_" if evaluator.name else ""
    return metric if metric.startswith(prefix) else prefix + metric


def training_curve(history: list[dict[str, Any]], best_checkpoint: str | None) -> dict[str, Any]:
    """Per epoch: the mean training loss and the validation metrics; the chosen epoch.
    No timings: the record is part of the model's identity and must not change between
    two identical trainings."""
    epochs: dict[int, dict[str, Any]] = {}
    for entry in history:
        if "epoch" not in entry:
            continue
        epoch = round(float(entry["epoch"]))
        row = epochs.setdefault(epoch, {"epoch": epoch})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        for key, value in entry.items():
            if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second")):
                row[key.removeprefix("eval_")] = float(value)
    chosen = None
    if best_checkpoint:
        step = int(Path(best_checkpoint).name.removeprefix(CHECKPOINT_PREFIX))
        chosen = next(
            (round(float(e["epoch"])) for e in history if e.get("step") == step and "epoch" in e),
            None,
        )
    return {"epochs": [epochs[key] for key in sorted(epochs)], "chosen_epoch": chosen}


def save_model_folder(
    model: Any, record: Mapping[str, Any], out: Path, record_name: str = RECORD_NAME
) -> None:
    """The model folder and its record (`record_name` in it) under a temporary name,
    renamed onto `out`."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    model.save(str(staging), create_model_card=False)
    with atomic_open(staging / record_name, record=False) as handle:
        json.dump(record, handle, indent=1, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)

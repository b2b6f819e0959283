"""What a fine-tuned encoder is: a base encoder, a level and its training data.

An entry of `stages.fine_tuning.models` names a base encoder (`encoders.<base>`), a level
(`word`, `phrase`, `query-document`) and where its pairs come from. It becomes an encoder
like the configured ones: its settings are the base's with `model` pointing at the trained
folder, so the embedding jobs load it through the base's backend (mean pooling over the
last layer for the `hf` backend: the paper's recipe, unchanged by training) and the
embedding cache keys its vectors by that folder's content.

The unit of training is a (model, scope): word- and phrase-level models are trained once
and shared by every dataset (scope `shared`), a query-document model once per dataset, on
that dataset's training split (scope = the dataset), as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

LEVELS = ("word", "phrase", "query-document")
QUERY_DOCUMENT = "query-document"
WORD = "word"
SHARED_SCOPE = "shared"
# Backends whose models are torch modules sentence-transformers can train.
TRAINABLE_BACKENDS = ("hf", "sentence-transformers")
PARALLEL_QUERIES = "parallel-queries"
TATOEBA = "tatoeba"
WORD_IN_CONTEXT = "word-in-context"


@dataclass(frozen=True)
class FineTunedModel:
    """One `stages.fine_tuning.models.<name>` entry, defaults filled in."""

    name: str
    base: str
    level: str
    data: Mapping[str, Any]
    datasets: tuple[str, ...]  # the datasets it is evaluated on (and, QD, trained for)
    conditions: tuple[str, ...] | None  # the conditions it searches (None: every one)

    @property
    def config_key(self) -> str:
        return f"stages.fine_tuning.models.{self.name}"

    @property
    def scopes(self) -> tuple[str, ...]:
        """What it is trained for: each dataset (query-document), or once for all."""
        return self.datasets if self.level == QUERY_DOCUMENT else (SHARED_SCOPE,)

    def scope_of(self, dataset: str) -> str:
        """The training scope whose model `dataset` is searched with."""
        if dataset not in self.datasets:
            raise KeyError(f"{self.config_key}: not evaluated on dataset {dataset!r}")
        return dataset if self.level == QUERY_DOCUMENT else SHARED_SCOPE

    @property
    def source(self) -> str:
        """Where the training pairs come from: a dataset's training split (query-document)
        or the configured phrase/word source."""
        return "training-split" if self.level == QUERY_DOCUMENT else str(self.data["source"])


def fine_tuned_models(
    stage: Mapping[str, Any], datasets: list[str]
) -> dict[str, FineTunedModel]:
    """The models of an enabled `stages.fine_tuning` (an empty mapping: none)."""
    return {
        name: FineTunedModel(
            name=name,
            base=entry["base"],
            level=entry["level"],
            data=entry.get("data", {}),
            datasets=tuple(sorted(entry.get("datasets") or datasets)),
            conditions=(
                None if stage.get("conditions") is None else tuple(stage["conditions"])
            ),
        )
        for name, entry in sorted((stage.get("models") or {}).items())
    }


def model_folder(output_root: str, name: str, scope: str) -> str:
    """The trained model's folder, as a model reference the encoders read as a path
    (a relative one starts with ./, or it would look like a Hugging Face id)."""
    folder = f"{output_root}/fine_tuning/{name}/{scope}/model"
    return folder if PurePosixPath(folder).is_absolute() else f"./{folder}"


def fine_tuned_encoder_settings(
    model: FineTunedModel, base_settings: Mapping[str, Any], output_root: str, dataset: str
) -> dict[str, Any]:
    """The encoder settings of `model` on `dataset`: the base's, with its trained folder."""
    settings = {key: value for key, value in base_settings.items() if key != "revision"}
    settings["model"] = model_folder(output_root, model.name, model.scope_of(dataset))
    return settings


def fine_tuning_errors(
    models: Mapping[str, FineTunedModel],
    encoders: Mapping[str, Mapping[str, Any]],
    datasets: Mapping[str, Mapping[str, Any]],
    reserved: set[str],
    conditions: list[str],
) -> list[str]:
    """Start-up errors, one per mistake, each naming its config key (`datasets`: each
    dataset's settings by name)."""
    errors = []
    chosen = next(iter(models.values())).conditions if models else None
    for condition in chosen or ():
        if condition not in conditions:
            errors.append(
                f"stages.fine_tuning.conditions: {condition!r} is not a condition any dataset "
                f"searches (conditions: {', '.join(conditions)})"
            )
    for model in models.values():
        key = model.config_key
        if model.name in reserved:
            errors.append(
                f"{key}: {model.name!r} already names an encoder or BM25 system; system names "
                "must be unique"
            )
        base = encoders.get(model.base)
        if base is None:
            errors.append(
                f"{key}.base: {model.base!r} is not an encoder "
                f"(encoders: {', '.join(sorted(encoders))})"
            )
        elif base["backend"] not in TRAINABLE_BACKENDS:
            errors.append(
                f"{key}.base: encoder {model.base!r} uses the {base['backend']} backend, whose "
                f"bundled model cannot be trained (trainable: {', '.join(TRAINABLE_BACKENDS)})"
            )
        for dataset in model.datasets:
            if dataset not in datasets:
                errors.append(f"{key}.datasets: no dataset {dataset!r}")
        if model.level == WORD:
            errors.extend(_word_data_errors(model))
        elif model.level == QUERY_DOCUMENT:
            errors.extend(_query_document_data_errors(model, datasets))
        elif model.level == "phrase":
            errors.extend(_phrase_data_errors(model, datasets))
    return errors


def _query_document_data_errors(
    model: FineTunedModel, datasets: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    key = f"{model.config_key}.data"
    roles = ("training_queries", "validation_queries")
    rebuilt = {role: dict(model.data.get(role) or {}) for role in roles}
    errors = []
    for role, other in (roles, roles[::-1]):
        for dataset in sorted(set(rebuilt[role]) - set(rebuilt[other])):
            errors.append(f"{key}.{other}.{dataset}: needed with {key}.{role}.{dataset}")
    for role in roles:
        for dataset, replaced in sorted(rebuilt[role].items()):
            if dataset not in model.datasets:
                errors.append(f"{key}.{role}.{dataset}: the model is not trained for "
                              f"{dataset!r} (its datasets: {', '.join(model.datasets)})")
                continue
            if dataset not in datasets:
                continue  # named above
            unknown = sorted(set(replaced) - set(datasets[dataset]))
            if unknown:
                errors.append(
                    f"{key}.{role}.{dataset}: {', '.join(unknown)} not a setting of "
                    f"datasets.{dataset} (its settings: {', '.join(sorted(datasets[dataset]))})"
                )
    return errors


def _word_data_errors(model: FineTunedModel) -> list[str]:
    key = f"{model.config_key}.data"
    if model.data.get("source") != WORD_IN_CONTEXT:
        return [
            f"{key}.source: a word-level model trains on word-in-context instances (XL-WiC, "
            f"AM2iCo, SenWiCh); set it to {WORD_IN_CONTEXT} (it is {model.data.get('source')!r})"
        ]
    return [
        f"{key}.folders.{collection}: {collection} has no download address "
        f"({key}.urls.{collection} is null); set this to a folder holding its release"
        for collection in model.data["collections"]
        if model.data["folders"].get(collection) is None
        and model.data["urls"].get(collection) is None
    ]


def _phrase_data_errors(
    model: FineTunedModel, datasets: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    key = f"{model.config_key}.data"
    source = model.data.get("source")
    if source == WORD_IN_CONTEXT:
        return [
            f"{key}.source: word-in-context instances train word-level models; a phrase-level "
            f"model reads {PARALLEL_QUERIES} or {TATOEBA}"
        ]
    if source == PARALLEL_QUERIES:
        dataset = model.data.get("dataset")
        if dataset is None:
            return [f"{key}.dataset: the parallel-queries source needs the dataset to read"]
        if dataset not in datasets:
            return [f"{key}.dataset: no dataset {dataset!r}"]
    return []

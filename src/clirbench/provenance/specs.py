"""What the describe_models job describes: one spec per model of the study.

Built when the workflow starts (`workflow/rules/common.smk`), from the study's registry, so
this module imports no model library. A spec names the model, its role and what the job
needs to find it: a BM25 system's settings, an encoder's settings (a fine-tuned encoder's
are its base's with its trained folder) and the languages it was trained on (a fine-tuned
encoder's are its base's, `clirbench.embed.language_coverage`), a re-ranker's trained
folder. Trained folders are also given as `reference`, relative to the results folder,
which is what the report shows (records made in two results folders of one study stay
byte-identical).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clirbench.embed.language_coverage import study_coverage
from clirbench.finetune.specs import fine_tuned_encoder_settings

if TYPE_CHECKING:  # the registry imports every stage's specs; needed here for typing only
    from clirbench.core.systems import Study

BM25 = "BM25"
ENCODER = "encoder"
FINE_TUNED = "fine-tuned encoder"
RERANKER = "re-ranker"
ROLES = (BM25, ENCODER, FINE_TUNED, RERANKER)


def model_specs(study: Study) -> list[dict[str, Any]]:
    """Every BM25 system, configured encoder, fine-tuned encoder per training scope and
    re-ranker per dataset, in that order."""
    settings = study.settings
    specs: list[dict[str, Any]] = [
        {"name": name, "role": BM25, "settings": dict(entry)}
        for name, entry in sorted(settings.bm25.items())
    ]
    specs += [
        {
            "name": name,
            "role": ENCODER,
            "settings": dict(entry),
            "coverage": study_coverage(study, name).as_record(),
        }
        for name, entry in sorted(settings.encoders.items())
    ]
    for name, scope in study.training_units():
        model = study.fine_tuned[name]
        dataset = next(d for d in model.datasets if model.scope_of(d) == scope)
        specs.append(
            {
                "name": name,
                "scope": scope,
                "role": FINE_TUNED,
                "base": model.base,
                "settings": fine_tuned_encoder_settings(
                    model, settings.encoders[model.base], settings.output_root, dataset
                ),
                "reference": f"fine_tuning/{name}/{scope}/model",
                "coverage": study_coverage(study, name).as_record(),
            }
        )
    for name, dataset in study.reranking_units():
        reranker = study.rerankers[name]
        specs.append(
            {
                "name": name,
                "scope": dataset,
                "role": RERANKER,
                "base": reranker.model,
                "folder": f"{settings.output_root}/reranking/{name}/{dataset}/model",
                "reference": f"reranking/{name}/{dataset}/model",
                "trust_remote_code": reranker.trust_remote_code,
            }
        )
    return specs

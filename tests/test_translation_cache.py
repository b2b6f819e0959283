"""Translation cache: each text is translated once per translator configuration and source
language, a killed job resumes from its last checkpoint, shards are shared between
processes, and a damaged shard is set aside and its texts translated again."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clirbench.translate import cache as cache_module
from clirbench.translate.cache import TranslationCache, public_settings, text_key

FINGERPRINT = "f" * 64
TEXTS = [
    "O gato está na mesa.",
    "Bom dia",
    "A cidade de Lisboa é a capital de Portugal.",
    "O gato está na mesa.",  # a duplicate: translated once
    "Obrigado",
]


class Killed(Exception):
    """Stands for the job being killed in the middle of translating."""


@dataclass(frozen=True)
class FakeConfig:
    name: str = "fake"
    settings: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "fake", "api_key": "s3cret", "api_key_env": "FAKE_KEY"}
    )

    @property
    def config_key(self) -> str:
        return f"stages.translation.translators.{self.name}"


class FakeTranslator:
    """Translates by tagging each text with its source language; records every batch, and
    raises Killed once it has translated `batches_before_kill` batches."""

    def __init__(self, batch_size: int = 2, batches_before_kill: int | None = None) -> None:
        self.config = FakeConfig()
        self.batch_size = batch_size
        self.batches_before_kill = batches_before_kill
        self.calls: list[tuple[list[str], str]] = []

    @property
    def texts(self) -> list[str]:
        return [text for batch, _ in self.calls for text in batch]

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        if self.batches_before_kill is not None and len(self.calls) >= self.batches_before_kill:
            raise Killed
        self.calls.append((list(texts), source_lang))
        return [english(text, source_lang) for text in texts]


class UnusableTranslator:
    """A lazy translator that must not be loaded: touching the model fails the test."""

    config = FakeConfig()

    @property
    def batch_size(self) -> int:
        pytest.fail("the translator's batch size was asked for: the model would be loaded")

    def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
        pytest.fail(f"translated {list(texts)} although every text was cached")


def english(text: str, source_lang: str) -> str:
    return f"EN<{source_lang}>{text.upper()}"


def shards(root: Path) -> list[Path]:
    return sorted((root / FINGERPRINT).glob("shard-*.parquet"))


def test_second_call_translates_nothing(tmp_path: Path) -> None:
    translator = FakeTranslator()
    cache = TranslationCache(tmp_path, translator, FINGERPRINT)
    first = cache.translate(TEXTS, "pt", progress=False)
    assert first == [english(text, "pt") for text in TEXTS]
    assert sorted(translator.texts) == sorted(set(TEXTS))  # the duplicate translated once
    assert (cache.hits, cache.misses, cache.translated) == (0, len(TEXTS), len(set(TEXTS)))

    translator.calls.clear()
    assert cache.translate(TEXTS, "pt", progress=False) == first
    assert translator.calls == []
    assert (cache.hits, cache.misses, cache.translated) == (len(TEXTS), 0, 0)


def test_a_second_cache_object_sees_the_first_ones_shards(tmp_path: Path) -> None:
    # Two cache objects stand for two processes (chunk jobs) sharing one folder.
    first_job, second_job = FakeTranslator(), FakeTranslator()
    first = TranslationCache(tmp_path, first_job, FINGERPRINT)
    second = TranslationCache(tmp_path, second_job, FINGERPRINT)
    second.translate(["Obrigado"], "pt", progress=False)  # indexes the folder before `first`
    first.translate(TEXTS[:3], "pt", progress=False)
    assert second.translate(list(reversed(TEXTS)), "pt", progress=False) == [
        english(text, "pt") for text in reversed(TEXTS)
    ]
    assert second.hits == len(TEXTS) and second_job.texts == ["Obrigado"]
    fresh = TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT)
    fresh.translate(TEXTS, "pt", progress=False)
    assert fresh.hits == len(TEXTS) and len(fresh) == len(set(TEXTS))


def test_keys_depend_on_the_source_language(tmp_path: Path) -> None:
    assert text_key("pt", "Obrigado") != text_key("es", "Obrigado")
    translator = FakeTranslator()
    cache = TranslationCache(tmp_path, translator, FINGERPRINT)
    cache.translate(["Obrigado", "Hola"], "pt", progress=False)
    translated = cache.translate(["Obrigado", "Hola"], "es", progress=False)
    assert translated == [english("Obrigado", "es"), english("Hola", "es")]
    assert cache.hits == 0 and translator.calls[-1][1] == "es"


def test_another_fingerprint_is_another_folder(tmp_path: Path) -> None:
    TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT).translate(TEXTS, "pt", False)
    other = TranslationCache(tmp_path, FakeTranslator(), "0" * 64)
    other.translate(TEXTS, "pt", progress=False)
    assert other.hits == 0
    assert {path.name for path in tmp_path.iterdir()} == {FINGERPRINT, "0" * 64}


def test_misses_are_translated_in_batches_longest_first(tmp_path: Path) -> None:
    translator = FakeTranslator(batch_size=2)
    texts = ["a" * length for length in (5, 1, 9, 3, 7)]
    TranslationCache(tmp_path, translator, FINGERPRINT).translate(texts, "pt", progress=False)
    assert [len(batch) for batch, _ in translator.calls] == [2, 2, 1]
    assert [len(text) for text in translator.texts] == [9, 7, 5, 3, 1]


def test_translator_not_used_when_every_text_is_cached(tmp_path: Path) -> None:
    TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT).translate(TEXTS, "pt", False)
    cache = TranslationCache(tmp_path, UnusableTranslator(), FINGERPRINT)  # type: ignore[arg-type]
    assert cache.translate(TEXTS[::-1], "pt", progress=False) == [
        english(text, "pt") for text in TEXTS[::-1]
    ]
    assert cache.translate([], "pt", progress=False) == []


def test_a_killed_job_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    texts = [f"frase número {i}" for i in range(10)]
    killed = FakeTranslator(batch_size=2, batches_before_kill=3)
    cache = TranslationCache(tmp_path, killed, FINGERPRINT, checkpoint_texts=2)
    with pytest.raises(Killed):
        cache.translate(texts, "pt", progress=False)
    assert len(shards(tmp_path)) == 3  # one checkpoint per batch of two texts

    resumed = FakeTranslator(batch_size=2)
    cache = TranslationCache(tmp_path, resumed, FINGERPRINT, checkpoint_texts=2)
    assert cache.translate(texts, "pt", progress=False) == [english(t, "pt") for t in texts]
    assert sorted(resumed.texts) == sorted(set(texts) - set(killed.texts))
    assert (cache.hits, cache.translated) == (6, 4)


def test_checkpoints_by_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 40.0  # each reading of the clock is 40 s later
        return now[0]

    monkeypatch.setattr(cache_module, "_clock", clock)
    texts = [f"texto {i}" for i in range(8)]
    killed = FakeTranslator(batch_size=2, batches_before_kill=3)
    cache = TranslationCache(
        tmp_path, killed, FINGERPRINT, checkpoint_texts=1000, checkpoint_seconds=100
    )
    with pytest.raises(Killed):
        cache.translate(texts, "pt", progress=False)
    # Batches end at 40, 80, 120 s: the third passes 100 s and is stored with the first two.
    assert len(shards(tmp_path)) == 1
    resumed = FakeTranslator(batch_size=2)
    TranslationCache(tmp_path, resumed, FINGERPRINT).translate(texts, "pt", progress=False)
    assert len(resumed.texts) == 2


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":
        path.write_bytes(bytes(len(data)))
    elif how == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif how == "inside":  # valid footer and magic bytes, a damaged data page
        middle = bytearray(data)
        for i in range(20, 28):
            middle[i] ^= 0xFF
        path.write_bytes(bytes(middle))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bit":  # one bit of a stored translation: only the page CRC shows it
        flipped = bytearray(data)
        flipped[data.index(b"EN<pt>")] ^= 0x01
        path.write_bytes(bytes(flipped))


@pytest.mark.parametrize("how", ["truncated", "zeroed", "garbage", "inside", "empty", "bit"])
@pytest.mark.parametrize("indexed", [False, True], ids=["new job", "after indexing"])
def test_a_damaged_shard_is_set_aside_and_translated_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, how: str, indexed: bool
) -> None:
    first = ["Bom dia", "Obrigado"]
    second = ["Boa noite", "Até logo"]
    writer = TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT)
    writer.translate(first, "pt", progress=False)
    (damaged,) = shards(tmp_path)
    writer.translate(second, "pt", progress=False)

    translator = FakeTranslator()
    cache = TranslationCache(tmp_path, translator, FINGERPRINT)
    if indexed:  # the shard is damaged after this job has read its keys
        cache.translate(first, "pt", progress=False)
        assert translator.calls == []
    damage(damaged, how)
    with caplog.at_level(logging.WARNING, logger="clirbench"):
        result = cache.translate(first + second, "pt", progress=False)
    assert result == [english(text, "pt") for text in first + second]
    assert sorted(translator.texts) == sorted(first)  # the intact shard is still used
    assert not damaged.exists()
    assert damaged.with_name(damaged.name + ".damaged").exists()
    assert str(damaged) in caplog.text and "translated again" in caplog.text
    # The re-translations are stored: a later job translates nothing.
    later = FakeTranslator()
    TranslationCache(tmp_path, later, FINGERPRINT).translate(first + second, "pt", False)
    assert later.calls == []


def test_shards_are_parquet_with_the_documented_layout(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT)
    cache.translate(TEXTS, "pt", progress=False)
    folder = tmp_path / FINGERPRINT
    (shard,) = shards(tmp_path)
    # No temporary file left behind and no record beside the shard (it checks itself).
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [shard.name, "translator.json", ".translator.json.written"]
    )
    table = pq.read_table(shard)
    assert table.schema.field("key").type == pa.binary(16)
    assert table.schema.field("translation").type == pa.string()
    stored = dict(zip(table["key"].to_pylist(), table["translation"].to_pylist(), strict=True))
    assert stored == {text_key("pt", text): english(text, "pt") for text in TEXTS}
    assert len(cache) == len(set(TEXTS))


def test_translator_json_describes_the_folder_without_secrets(tmp_path: Path) -> None:
    TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT).translate(TEXTS, "pt", False)
    description = json.loads((tmp_path / FINGERPRINT / "translator.json").read_text())
    assert description["fingerprint"] == FINGERPRINT
    assert description["translator"] == "fake"
    assert description["settings"] == {"type": "fake", "api_key_env": "FAKE_KEY"}
    assert "s3cret" not in json.dumps(description)
    assert public_settings({"auth_token": "x", "model": "m"}) == {"model": "m"}


def test_a_translator_returning_the_wrong_number_of_texts_is_an_error(tmp_path: Path) -> None:
    class Short(FakeTranslator):
        def translate(self, texts: Sequence[str], source_lang: str) -> list[str]:
            return super().translate(texts, source_lang)[:-1]

    cache = TranslationCache(tmp_path, Short(), FINGERPRINT)
    with pytest.raises(ValueError, match=r"stages\.translation\.translators\.fake.*one string"):
        cache.translate(TEXTS, "pt", progress=False)
    assert shards(tmp_path) == []  # nothing misaligned was stored


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="single string"):
        TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT).translate("Bom dia", "pt")
    with pytest.raises(ValueError, match="checkpoint_texts"):
        TranslationCache(tmp_path, FakeTranslator(), FINGERPRINT, checkpoint_texts=0)

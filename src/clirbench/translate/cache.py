"""Each text is translated once per translator configuration, however many jobs ask for it.

Layout: ``<root>/<translator fingerprint>/shard-<uuid>.parquet``, each shard a Parquet file
with columns ``key`` (16 bytes: the first 16 of sha256(source language + "\\x00" + text)) and
``translation`` (the English text). The source language is part of the key because one
text can be two languages' words (a name, a number) and the translator is told which.
Shards are only ever added, each written to a temporary file and renamed into place, so
chunk jobs on a cluster can share one cache concurrently: a reader sees only complete
shards, and two jobs translating the same text merely store it twice (the first stored
wins on reading, so every job agrees on one translation of a text).

A long job stores a shard every `checkpoint_texts` texts or `checkpoint_seconds` of
translating, whichever comes first, so a job that is killed (time limit, pre-emption) loses
at most one checkpoint's work: being content-keyed, the cache lets the next run find the
texts already translated and translate only the rest.

Since a shard appears whole or not at all, one that cannot be read was damaged later (a
full disk, a copy cut short, a hand edit). It is never fatal and never used: it is renamed
to ``<name>.damaged`` (kept for inspection, out of `SHARD_GLOB`'s sight), a warning names
it, and its texts count as not cached, so they are translated again. A shard checks itself:
Parquet's footer and magic bytes catch a file cut short or overwritten, and the page CRCs
(written and verified here; off by default in Parquet) catch damage inside.

The index in memory holds keys and shard locations only (a sorted array, about 32 bytes a
text), never the translations: a million translated documents would not fit; the
translations of hits are read from their shards when asked for.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from clirbench.core.atomic import atomic_path, write_json
from clirbench.core.shard_index import KEY_BYTES, KEY_DTYPE, ShardIndex

if TYPE_CHECKING:
    from clirbench.translate.translators import LazyTranslator, Translator

log = logging.getLogger("clirbench")

SHARD_GLOB = "shard-*.parquet"
# Defaults of the checkpoints: with minutes between shards a killed job loses little, and
# the shards stay few enough (thousands of texts each) to index quickly.
CHECKPOINT_TEXTS = 2048
CHECKPOINT_SECONDS = 300.0
SHARD_SCHEMA = pa.schema(
    [
        pa.field("key", pa.binary(KEY_BYTES), nullable=False),
        pa.field("translation", pa.string(), nullable=False),
    ]
)
# Settings never written to translator.json: secrets in a shared folder would leak.
_SECRET_WORDS = ("key", "token", "password", "secret")
_clock = time.monotonic  # a module attribute, so tests can drive the checkpoint timer


def text_key(source_lang: str, text: str) -> bytes:
    """Cache key of `text` translated from `source_lang`."""
    return hashlib.sha256(f"{source_lang}\x00{text}".encode()).digest()[:KEY_BYTES]


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A translator's settings without secrets (an `api_key`; `api_key_env` names a
    variable, which is no secret), fit for a file that others read."""
    return {
        name: value
        for name, value in settings.items()
        if name.endswith("_env") or not any(word in name.lower() for word in _SECRET_WORDS)
    }


class TranslationCache(ShardIndex):
    """English translations by `translator`, stored under ``root / fingerprint``."""

    contents = "translation"
    redone = "translated again"

    def __init__(
        self,
        root: str | Path,
        translator: Translator | LazyTranslator,
        fingerprint: str,
        checkpoint_texts: int = CHECKPOINT_TEXTS,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        super().__init__()
        if checkpoint_texts < 1:
            raise ValueError(f"checkpoint_texts must be >= 1, got {checkpoint_texts}")
        if checkpoint_seconds < 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {checkpoint_seconds}")
        self.translator = translator
        self.fingerprint = fingerprint
        # A shard is stored after this many newly translated texts or seconds of
        # translating, whichever comes first (checked after each batch).
        self.checkpoint_texts = checkpoint_texts
        self.checkpoint_seconds = checkpoint_seconds
        self.folder = Path(root) / fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)
        self.hits = 0  # input texts of the last `translate` call found in the cache
        self.misses = 0  # input texts of the last call that were not
        self.translated = 0  # distinct texts the last call actually translated

    def translate(
        self, texts: Sequence[str], source_lang: str, progress: bool = True
    ) -> list[str]:
        """English translations of `texts` (in `source_lang`) in input order, translating
        only those not cached yet. The translator is only used (and a lazy one loaded) if
        some text is missing."""
        if isinstance(texts, str):  # a lone string would silently become one text per character
            raise TypeError("translate() takes a sequence of texts, not a single string")
        keys = np.frombuffer(
            b"".join(text_key(source_lang, text) for text in texts), dtype=KEY_DTYPE
        )
        self._load_new_shards()
        positions, found = self._lookup(keys)
        translations: list[str | None] = [None] * len(texts)
        found = self._fill_hits(translations, keys, positions, found)
        self._fill_misses(translations, texts, keys, ~found, source_lang, progress)
        self.hits = int(found.sum())
        self.misses = len(texts) - self.hits
        assert all(text is not None for text in translations)  # every text a hit or translated
        return [str(text) for text in translations]

    def __len__(self) -> int:
        """Number of stored translations (a text stored by two concurrent jobs counts twice)."""
        self._load_new_shards()
        return len(self._keys)

    # --- lookup --------------------------------------------------------------------------

    def _fill_hits(
        self,
        translations: list[str | None],
        keys: np.ndarray,
        positions: np.ndarray,
        found: np.ndarray,
    ) -> np.ndarray:
        """Fill the translations found in the cache; which were filled, that is `found` but
        for the texts of shards found damaged meanwhile (left to translate)."""
        filled = found.copy()
        wanted = np.flatnonzero(found)
        shard_numbers, rows = self._locations[positions[wanted]].T
        # One shard at a time, so memory holds only the shards that have hits, one by one.
        for shard_number in np.unique(shard_numbers):
            in_shard = shard_numbers == shard_number
            targets = wanted[in_shard]
            path = self._shards[shard_number]
            try:
                stored = _read_rows(path, rows[in_shard], keys[targets])
            except (DamagedShardError, FileNotFoundError) as error:
                self._set_aside(path, error)
                self._forget(shard_number)
                filled[targets] = False
                continue
            for target, translation in zip(targets.tolist(), stored, strict=True):
                translations[target] = translation
        return filled

    # --- translating ---------------------------------------------------------------------

    def _fill_misses(
        self,
        translations: list[str | None],
        texts: Sequence[str],
        keys: np.ndarray,
        missing: np.ndarray,
        source_lang: str,
        progress: bool,
    ) -> None:
        wanted = np.flatnonzero(missing)
        self.translated = 0
        if not len(wanted):
            return
        # Texts repeated in the input are translated once.
        new_keys, first, inverse = np.unique(keys[wanted], return_index=True, return_inverse=True)
        new_texts = [texts[i] for i in wanted[first]]
        new_translations = self._translate_texts(new_texts, new_keys, source_lang, progress)
        for target, index in zip(wanted.tolist(), inverse.ravel().tolist(), strict=True):
            translations[target] = new_translations[index]

    def _translate_texts(
        self, texts: list[str], keys: np.ndarray, source_lang: str, progress: bool
    ) -> list[str]:
        """Translate in batches of the translator's batch size, longest texts first (similar
        lengths pad little, and a batch too large for memory fails at once), storing a shard
        every `checkpoint_texts` texts or `checkpoint_seconds`, so a killed job keeps most
        of its work: the next run finds those texts by their keys."""
        translations = [""] * len(texts)
        batch_size = max(1, int(self.translator.batch_size))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        description = f"{self.translator.config.name} ({source_lang} to en)"
        pending: list[int] = []  # translated, not yet in a shard (indexes into texts)
        last_checkpoint = _clock()
        with tqdm(
            total=len(texts), desc=description, unit="text", disable=not progress, file=sys.stderr
        ) as bar:
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                batch_translations = self.translator.translate(
                    [texts[i] for i in batch], source_lang
                )
                self._check_batch(batch_translations, len(batch))
                for index, translation in zip(batch, batch_translations, strict=True):
                    translations[index] = translation
                bar.update(len(batch))
                pending.extend(batch)
                self.translated += len(batch)
                due = _clock() - last_checkpoint >= self.checkpoint_seconds
                if len(pending) >= self.checkpoint_texts or due:
                    self._write_shard(keys[pending], [translations[i] for i in pending])
                    pending.clear()
                    last_checkpoint = _clock()
        if pending:
            self._write_shard(keys[pending], [translations[i] for i in pending])
        return translations

    def _check_batch(self, translations: Any, expected: int) -> None:
        """A translator owes one string per text: anything else would misalign the cache."""
        if (
            not isinstance(translations, list)
            or len(translations) != expected
            or not all(isinstance(text, str) for text in translations)
        ):
            got = (
                f"{len(translations)} items" if isinstance(translations, list) else translations
            )
            raise ValueError(
                f"{self.translator.config.config_key}: the translator returned {got!r:.200} "
                f"for a batch of {expected} texts, not one string per text"
            )

    # --- storage -------------------------------------------------------------------------

    def _write_shard(self, keys: np.ndarray, translations: list[str]) -> None:
        path = self.folder / f"shard-{uuid.uuid4().hex}.parquet"
        self._describe_translator()
        table = pa.table(
            [
                pa.array(_as_bytes(keys), type=pa.binary(KEY_BYTES)),
                pa.array(translations, type=pa.string()),
            ],
            schema=SHARD_SCHEMA,
        )
        # No record of what was written: a shard checks itself (footer, page CRCs).
        with atomic_path(path, record=False) as tmp:
            pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)
        self._add_shard(path, np.ascontiguousarray(keys))

    def _load_new_shards(self) -> None:
        """Pick up shards written since the last look, by this or any other process; a
        damaged one is set aside instead. Only their keys are read (and checked)."""
        known = set(self._shards) | self._damaged
        for path in sorted(self.folder.glob(SHARD_GLOB)):
            if path in known:
                continue
            try:
                keys, _ = _read_shard(path, with_translations=False)
            except FileNotFoundError:
                continue  # set aside by another job since the glob: nothing to index
            except DamagedShardError as error:
                self._set_aside(path, error)
                continue
            self._add_shard(path, keys)

    def _describe_translator(self) -> None:
        """Write translator.json with the first shard, so a human can tell what a folder
        holds."""
        path = self.folder / "translator.json"
        if path.exists():
            return
        config = self.translator.config
        write_json(
            {
                "fingerprint": self.fingerprint,
                "translator": config.name,
                "settings": public_settings(config.settings),
                "note": "batch_size, device and url may differ between users of this folder; "
                "the source language is part of each text's key",
            },
            path,
        )


class DamagedShardError(Exception):
    """A shard that cannot be read in full, or holds columns other than a shard's."""


def _read_shard(path: Path, with_translations: bool) -> tuple[np.ndarray, list[str]]:
    """A shard's keys (void16 array) and, if asked, its translations, read so that every
    page CRC is checked; DamagedShardError if that fails or the columns are not a shard's.

    Any failure to read counts as damage, because shards appear atomically: a file cut
    short, zeroed or overwritten makes pyarrow raise ArrowInvalid, OSError (a CRC mismatch,
    a seek to a damaged offset) and more. What says nothing about the bytes passes through:
    a missing file (another job may have just set it aside), no permission, no memory.
    """
    columns = ["key", "translation"] if with_translations else ["key"]
    try:
        table = pq.read_table(path, columns=columns, page_checksum_verification=True)
    except (FileNotFoundError, PermissionError, MemoryError):
        raise
    except Exception as error:
        raise DamagedShardError(f"{type(error).__name__}: {error}") from error
    key_column = table.column("key")
    if key_column.type != pa.binary(KEY_BYTES) or key_column.null_count:
        raise DamagedShardError(f"keys of type {key_column.type} ({key_column.null_count} null)")
    keys = key_column.combine_chunks()
    data = keys.buffers()[1]
    array = np.frombuffer(data, dtype=KEY_DTYPE, count=len(keys), offset=keys.offset * KEY_BYTES)
    if not with_translations:
        return array.copy(), []
    translation_column = table.column("translation")
    if translation_column.type != pa.string() or translation_column.null_count:
        raise DamagedShardError(
            f"translations of type {translation_column.type} "
            f"({translation_column.null_count} null)"
        )
    return array.copy(), translation_column.to_pylist()


def _read_rows(path: Path, rows: np.ndarray, keys: np.ndarray) -> list[str]:
    """The translations at `rows` of a shard, checked to be those of `keys`: a shard whose
    file changed since it was indexed must not pass its translations off as theirs."""
    shard_keys, translations = _read_shard(path, with_translations=True)
    if rows.max() >= len(shard_keys) or shard_keys[rows].tobytes() != keys.tobytes():
        raise DamagedShardError("its keys changed since it was first read")
    return [translations[row] for row in rows.tolist()]


def _as_bytes(keys: np.ndarray) -> list[bytes]:
    """Keys as 16-byte strings, one per text, for the shard's fixed-size binary column."""
    joined = keys.tobytes()
    return [joined[i : i + KEY_BYTES] for i in range(0, len(joined), KEY_BYTES)]

"""Translators behind HTTP APIs: DeepL (v2) and LibreTranslate, as the paper's MT pilot used.

Both take a list of texts a request (DeepL 10, LibreTranslate 20 in the paper: `batch_size`).
A request refused for load (429, 5xx) or lost on the way is tried again after a growing
pause (the server's Retry-After if it says one), at most `MAX_ATTEMPTS` times. LibreTranslate
servers fail whole batches over a single document they cannot take, so, as the paper did, a
failed batch is sent again one document at a time; a document that fails alone is an error
(never an empty translation passed off as one).

Credentials: the key is read from the environment variable that ``api_key_env`` names, never
from the config (configs are shared and copied into results). A system with no key (DeepL)
or no server URL (LibreTranslate) cannot run: `http_translator_unavailable` says why, so the
workflow skips it with a notice before any job, and loading it is an error naming the key.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from clirbench.translate.translators import BaseTranslator, TranslatorConfig, TranslatorLoadError

log = logging.getLogger("clirbench")

MAX_ATTEMPTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT_SECONDS = 120.0
TIMEOUT_SECONDS = 120.0
DEEPL_TARGET = "EN"  # DeepL's English target; the paper did not choose EN-GB or EN-US either


class HttpTranslationError(RuntimeError):
    """A request the service refused or answered wrongly, after any retries."""


def http_translator_unavailable(config: TranslatorConfig) -> str | None:
    """Why this HTTP translator cannot run here (no URL, no key), or None if it can (or is
    not an HTTP translator). The text is the notice the workflow shows when skipping it."""
    settings, key = config.settings, config.config_key
    if config.type not in ("deepl", "libretranslate"):
        return None
    service = "DeepL" if config.type == "deepl" else "LibreTranslate"
    if not settings.get("url"):
        return f"{key}.url is not set: no {service} server to ask, so {config.name!r} is skipped"
    env = str(settings["api_key_env"])
    if config.type == "deepl" and not os.environ.get(env):
        return (
            f"{key}.api_key_env: the environment variable {env} holds no DeepL API key, so "
            f"{config.name!r} is skipped"
        )
    return None


class HttpTranslator(BaseTranslator):
    """Requests with retries; subclasses say what to send and how to read the answer."""

    def __init__(self, config: TranslatorConfig, session: Any) -> None:
        super().__init__(config, int(config.settings["batch_size"]))
        self.url = str(config.settings["url"]).rstrip("/")
        self.api_key = os.environ.get(str(config.settings["api_key_env"])) or None
        self.session = session
        self.retry_base_seconds = 1.0  # first pause; doubled after each failed attempt

    def post(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Any:
        """The JSON answer to a POST of `body`, trying again on overload and lost requests."""
        import requests

        problem = ""
        for attempt in range(MAX_ATTEMPTS):
            wait = self.retry_base_seconds * 2**attempt
            try:
                response = self.session.post(
                    self.url + path, json=dict(body), headers=dict(headers), timeout=TIMEOUT_SECONDS
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.ok:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise self._error(path, f"an answer that is not JSON ({error})") from error
                problem = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(path, problem)
                wait = _retry_after(response.headers.get("Retry-After"), wait)
            if attempt + 1 < MAX_ATTEMPTS:
                log.warning("%s: %s; trying again in %.1f s", self.config.config_key, problem, wait)
                time.sleep(wait)
        raise self._error(path, f"{problem} (after {MAX_ATTEMPTS} attempts)")

    def _error(self, path: str, problem: str) -> HttpTranslationError:
        return HttpTranslationError(f"{self.config.config_key}: {self.url}{path}: {problem}")

    def batches(self, texts: list[str]) -> list[list[str]]:
        return [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]


class DeepLTranslator(HttpTranslator):
    """``POST {url}/v2/translate`` with ``Authorization: DeepL-Auth-Key <key>``."""

    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        headers = {"Authorization": f"DeepL-Auth-Key {self.api_key}"}
        source = deepl_language(source_lang)
        results: list[str] = []
        for batch in self.batches(texts):
            body = {"text": batch, "source_lang": source, "target_lang": DEEPL_TARGET}
            answer = self.post("/v2/translate", body, headers)
            try:
                translations = [str(item["text"]) for item in answer["translations"]]
            except (KeyError, TypeError) as error:
                raise self._error("/v2/translate", f"unexpected answer {answer!r:.300}") from error
            if len(translations) != len(batch):
                raise self._error(
                    "/v2/translate", f"{len(translations)} translations for {len(batch)} texts"
                )
            results.extend(translations)
        return results


class LibreTranslateTranslator(HttpTranslator):
    """``POST {url}/translate`` with ``{"q": [...], "source", "target": "en", ...}``."""

    def _translate(self, texts: list[str], source_lang: str) -> list[str]:
        source = libretranslate_language(source_lang)
        results: list[str] = []
        for batch in self.batches(texts):
            try:
                results.extend(self._request(batch, source))
            except HttpTranslationError as error:
                log.warning(
                    "%s: a batch of %d texts failed (%s); translating them one by one",
                    self.config.config_key,
                    len(batch),
                    error,
                )
                results.extend(self._request([text], source, alone=True)[0] for text in batch)
        return results

    def _request(self, texts: list[str], source: str, alone: bool = False) -> list[str]:
        body: dict[str, Any] = {
            "q": texts[0] if alone else texts,
            "source": source,
            "target": "en",
            "format": "text",
        }
        if self.api_key:
            body["api_key"] = self.api_key
        answer = self.post("/translate", body, {})
        translated = answer.get("translatedText") if isinstance(answer, dict) else None
        if alone and isinstance(translated, str):
            return [translated]
        if not alone and isinstance(translated, list) and len(translated) == len(texts):
            return [str(text) for text in translated]
        raise self._error("/translate", f"unexpected answer {answer!r:.300}")


def deepl_language(lang: str) -> str:
    """DeepL's source code: the language, upper-cased ("no" is DeepL's "NB")."""
    base = lang.replace("_", "-").split("-", 1)[0].lower()
    return {"no": "NB"}.get(base, base.upper())


def libretranslate_language(lang: str) -> str:
    """LibreTranslate's code: ISO 639-1 as the project has it; Norwegian is "nb"."""
    normalised = lang.replace("_", "-")
    if normalised.lower() in ("zh-hant", "zh-tw"):
        return "zt"  # LibreTranslate's (Argos's) Traditional Chinese
    base = normalised.split("-", 1)[0].lower()
    return {"no": "nb"}.get(base, base)


def load_http_translator(config: TranslatorConfig) -> HttpTranslator:
    import requests

    problem = http_translator_unavailable(config)
    if problem is not None:
        raise TranslatorLoadError(problem)
    session = requests.Session()
    if config.type == "deepl":
        return DeepLTranslator(config, session)
    return LibreTranslateTranslator(config, session)


def _retry_after(header: str | None, default: float) -> float:
    """The server's Retry-After in seconds (capped), or `default` if it gives none we read."""
    try:
        return min(max(float(header), 0.0), MAX_RETRY_WAIT_SECONDS) if header else default
    except ValueError:  # an HTTP date: rare enough to just use our own pause
        return default

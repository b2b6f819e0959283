"""The study's configuration, read once into typed settings.

The workflow config is validated against `config.schema.yaml` (beside this module), which
also fills in every default: defaults live in the schema and nowhere else. `StudySettings`
is what the rest of the code reads; rules pass each job only the part it needs, as
canonical JSON, so equal settings give equal params and no false re-runs.

A config mistake is a `ConfigError`: one short line per problem, each naming its key path
(`bm25.bm25-icu.k_1: unknown key; did you mean k1?`). We validate with jsonschema ourselves
rather than with `snakemake.utils.validate`, which follows the error with the whole schema
and config (hundreds of lines in which the one that matters is easy to miss).
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import importlib.resources
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # jsonschema is imported where configs are validated, not by every job
    from jsonschema.exceptions import ValidationError

SCHEMA_FILE = "config.schema.yaml"

# Dataset types whose source has the English parallel of every document: their reference
# English is a condition without machine translation.
REFERENCE_ENGLISH_TYPES = frozenset({"cldr_cards", "xquad", "mmarco", "tatoeba"})
# A `local` collection's files: data-model table -> config key (its English version is the
# user's `translated_docs`).
LOCAL_FILE_KEYS = {
    "docs": "docs",
    "queries": "queries",
    "qrels": "qrels",
    "reference_english": "translated_docs",
}


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON: equal settings give equal strings, so params trigger no false reruns."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_settings(text: str) -> dict[str, Any]:
    """The inverse of `canonical_json`, for a job's params."""
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


@functools.cache
def config_schema() -> dict[str, Any]:
    text = importlib.resources.files("clirbench.core").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = yaml.safe_load(text)
    return schema


def section_defaults(section: str) -> dict[str, Any]:
    """Defaults of one entry of a named-entries section (`bm25`, `encoders`), from the schema."""
    entry = config_schema()["properties"][section]["additionalProperties"]
    return {
        key: copy.deepcopy(spec["default"])
        for key, spec in entry["properties"].items()
        if "default" in spec
    }


def with_section_defaults(section: str, name: str, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """`mapping` (one `section.name` entry) completed with the schema's defaults; unknown keys
    are an error naming the key."""
    entry = config_schema()["properties"][section]["additionalProperties"]
    known = entry["properties"]
    for key in mapping:
        if key not in known:
            raise ValueError(
                f"{section}.{name}.{key}: unknown key (known keys: {', '.join(sorted(known))})"
            )
    for key in entry.get("required", []):
        if key not in mapping:
            raise ValueError(f"{section}.{name}.{key}: missing")
    return section_defaults(section) | dict(mapping)


@dataclass(frozen=True)
class DatasetSettings:
    """One `datasets.<name>` entry: its type, the builder's options, its relevance threshold."""

    name: str
    type: str
    options: Mapping[str, Any]  # everything that shapes the prepared tables
    relevance_threshold: int  # the dataset's own, else evaluation.relevance_threshold

    @property
    def config_key(self) -> str:
        return f"datasets.{self.name}"

    @property
    def has_reference_english(self) -> bool:
        """The source ships an English version of every document (no MT needed)."""
        return self.type in REFERENCE_ENGLISH_TYPES or bool(self.options.get("translated_docs"))

    @property
    def documents_are_english(self) -> bool:
        """Tatoeba xx-en searches English sentences: an English version would change nothing."""
        return self.type == "tatoeba" and self.options["direction"] == "xx-en"

    @property
    def local_files(self) -> list[str]:
        """A `local` collection's files: inputs of its preparation, so edits re-prepare it."""
        if self.type != "local":
            return []
        return [self.options[key] for key in LOCAL_FILE_KEYS.values() if self.options.get(key)]


@dataclass(frozen=True)
class EvaluationSettings:
    query_split: str  # the evaluated split ("all": every query)
    relevance_threshold: int
    highlighted_pairs: tuple[tuple[str, str], ...]


def user_cache_folder() -> Path:
    """clirbench's folder in the user's cache ($XDG_CACHE_HOME, by default ~/.cache): what
    outlives any one experiment, such as encoded texts and model weight hashes."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "clirbench"


def embedding_cache_folder(configured: str | None) -> Path:
    """The embedding cache: the `embedding_cache` key, else in the user's cache folder."""
    return Path(configured).expanduser() if configured else user_cache_folder() / "embeddings"


@dataclass(frozen=True)
class StudySettings:
    """The validated config (schema defaults filled in), typed."""

    experiment: str
    results_dir: str
    conditions: tuple[str, ...]
    datasets: Mapping[str, DatasetSettings]
    bm25: Mapping[str, Mapping[str, Any]]
    encoders: Mapping[str, Mapping[str, Any]]
    evaluation: EvaluationSettings
    top_k: int
    stages: Mapping[str, Mapping[str, Any]]
    config: Mapping[str, Any]  # the whole validated config, for its hash and the report

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> StudySettings:
        """Typed settings of a config that `checked_config` has validated and completed."""
        evaluation = config["evaluation"]
        datasets = {
            name: DatasetSettings(
                name=name,
                type=entry["type"],
                options={k: v for k, v in entry.items() if k != "relevance_threshold"},
                relevance_threshold=int(
                    entry.get("relevance_threshold", evaluation["relevance_threshold"])
                ),
            )
            for name, entry in sorted(config["datasets"].items())
        }
        return cls(
            experiment=config["experiment"],
            results_dir=config["results_dir"],
            conditions=tuple(config["conditions"]),
            datasets=datasets,
            bm25=dict(config["bm25"]),
            encoders=dict(config["encoders"]),
            evaluation=EvaluationSettings(
                query_split=evaluation["query_split"],
                relevance_threshold=int(evaluation["relevance_threshold"]),
                highlighted_pairs=tuple(
                    (str(q), str(d)) for q, d in evaluation["highlighted_pairs"]
                ),
            ),
            top_k=int(config["retrieval"]["top_k"]),
            stages=dict(config["stages"]),
            config=config,
        )

    @property
    def output_root(self) -> str:
        return f"{self.results_dir}/{self.experiment}"

    @property
    def hash(self) -> str:
        return config_hash(self.config)


def unset_keys(settings: Mapping[str, Any], prefix: str) -> list[str]:
    """Dotted keys of `settings` whose value is null (known to be needed, value not known)."""
    unset = []
    for key, value in sorted(settings.items()):
        if value is None:
            unset.append(f"{prefix}.{key}")
        elif isinstance(value, Mapping):
            unset.extend(unset_keys(value, f"{prefix}.{key}"))
    return unset


def validated_settings(config: Mapping[str, Any]) -> StudySettings:
    """Typed settings of a raw config: validated against the schema, defaults filled in (what
    the Snakefile does), for code and tests outside Snakemake."""
    return StudySettings.from_config(checked_config(config))


# --- validation --------------------------------------------------------------------------

MAX_PROBLEMS = 10  # more would bury the first; fixing those usually reveals the rest anyway
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}
_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


class ConfigError(ValueError):
    """A mistake in the workflow config: one short line per problem, each naming its key path,
    after the config file(s) it came from when known."""

    def __init__(self, problems: Sequence[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        if len(self.problems) == 1:
            message = f"config error{where}: {self.problems[0]}"
        else:
            message = f"config errors{where}:\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


def config_source(files: Sequence[str | Path], overridden: bool = False) -> str:
    """How error messages name where a config came from: its files (relative to the working
    folder when inside it), and `--config` when command-line values override them."""
    shown = []
    for file in files:
        relative = os.path.relpath(file)
        shown.append(str(file) if relative.startswith("..") else relative)
    return ", ".join(shown) + (" with --config overrides" if overridden else "")


def checked_config(config: Mapping[str, Any], source: str | None = None) -> dict[str, Any]:
    """A copy of `config`, validated against the schema and completed with its defaults.

    Raises `ConfigError` listing every problem, each as `key.path: problem`; `source` (see
    `config_source`) names the config file in the message.
    """
    completed = copy.deepcopy(dict(config))
    errors = list(_defaults_filling_validator()(config_schema()).iter_errors(completed))
    if errors:
        raise ConfigError(config_problems(errors), source)
    return completed


def _defaults_filling_validator() -> Any:
    """The schema's validator class, extended to fill in each missing property's `default`
    before validating it (as `snakemake.utils.validate(set_default=True)` does)."""
    import jsonschema

    base = jsonschema.validators.validator_for(config_schema())

    def fill_defaults(validator: Any, properties: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, dict):
            for key, spec in properties.items():
                if isinstance(spec, dict) and "default" in spec:
                    instance.setdefault(key, copy.deepcopy(spec["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": fill_defaults})


def config_problems(errors: Iterable[ValidationError]) -> list[str]:
    """One line per problem: jsonschema's best match first, then the others in key order."""
    from jsonschema.exceptions import best_match

    found = _without_consequences(list(errors))
    best = best_match(found)
    others = sorted((e for e in found if e is not best), key=lambda e: [str(p) for p in e.path])
    lines: list[str] = []
    for error in [best, *others] if best is not None else others:
        lines.extend(line for line in _describe(error) if line not in lines)
    if len(lines) > MAX_PROBLEMS:
        lines = [*lines[:MAX_PROBLEMS], f"... and {len(lines) - MAX_PROBLEMS} more"]
    return lines


def _without_consequences(errors: list[ValidationError]) -> list[ValidationError]:
    """`errors` less those that only follow from a missing required key.

    The schema picks an entry's allowed keys by its `type` or `backend` (`if`/`then`); with
    that key missing every `if` holds vacuously, and each `then` would add errors about keys
    the entry was never meant to have.
    """
    missing_at = {
        tuple(e.absolute_path)
        for e in errors
        if e.validator == "required" and "then" not in e.absolute_schema_path
    }
    return [
        e
        for e in errors
        if "then" not in e.absolute_schema_path
        or not any(tuple(e.absolute_path)[: len(path)] == path for path in missing_at)
    ]


def _describe(error: ValidationError) -> list[str]:
    """`key.path: problem` lines for one jsonschema error (several for several unknown keys)."""
    path = list(error.absolute_path)
    instance, schema, rule = error.instance, error.schema, error.validator
    value = error.validator_value
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = sorted(schema.get("properties", {}))
        return [
            f"{_key([*path, name])}: unknown key{_suggestion(name, known, listing=True)}"
            for name in instance
            if name not in known
        ]
    if rule == "required" and isinstance(instance, dict):
        missing = [name for name in value if name not in instance]
        return [f"{_key([*path, name])}: missing (required)" for name in missing]
    if "propertyNames" in error.relative_schema_path:
        pattern = schema.get("pattern", "")
        return [f"{_key(path)}: {_show(instance)} is not a valid name (must match {pattern})"]
    if rule == "enum":
        options = ", ".join(str(option) for option in value)
        hint = _suggestion(instance, [str(o) for o in value]) if isinstance(instance, str) else ""
        return [f"{_key(path)}: {_show(instance)} is not one of {options}{hint}"]
    if rule == "type" or rule in _BOUNDS:
        return [f"{_key(path)}: expected {_expected(schema)}, got {_show(instance)}"]
    if rule in {"minItems", "maxItems", "minProperties"}:
        least = "at least" if rule.startswith("min") else "at most"
        noun = "entries" if rule == "minProperties" else "items"
        return [f"{_key(path)}: expected {least} {value} {noun}, got {len(instance)}"]
    if rule == "uniqueItems":
        repeated = sorted({_show(i) for i in instance if instance.count(i) > 1})
        return [f"{_key(path)}: {', '.join(repeated)} listed more than once"]
    if rule == "pattern":
        return [f"{_key(path)}: {_show(instance)} does not match {value}"]
    return [f"{_key(path)}: {_shorten(error.message)}"]


def _key(path: Sequence[Any]) -> str:
    """The dotted key path of a config value, list positions in brackets:
    `datasets.wikiclir.languages[3]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "the config"


def _suggestion(word: str, choices: Sequence[str], listing: bool = False) -> str:
    """"; did you mean X?" for a likely typo, else (if `listing`) the choices."""
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"; did you mean {close[0]}?"
    return f" (known keys: {', '.join(choices)})" if listing and choices else ""


def _expected(schema: Mapping[str, Any]) -> str:
    """What a value must be, from its schema: "an integer >= 1 or null"."""
    types = schema.get("type", [])
    bounds = " and ".join(f"{_BOUNDS[k]} {schema[k]}" for k in _BOUNDS if k in schema)
    names = []
    for kind in [types] if isinstance(types, str) else types:
        name = _TYPE_NAMES.get(kind, kind)
        names.append(f"{name} {bounds}" if bounds and kind in ("integer", "number") else name)
    return " or ".join(names) or f"a value {bounds}"


def _show(value: Any) -> str:
    """A config value as YAML/JSON shows it (strings in double quotes), cut short."""
    return _shorten(json.dumps(value, ensure_ascii=False, default=str))


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

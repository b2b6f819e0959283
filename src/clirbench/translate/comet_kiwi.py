"""COMET-Kiwi scores of one pilot system's translations: reference-free adequacy per document.

The paper scored its MT pilot with WMT22 COMET-Kiwi (``Unbabel/wmt22-cometkiwi-da``), which
reads the source document and its translation and predicts a quality score (about 0 to 1).
unbabel-comet 2.2.7 pins numpy<2 and transformers<5, which the project's environment cannot
share, so this module runs in an environment of its own (envs/comet.yaml under --use-conda,
else the `.venv-comet` of `make comet-env`), as a command:

    python -m clirbench.translate.comet_kiwi --translations X --model M --batch-size N \\
        --gpus G --output Y --log L

It therefore imports only the standard library, polars, the project's core file helpers and
comet (numpy and polars come with that environment).

`model` is a Hub id (downloaded once into the Hugging Face cache; the Kiwi models are gated,
so `huggingface-cli login` first, and its encoder, microsoft/infoxlm-large, is fetched too),
a model folder (holding checkpoints/model.ckpt), or the path of a checkpoint file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from clirbench.core.atomic import write_parquet
from clirbench.core.intermediate import read_parquet

log = logging.getLogger("clirbench")

KEY_COLUMNS = ["dataset", "doc_id", "lang", "system"]
COMET_SCHEMA = pl.Schema(
    {
        "dataset": pl.String,
        "doc_id": pl.String,
        "lang": pl.String,
        "system": pl.String,
        "comet_kiwi": pl.Float64,
    }
)
CHECKPOINT = Path("checkpoints") / "model.ckpt"  # where COMET models keep their weights
MODEL_KEY = "stages.translation.pilot.comet.model"


def checkpoint_path(model: str) -> str:
    """The checkpoint file of `model`: a .ckpt file, a model folder, or a Hub id (downloaded
    by comet into the Hugging Face cache, or found there when offline)."""
    path = Path(os.path.expanduser(model))
    if path.is_file():
        return str(path)
    if path.is_dir():
        if not (path / CHECKPOINT).is_file():
            raise FileNotFoundError(f"{MODEL_KEY}: {path} has no {CHECKPOINT.as_posix()}")
        return str(path / CHECKPOINT)
    from comet import download_model

    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    try:
        return str(download_model(model, local_files_only=offline))
    except KeyError as error:
        hint = (
            " (HF_HUB_OFFLINE is set and the model is not in the Hugging Face cache)"
            if offline
            else " (the Kiwi models are gated: accept their licence on the Hub and log in)"
        )
        raise ValueError(f"{MODEL_KEY}: cannot get COMET model {model!r}{hint}") from error


def score_comet(translations: Path, model: str, batch_size: int, gpus: int, out: Path) -> None:
    """Score every (source, translation) of `translations` with COMET-Kiwi; write one row per
    document: dataset, doc_id, lang, system, comet_kiwi."""
    table = read_parquet(translations, columns=[*KEY_COLUMNS, "source", "translation"])
    if table.is_empty():
        log.info("%s: no translations, no model loaded", translations)
        write_parquet(pl.DataFrame(schema=COMET_SCHEMA), out)
        return
    scores = _predict(
        checkpoint_path(model),
        table["source"].to_list(),
        table["translation"].to_list(),
        batch_size,
        gpus,
    )
    if len(scores) != table.height:
        raise RuntimeError(f"COMET returned {len(scores)} scores for {table.height} documents")
    result = table.select(KEY_COLUMNS).with_columns(
        pl.Series("comet_kiwi", [float(score) for score in scores], dtype=pl.Float64)
    )
    log.info(
        "%d documents scored, mean COMET-Kiwi %.4f", result.height, result["comet_kiwi"].mean()
    )
    write_parquet(result.cast(COMET_SCHEMA), out)


def _predict(
    checkpoint: str, sources: list[str], translations: list[str], batch_size: int, gpus: int
) -> list[float]:
    from comet import load_from_checkpoint

    if gpus > 1:
        # With several GPUs comet gathers predictions that it saved with torch.save, and
        # torch >= 2.6 refuses to load its Prediction class unless it is allow-listed
        # (Unbabel/COMET pull request 258).
        import torch
        from comet.models.utils import Prediction

        torch.serialization.add_safe_globals([Prediction])
    log.info("loading COMET checkpoint %s", checkpoint)
    model = load_from_checkpoint(checkpoint)
    data = [{"src": src, "mt": mt} for src, mt in zip(sources, translations, strict=True)]
    output = model.predict(
        data,
        batch_size=batch_size,
        gpus=gpus,
        # gpus=0 must mean the CPU: Lightning's "auto" would take a GPU if there is one.
        accelerator="cpu" if gpus == 0 else "auto",
        progress_bar=True,
    )
    return [float(score) for score in output.scores]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m clirbench.translate.comet_kiwi", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--translations", type=Path, required=True)
    parser.add_argument("--model", required=True, help="Hub id, model folder or .ckpt file")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--log", type=Path, help="the job's log file (default: stderr)")
    args = parser.parse_args(argv)
    if args.log:
        _log_to(args.log)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
        force=True,
    )
    score_comet(args.translations, args.model, args.batch_size, args.gpus, args.output)
    return 0


def _log_to(path: Path) -> None:
    """Send standard output and error, of Python and of native code alike (Lightning's
    progress bar writes to stdout, torch warns from C++), to the job's log file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - the job's life
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(handle.fileno(), 1)
    os.dup2(handle.fileno(), 2)
    sys.stdout = sys.stderr = handle


if __name__ == "__main__":
    sys.exit(main())

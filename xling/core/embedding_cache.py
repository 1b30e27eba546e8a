"""Embeddings of a text collection, computed once per (encoder, collection) and kept on disk.

The cache key is the encoder's name and the collection's content fingerprint, so a second search
or map over the same corpus with the same encoder re-encodes nothing, across restarts too. Files
are written atomically (temporary file, then rename); a corrupt or mismatched file is recomputed.

Example:
    >>> from xling.core.embedding_cache import embed_collection
    >>> vectors = embed_collection(encoder, collection, cache_dir)   # doctest: +SKIP
    >>> vectors.shape == (len(collection), vectors.shape[1])          # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xling.core.encoders import Encoder
from xling.data.texts import TextCollection

#: ``progress(done, total)``: told after each encoded chunk (a UI turns it into a progress bar).
ProgressFn = Callable[[int, int], None]

_CHUNK = 512


def cache_path(cache_dir: str | Path, encoder_name: str, collection: TextCollection) -> Path:
    """Where the vectors of ``collection`` under ``encoder_name`` are stored.

    The encoder's name is resolved to an absolute path when it is a folder, so the same checkpoint
    named two ways shares one file; a retrained folder (new weights) gets a new file, because the
    weights file's size and modification time are part of the key.
    """
    key = encoder_name
    folder = Path(encoder_name.removeprefix("mlm:")).expanduser()
    if folder.is_dir():
        # model.safetensors: a transformers/xling checkpoint; encoder.safetensors: a trained usem3.
        found = [folder / name for name in ("model.safetensors", "encoder.safetensors") if (folder / name).is_file()]
        stamp = f"{found[0].stat().st_size}-{found[0].stat().st_mtime_ns}" if found else ""
        key = f"{encoder_name[:4] if encoder_name.startswith('mlm:') else ''}{folder.resolve()}#{stamp}"
    digest = hashlib.sha1(f"{key}\x1f{collection.fingerprint}".encode()).hexdigest()[:20]
    return Path(cache_dir) / "embeddings" / f"{digest}.npy"


def embed_collection(encoder: Encoder, collection: TextCollection, cache_dir: str | Path | None,
                     progress: ProgressFn | None = None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised vectors for every text of ``collection``, from the disk cache when there.

    Args:
        encoder: any :class:`~xling.core.encoders.Encoder`.
        collection: the texts.
        cache_dir: the cache folder (``None``: no caching).
        progress: called with ``(done, total)`` while encoding.
        batch_size: encoder batch size.

    Returns:
        ``(len(collection), dim)`` float32.
    """
    path = cache_path(cache_dir, encoder.name, collection) if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.ndim == 2 and len(vectors) == len(collection):
                return vectors
        except (OSError, ValueError):
            pass  # a damaged file: recompute below
    texts = [t.text for t in collection.texts]
    parts = []
    for start in range(0, len(texts), _CHUNK):
        parts.append(encoder.encode(texts[start : start + _CHUNK], batch_size=batch_size))
        if progress is not None:
            progress(min(start + _CHUNK, len(texts)), len(texts))
    vectors = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 1), dtype=np.float32)
    if path is not None:
        save_npy_atomic(path, vectors)
    return vectors


def save_npy_atomic(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as ``.npy`` to ``path`` atomically (a temporary file in the same folder, then a
    rename), so a reader never sees half a file, even when two requests write the same cache entry.

    Example:
        >>> save_npy_atomic(tmp / "vectors.npy", np.zeros((2, 3), dtype=np.float32))   # doctest: +SKIP
        PosixPath('.../vectors.npy')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path

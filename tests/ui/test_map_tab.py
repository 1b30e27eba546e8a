"""The map tab through its HTTP API (gradio_client): /map with the tiny xling encoder and PCA on
demo sentences (one and two encoders), an upload, and clear messages for bad input; the helper
events (neighbours, export) called as the page calls them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client.exceptions import AppError  # noqa: E402

from tests.ui.conftest import launch_tab, output_value, plot_figure  # noqa: E402
from xling.ui.map_tab import create_map_tab  # noqa: E402


@pytest.fixture(scope="module")
def app(tiny_services):
    with launch_tab(create_map_tab, tiny_services) as app:
        yield app


def _traces(plot: dict) -> list[dict]:
    return plot_figure(plot)["data"]


def test_components_and_defaults(app) -> None:
    _, components, _ = app
    assert {"languages", "max_texts", "encoder", "compare", "method", "dims", "plot_a", "plot_b",
            "table_a", "metrics", "files"} <= set(components)
    assert components["languages"].value == ["en", "de", "fr", "es", "ru", "ja", "zh", "ar", "hi", "sv"]
    labels = dict((code, label) for label, code in components["languages"].choices)
    assert labels["de"].startswith("German (de)")
    assert components["compare"].value == "mlm:tiny-xling"  # the raw masked LM beside the aligned encoder


def test_map_one_then_two_encoders(app) -> None:
    _, _, client = app
    metrics, plot_a, plot_b, table_a, table_b, point, caption, files = client.predict(
        ["de", "fr", "en"], 200, "tiny-xling", "pca", 2, "", api_name="/map")  # "": no comparison
    assert "cross-lingual P@1" in metrics and "language clustering" in metrics
    assert metrics.count("tiny-xling") == 1
    traces = _traces(plot_a)
    names = [t["name"] for t in traces]
    assert names[0] == "translations" and {"German (de)", "French (fr)", "English (en)"} <= set(names)
    points = sum(len(t["x"]) for t in traces if t["name"] != "translations")
    assert 150 <= points <= 200
    assert output_value(plot_b) is None and plot_b["visible"] is False

    metrics, plot_a, plot_b, *_ = client.predict(["de", "fr"], 120, "tiny-xling", "pca", 3, "mlm:tiny-xling",
                                                 api_name="/map")
    assert "mlm:tiny-xling" in metrics and metrics.count("| tiny-xling |") == 1
    assert _traces(plot_a)[-1]["type"] == "scatter3d" and _traces(plot_b)[-1]["type"] == "scatter3d"


def test_map_an_upload_without_languages(app, tmp_path: Path, parallel) -> None:
    _, _, client = app
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(text for row in parallel for text in row.values()), encoding="utf-8")
    metrics, plot_a, *_ = client.predict([], 30, "tiny-xling", "pca", 2, "", 0, True,
                                         gradio_client.handle_file(str(path)), api_name="/map")
    assert "| 30 | 0 |" in metrics  # 30 sentences, no languages: metrics say so instead of failing
    assert [t["name"] for t in _traces(plot_a)] == ["unknown"]


@pytest.mark.parametrize("args, message", [
    (([], 200, "tiny-xling", "pca", 2), "choose at least one language"),
    ((["de"], 200, "tiny-xling", "pca", 2, "", -1), "less than minimum value 0"),
    ((["xx"], 200, "tiny-xling", "pca", 2), "has 0 sentences in xx"),
    ((["de"], 200, "no-such-encoder/x/y", "pca", 2), "no such folder"),
])
def test_user_errors_are_messages(app, args, message) -> None:
    _, _, client = app
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/map")


def test_bad_upload_is_a_message(app, tmp_path: Path) -> None:
    _, _, client = app
    broken = tmp_path / "broken.csv"
    broken.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(AppError, match="no text column"):
        client.predict(["de"], 100, "tiny-xling", "pca", 2, "", 0, True, gradio_client.handle_file(str(broken)),
                       api_name="/map")


def test_neighbours_and_export_handlers(app, tiny_services) -> None:
    """The private events, run as the page runs them (their functions, with a /map result as state)."""
    demo, _, _ = app
    run_map = next(d for d in demo.fns.values() if d.api_name == "map").fn
    *_, outputs = run_map(["de", "fr", "en"], 150, "tiny-xling", "pca", 2, "mlm:tiny-xling", 0, True, None, 15, 30,
                          progress=lambda *a, **k: None)  # the handler streams; its last answer
    result = outputs[5]
    assert len(result.views) == 2

    show = next(d for d in demo.fns.values() if d.fn.__name__ == "show_neighbours").fn
    plot_a, plot_b, table_a, table_b, caption = show("#3", result, True)
    assert "**#3**" in caption and len(table_a) == 10 and list(table_a.columns)[:3] == ["#", "language", "cosine"]
    assert table_a["cosine"].is_monotonic_decreasing
    names = [t.name for t in plot_a.data]
    assert names[-2:] == ["neighbours", "#3"]
    text_query = show(result.sample.texts[7][:12], result, False)
    assert "translations" not in [t.name for t in text_query[0].data]

    export = next(d for d in demo.fns.values() if d.fn.__name__ == "export_files").fn
    paths = [Path(p) for p in export(result)]
    assert [p.name for p in paths] == ["map-tiny-xling.csv", "tiny-xling-vectors.tsv", "metadata.tsv",
                                       "map-tiny-xling-mlm.csv", "tiny-xling-mlm-vectors.tsv"]
    assert all(p.is_file() and tiny_services.cache_dir in p.parents for p in paths)
    with paths[0].open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == ["text", "lang", "group", "x", "y"]
    assert paths[2].read_text(encoding="utf-8").splitlines()[0] == "lang\tgroup\ttext"
    with pytest.raises(gr.Error, match="draw a map first"):
        export(None)

"""Map figures: traces per language with names, escaped and wrapped hover text, translation lines,
marks for a selected point, 2-D and 3-D, and the offline HTML page."""

from __future__ import annotations

import pytest

from xling.core.map_figures import (
    empty_figure,
    hover_text,
    language_colours,
    map_figure,
    maps_html,
)
from xling.core.projection import MapPoint
from xling.data.languages import language_label


def points(three: bool = False) -> list[MapPoint]:
    rows = [("The cat sleeps.", "en", "g1"), ("Die Katze schläft.", "de", "g1"), ("Le chat dort.", "fr", "g1"),
            ("I drink <coffee> & tea.", "en", "g2"), ("Ich trinke Kaffee.", "de", "g2"), ("alone", "fr", None),
            ("no language", None, None)]
    return [MapPoint(i, text, lang, group, float(i), float(i % 3), float(-i) if three else None)
            for i, (text, lang, group) in enumerate(rows)]


def test_one_trace_per_language_with_names_and_point_numbers() -> None:
    figure = map_figure(points(), title="usem3 <b>")
    names = [t.name for t in figure.data]
    assert names == ["translations", "English (en)", "French (fr)", "German (de)", "unknown"]
    english = figure.data[1]
    assert list(english.customdata) == [0, 3] and english.type == "scatter"
    assert english.hovertemplate == "%{text}<extra></extra>"
    assert figure.layout.title.text == "usem3 &lt;b&gt;"
    assert not figure.layout.xaxis.showticklabels


def test_translation_lines_join_groups_only() -> None:
    lines = map_figure(points()).data[0]
    # g1 has three points, g2 two; each group ends with a gap (None); singletons draw nothing.
    assert list(lines.x) == [0.0, 1.0, 2.0, None, 3.0, 4.0, None]
    assert lines.hoverinfo == "skip"
    assert "translations" not in [t.name for t in map_figure(points(), show_translations=False).data]
    assert map_figure([p for p in points() if not p.group]).data[0].name != "translations"


def test_hover_text_is_escaped_and_wrapped() -> None:
    shown = hover_text(points()[3])
    assert shown.startswith("<b>#3</b> · English (en)<br>") and "&lt;coffee&gt; &amp; tea" in shown
    long = MapPoint(9, "word " * 200, "de", None, 0, 0)
    lines = hover_text(long).split("<br>")
    assert len(lines) == 1 + 6 and all(len(line) <= 62 for line in lines[1:]) and lines[-1].endswith("…")


def test_selected_point_and_neighbours_are_marked() -> None:
    figure = map_figure(points(), selected=3, neighbours=[4, 0, 3, 99])
    neighbours, selected = figure.data[-2], figure.data[-1]
    assert neighbours.name == "neighbours" and list(neighbours.x) == [4.0, 0.0]
    assert selected.name == "#3" and list(selected.x) == [3.0] and selected.marker.symbol == "star"


def test_three_dimensions() -> None:
    figure = map_figure(points(three=True), selected=1)
    assert {t.type for t in figure.data} == {"scatter3d"}
    assert list(figure.data[1].z) == [0.0, -3.0]
    assert figure.layout.scene.xaxis.showticklabels is False


def test_colours_are_stable_across_maps() -> None:
    shared = language_colours(["de", "fr", "en"])
    first = map_figure(points()[:3], colours=shared)
    second = map_figure(points()[1:3], colours=shared)
    colour = {t.name: t.marker.color for t in [*first.data, *second.data] if t.name != "translations"}
    assert colour["German (de)"] == shared["de"] and len(set(shared.values())) == 4


@pytest.mark.parametrize("code, label", [("de", "German (de)"), ("nb", "Norwegian Bokmål (nb)"),
                                         ("qqq", "qqq"), (None, "unknown")])
def test_language_labels(code, label) -> None:
    assert language_label(code) == label


def test_empty_figure_and_html_page() -> None:
    assert empty_figure("Draw <a> map").layout.annotations[0].text == "Draw &lt;a&gt; map"
    page = maps_html([map_figure(points()), map_figure(points(three=True))], "Map <1>", "P@1 0.5 & more")
    assert page.count("plotly-graph-div") >= 2 and "<title>Map &lt;1&gt;</title>" in page
    assert "P@1 0.5 &amp; more" in page
    assert page.count("Plotly.newPlot") == 2

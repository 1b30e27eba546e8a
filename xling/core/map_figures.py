"""Plotly figures of an embedding map: points coloured by language, hover text, translation lines,
a highlighted point and its neighbours. Pure: records in, a figure out (plotly imported inside).

Example:
    >>> from xling.core.projection import MapPoint
    >>> points = [MapPoint(0, "Hello", "en", "g1", 0.0, 0.0), MapPoint(1, "Hallo", "de", "g1", 1.0, 0.5)]
    >>> figure = map_figure(points, title="usem3")
    >>> [trace.name for trace in figure.data]
    ['translations', 'English (en)', 'German (de)']
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from typing import Any

from xling.core.projection import MapPoint
from xling.data.languages import language_name

#: Hover text is wrapped at this many characters and cut after this many lines.
HOVER_WIDTH = 60
HOVER_LINES = 6
#: Distinct colours for up to 24 languages (plotly's Dark24 is close to this; fixed here so a language
#: keeps its colour between the two maps of a comparison and between redraws).
PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16",
    "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038", "#222A2A",
)  # fmt: skip
UNKNOWN_LANGUAGE = "unknown"


def language_label(code: str | None) -> str:
    """``"German (de)"`` for ``"de"`` (names from :func:`xling.data.languages.language_name`); the code
    alone when unknown.

    Example:
        >>> language_label("sv"), language_label(None)
        ('Swedish (sv)', 'unknown')
    """
    if not code:
        return UNKNOWN_LANGUAGE
    name = language_name(code)
    return f"{name} ({code})" if name != code else code


def language_colours(languages: Sequence[str | None]) -> dict[str | None, str]:
    """A colour per language, assigned in sorted order (the same languages get the same colours).

    Example:
        >>> language_colours(["fr", "de"])["de"]
        '#2E91E5'
    """
    ordered = sorted({lang for lang in languages if lang})
    colours: dict[str | None, str] = {lang: PALETTE[i % len(PALETTE)] for i, lang in enumerate(ordered)}
    colours[None] = "#999999"
    return colours


def hover_text(point: MapPoint) -> str:
    """The hover label of a point: its number and language, then its text, HTML-escaped and wrapped.

    Example:
        >>> hover_text(MapPoint(3, "a <b> c", "en", None, 0, 0))
        '<b>#3</b> · English (en)<br>a &lt;b&gt; c'
    """
    lines = textwrap.wrap(point.text, HOVER_WIDTH) or [""]
    if len(lines) > HOVER_LINES:
        lines = lines[:HOVER_LINES - 1] + [lines[HOVER_LINES - 1] + " …"]
    body = "<br>".join(html.escape(line, quote=False) for line in lines)
    return f"<b>#{point.index}</b> · {html.escape(language_label(point.lang))}<br>{body}"


def map_figure(points: Sequence[MapPoint], title: str = "", show_translations: bool = True,
               selected: int | None = None, neighbours: Sequence[int] = (), height: int = 560,
               colours: dict[str | None, str] | None = None) -> Any:
    """A 2-D or 3-D scatter of ``points`` (3-D when they have ``z``).

    Args:
        points: the map's points (their ``index`` is the point number shown on hover).
        title: shown above the plot (the encoder's name).
        show_translations: draw a thin line through the points of each translation group.
        selected: a point number to mark (a ring and a larger marker).
        neighbours: point numbers to mark as its nearest neighbours.
        height: pixels.
        colours: language -> colour (default: :func:`language_colours` of the points).

    Returns:
        A ``plotly.graph_objects.Figure``: one trace per language (legend entries toggle them), then
        the translation lines, then the marks.

    Example:
        >>> fig = map_figure([MapPoint(0, "Hi", "en", None, 0.0, 0.0, 1.0)])
        >>> fig.data[-1].type
        'scatter3d'
    """
    import plotly.graph_objects as go

    three = bool(points) and points[0].z is not None
    colours = colours or language_colours([p.lang for p in points])
    scatter = go.Scatter3d if three else go.Scatter
    traces = []
    if show_translations:
        lines = _translation_lines(points, three)
        if lines is not None:
            traces.append(scatter(**lines, mode="lines", name="translations", hoverinfo="skip",
                                  line={"color": "rgba(120,120,120,0.35)", "width": 1 if three else 0.8}))
    by_lang: dict[str | None, list[MapPoint]] = {}
    for p in points:
        by_lang.setdefault(p.lang, []).append(p)
    size = 3 if three else 6
    for lang in sorted(by_lang, key=lambda code: (code is None, language_label(code))):
        members = by_lang[lang]
        traces.append(scatter(
            **_coords(members, three), mode="markers", name=language_label(lang),
            text=[hover_text(p) for p in members], customdata=[p.index for p in members],
            hovertemplate="%{text}<extra></extra>",
            marker={"size": size, "color": colours.get(lang, colours[None]), "opacity": 0.65,
                    "line": {"width": 0}},
        ))
    index = {p.index: p for p in points}
    marked = [index[i] for i in neighbours if i in index and i != selected]
    if marked:
        traces.append(scatter(**_coords(marked, three), mode="markers", name="neighbours", hoverinfo="skip",
                              marker={"size": size + 6, "color": "rgba(0,0,0,0)",
                                      "line": {"width": 2, "color": "#111111"}}))
    if selected is not None and selected in index:
        p = index[selected]
        traces.append(scatter(**_coords([p], three), mode="markers", name=f"#{p.index}",
                              text=[hover_text(p)], hovertemplate="%{text}<extra></extra>",
                              marker={"size": size + 10, "color": colours.get(p.lang, colours[None]),
                                      "symbol": "diamond" if three else "star",
                                      "line": {"width": 2, "color": "#111111"}}))
    figure = go.Figure(data=traces)
    axis = {"showticklabels": False, "title": None, "zeroline": False, "showgrid": True, "gridcolor": "#eeeeee"}
    layout: dict[str, Any] = {
        "title": {"text": html.escape(title), "x": 0.01, "font": {"size": 15}} if title else None,
        "height": height, "template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        "legend": {"itemsizing": "constant", "font": {"size": 11}},
        "hoverlabel": {"align": "left", "font": {"size": 12}},
        # Keeps zoom and hidden languages when the same map is redrawn (a point selected).
        "uirevision": title or "map",
    }
    if three:
        layout["scene"] = {"xaxis": axis, "yaxis": axis, "zaxis": axis}
    else:
        layout.update(xaxis=axis, yaxis=axis)
    figure.update_layout(**layout)
    return figure


def empty_figure(message: str, height: int = 560) -> Any:
    """A blank figure that shows ``message`` (before the first map, or when a map is unavailable).

    Example:
        >>> empty_figure("Draw a map").layout.annotations[0].text
        'Draw a map'
    """
    import plotly.graph_objects as go

    figure = go.Figure()
    figure.update_layout(
        height=height, template="plotly_white", margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": html.escape(message), "showarrow": False, "font": {"size": 14, "color": "#777777"},
                      "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    )
    return figure


def maps_html(figures: Sequence[Any], title: str, summary: str = "") -> str:
    """One self-contained HTML page holding ``figures`` side by side (plotly.js embedded once, so the
    page opens offline).

    Args:
        figures: plotly figures (one per encoder).
        title: the page title.
        summary: a line of plain text shown under the title (escaped here).

    Returns:
        The page's HTML.

    Example:
        >>> "<html>" in maps_html([empty_figure("x")], "map")
        True
    """
    parts = [figure.to_html(full_html=False, include_plotlyjs=(n == 0), config={"responsive": True},
                            default_height=f"{figure.layout.height or 560}px", default_width="100%")
             for n, figure in enumerate(figures)]
    cells = "".join(f'<div style="flex:1 1 0;min-width:420px">{part}</div>' for part in parts)
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title></head>"
            f"<body style=\"font-family:sans-serif;margin:16px\"><h3>{html.escape(title)}</h3>"
            f"<p>{html.escape(summary)}</p><div style=\"display:flex;gap:12px;flex-wrap:wrap\">{cells}</div>"
            "</body></html>\n")


def _coords(points: Sequence[MapPoint], three: bool) -> dict[str, list[float | None]]:
    out: dict[str, list[float | None]] = {"x": [p.x for p in points], "y": [p.y for p in points]}
    if three:
        out["z"] = [p.z for p in points]
    return out


def _translation_lines(points: Sequence[MapPoint], three: bool) -> dict[str, list[float | None]] | None:
    # One polyline per group (members in point order), separated by None so a single trace draws all.
    groups: dict[str, list[MapPoint]] = {}
    for p in points:
        if p.group:
            groups.setdefault(p.group, []).append(p)
    xs: list[float | None] = []
    ys: list[float | None] = []
    zs: list[float | None] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        for p in members:
            xs.append(p.x)
            ys.append(p.y)
            zs.append(p.z)
        xs.append(None)
        ys.append(None)
        zs.append(None)
    if not xs:
        return None
    return {"x": xs, "y": ys, "z": zs} if three else {"x": xs, "y": ys}

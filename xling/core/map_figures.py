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

import dataclasses
import html
import math
import textwrap
from collections.abc import Sequence
from typing import Any

from xling.core.projection import MapPoint
from xling.data.languages import language_label

#: Hover text is wrapped at this many characters and cut after this many lines.
HOVER_WIDTH = 60
HOVER_LINES = 6
#: Ten colours a room tells apart (the classic categorical ten, hues spread around the wheel; the
#: old 24-colour palette gave Japanese and Swedish two purples); languages past the tenth reuse them
#: with another marker shape (:data:`SYMBOLS`), so 60 languages stay distinct. Assigned in sorted
#: order, so a language keeps its colour between the two maps of a comparison and between redraws.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79")  # fmt: skip
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "cross")
#: A translation group whose points lie within this share of the map's extent of their centre is
#: drawn as a rosette: its members on a small ring around that centre, each language at its own
#: angle, so stacked translations show as many colours instead of the last-drawn one.
ROSETTE_OVERLAP = 0.015
ROSETTE_RADIUS = 0.011


def language_colours(languages: Sequence[str | None]) -> dict[str | None, str]:
    """A colour per language, assigned in sorted order (the same languages get the same colours).

    Example:
        >>> language_colours(["fr", "de"])["de"]
        '#1f77b4'
    """
    ordered = sorted({lang for lang in languages if lang})
    colours: dict[str | None, str] = {lang: PALETTE[i % len(PALETTE)] for i, lang in enumerate(ordered)}
    colours[None] = "#999999"
    return colours


def language_symbols(languages: Sequence[str | None]) -> dict[str | None, str]:
    """A marker shape per language: circles for the first ten (sorted), then squares, diamonds...

    Example:
        >>> language_symbols([f"l{i:02d}" for i in range(12)])["l11"]
        'square'
    """
    ordered = sorted({lang for lang in languages if lang})
    symbols: dict[str | None, str] = {lang: SYMBOLS[(i // len(PALETTE)) % len(SYMBOLS)] for i, lang in enumerate(ordered)}
    symbols[None] = "circle"
    return symbols


def rosettes(points: Sequence[MapPoint]) -> tuple[list[MapPoint], set[str]]:
    """``points`` as drawn: a translation group whose members sit on top of each other (within
    :data:`ROSETTE_OVERLAP` of the map's extent from their centre) gets them placed on a small ring
    around that centre, each language at a fixed angle (the same on every rosette). Returns the moved
    points (same order, ``x``/``y`` changed; 3-D points unchanged) and the groups drawn so.

    Example:
        >>> moved, groups = rosettes([MapPoint(0, "Hi", "en", "g", 0.0, 0.0), MapPoint(1, "Hallo", "de", "g", 0.0, 0.0),
        ...                           MapPoint(2, "far", "fr", None, 10.0, 10.0)])
        >>> groups, moved[0].x != moved[1].x
        ({'g'}, True)
    """
    if len(points) < 2 or points[0].z is not None:
        return list(points), set()
    xs, ys = [p.x for p in points], [p.y for p in points]
    extent = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    languages = sorted({p.lang or "" for p in points})
    angle = {lang: math.pi / 2 - 2 * math.pi * i / len(languages) for i, lang in enumerate(languages)}
    members: dict[str, list[int]] = {}
    for i, p in enumerate(points):
        if p.group:
            members.setdefault(p.group, []).append(i)
    moved, drawn = list(points), set()
    for group, rows in members.items():
        if len(rows) < 2:
            continue
        cx = sum(points[i].x for i in rows) / len(rows)
        cy = sum(points[i].y for i in rows) / len(rows)
        if max(math.hypot(points[i].x - cx, points[i].y - cy) for i in rows) > ROSETTE_OVERLAP * extent:
            continue
        drawn.add(group)
        radius = ROSETTE_RADIUS * extent
        for i in rows:
            a = angle[points[i].lang or ""]
            moved[i] = dataclasses.replace(points[i], x=cx + radius * math.cos(a), y=cy + radius * math.sin(a))
    return moved, drawn


def hover_text(point: MapPoint, stacked: Sequence[MapPoint] = ()) -> str:
    """The hover label of a point: its number and language, then its text, HTML-escaped and wrapped;
    with ``stacked`` (the other members of its rosette), a line per translation drawn around it.

    Example:
        >>> hover_text(MapPoint(3, "a <b> c", "en", None, 0, 0))
        '<b>#3</b> · English (en)<br>a &lt;b&gt; c'
    """
    lines = textwrap.wrap(point.text, HOVER_WIDTH) or [""]
    if len(lines) > HOVER_LINES:
        lines = lines[:HOVER_LINES - 1] + [lines[HOVER_LINES - 1] + " …"]
    body = "<br>".join(html.escape(line, quote=False) for line in lines)
    text = f"<b>#{point.index}</b> · {html.escape(language_label(point.lang))}<br>{body}"
    if stacked:
        shown = [f"{html.escape(p.lang or '?')}: {html.escape(textwrap.shorten(p.text, HOVER_WIDTH, placeholder=' …'))}"
                 for p in stacked[:HOVER_LINES]]
        more = f"<br>… and {len(stacked) - HOVER_LINES} more" if len(stacked) > HOVER_LINES else ""
        text += (f"<br><i>{len(stacked)} translation{'s' if len(stacked) > 1 else ''} at the same spot, "
                 f"drawn around it:</i><br>" + "<br>".join(shown) + more)
    return text


def map_figure(points: Sequence[MapPoint], title: str = "", show_translations: bool = True,
               selected: int | None = None, neighbours: Sequence[int] = (), height: int = 640,
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
    symbols = language_symbols([p.lang for p in points])
    scatter = go.Scatter3d if three else go.Scatter
    true_points = list(points)
    points, stacked_groups = rosettes(points)
    stacks: dict[str, list[MapPoint]] = {}
    for p in true_points:
        if p.group in stacked_groups:
            stacks.setdefault(p.group, []).append(p)
    traces = []
    if show_translations:  # a rosette already shows its group; lines are left for groups the map splits
        lines = _translation_lines([p for p in points if p.group not in stacked_groups], three)
        if lines is not None:
            traces.append(scatter(**lines, mode="lines", name="translations", hoverinfo="skip",
                                  line={"color": "rgba(120,120,120,0.35)", "width": 1 if three else 0.8}))
    by_lang: dict[str | None, list[MapPoint]] = {}
    for p in points:
        by_lang.setdefault(p.lang, []).append(p)
    size = 4 if three else 9
    for lang in sorted(by_lang, key=lambda code: (code is None, language_label(code))):
        members = by_lang[lang]
        traces.append(scatter(
            **_coords(members, three), mode="markers", name=language_label(lang),
            text=[hover_text(p, [q for q in stacks.get(p.group or "", ()) if q.index != p.index]) for p in members],
            customdata=[p.index for p in members], hovertemplate="%{text}<extra></extra>",
            marker={"size": size, "color": colours.get(lang, colours[None]), "symbol": symbols.get(lang, "circle"),
                    "opacity": 0.85, "line": {"width": 0.5, "color": "white"}},
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
        "title": {"text": html.escape(title), "x": 0.01, "font": {"size": 17}} if title else None,
        "height": height, "template": "plotly_white", "margin": {"l": 10, "r": 10, "t": 44 if title else 10, "b": 10},
        # Below the plot, in rows: beside it, ten language names took a third of a half-width map
        # and half of a phone's.
        "legend": {"itemsizing": "constant", "font": {"size": 14}, "orientation": "h", "x": 0, "xanchor": "left",
                   "y": -0.02, "yanchor": "top"},
        "hoverlabel": {"align": "left", "font": {"size": 13}},
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

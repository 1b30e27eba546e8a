"""The Embedding map tab: sentences of several languages as points, one or two encoders side by side.

Controls -> :func:`xling.core.projection.compute_map` (sample by translation group, embed, project,
measure) -> two numbers above the plots (cross-lingual P@1, language clustering) and plotly scatters
(:mod:`xling.core.map_figures`). A point is chosen by clicking it (a small script forwards plotly's
click, since ``gr.Plot`` has no click event) or by typing its number or words of its text; its
nearest neighbours in the full space fill the tables below. Exports: CSV of coordinates and the
TensorBoard projector's TSV files.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from xling.core import map_figures, projection
from xling.core.services import Services
from xling.data.texts import UPLOAD_SUFFIXES, TextCollection
from xling.errors import DataError, XlingError
from xling.data.languages import language_label
from xling.ui.components import ADVANCED_CLASS, encoder_picker, in_steps, language_choices, shown_errors

DEFAULT_TEXTS = projection.DEFAULT_MAP_TEXTS
NEIGHBOURS = 10
NO_COMPARISON = ""
NEIGHBOUR_HEADERS = ["#", "language", "cosine", "transl.", "text"]
_NEIGHBOUR_WIDTHS = ["8%", "16%", "12%", "10%", "54%"]

INTRO = (
    "Each sentence is a point; colours are languages. An **aligned** encoder puts translations together "
    "(languages mix), a raw masked LM groups sentences **by language**. Hover a point to read it, "
    "**click** it (or type its number below) to list its nearest neighbours; legend entries hide languages."
)
METRICS_HELP = (
    "<span class='xling-note'>**Cross-lingual P@1**: for each sentence with a translation in another chosen "
    "language, is its nearest sentence of that language a translation? Mean over language pairs; 1 = "
    "meaning aligned across languages. **Language clustering**: silhouette of the language labels on cosine "
    "distance, from −1 to 1; high = the space separates languages, near 0 = languages are mixed. Both are "
    "measured in the full vector space; the 2-D/3-D map only approximates its distances.</span>"
)

# plotly's click has no gradio event: forward it to the point box and press "Show neighbours".
_CLICK_SCRIPT = """
const hook = () => {
  document.querySelectorAll('#xling-map-plots .js-plotly-plot').forEach((gd) => {
    if (!gd.on || (gd._ev && gd._xlingHooked === gd._ev)) return;
    gd._xlingHooked = gd._ev;
    gd.on('plotly_click', (event) => {
      const point = event && event.points && event.points[0];
      if (!point || point.customdata === undefined || point.customdata === null) return;
      const box = document.querySelector('#xling-map-point textarea, #xling-map-point input');
      const button = document.querySelector('#xling-map-show');
      if (!box || !button) return;
      box.value = '#' + point.customdata;
      box.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(() => button.click(), 50);
    });
  });
};
new MutationObserver(hook).observe(document.body, {childList: true, subtree: true});
hook();
"""


def create_map_tab(services: Services) -> dict[str, gr.components.Component]:
    """Build the tab's widgets and events inside the current ``gr.Blocks``.

    The main event is ``api_name="map"``: ``(languages, max_texts, encoder, method, dims, compare,
    seed, translation_lines, upload, n_neighbors, perplexity)`` -> metrics, two plots, two tables.

    Args:
        services: shared models, corpus and cache folder.

    Returns:
        The components by name (tests and the app builder use them).
    """
    store = projection.app_store(services)
    choices, default_langs, corpus_note = _language_choices(_default_collection(services))
    gr.Markdown(INTRO)
    with gr.Row(equal_height=True):
        languages = gr.Dropdown(choices=choices, value=default_langs, multiselect=True, label="Languages",
                                info="type to search; the corpus's languages", allow_custom_value=True, scale=4)
        max_texts = gr.Slider(projection.MIN_MAP_TEXTS, projection.MAX_MAP_TEXTS, value=DEFAULT_TEXTS, step=1,
                              label="Sentences (at most)", info="drawn by whole translation groups", scale=2)
        upload = gr.File(label="Your texts (optional)", file_types=list(UPLOAD_SUFFIXES), type="filepath",
                         height=150, scale=2)
    with gr.Row(equal_height=True):
        encoder = encoder_picker(services, label="Encoder", with_mlm_pools=True)
        default_pair = projection.default_map_encoders(services)
        compare = gr.Dropdown(choices=_compare_choices(services),
                              value=default_pair[1] if len(default_pair) > 1 else NO_COMPARISON,
                              label="Compare with (optional)",
                              info="a second encoder, side by side: by default the raw masked LM, so the first "
                                   "map shows what alignment does (also before/after training)",
                              allow_custom_value=True, interactive=True)
        method = gr.Radio([(label, key) for key, label in projection.METHOD_LABELS.items()], value="umap",
                          label="Projection")
        dims = gr.Radio([("2-D", 2), ("3-D", 3)], value=2, label="Dimensions")
    with gr.Accordion("More settings", open=False, elem_classes=ADVANCED_CLASS):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, minimum=0, maximum=projection.MAX_SEED, label="Seed",
                             info="sample and projection")
            lines = gr.Checkbox(value=True, label="Lines between translations")
            n_neighbors = gr.Slider(2, 100, value=projection.default_map_params()["n_neighbors"], step=1,
                                    label="UMAP neighbours",
                                    info="more = more global structure")
            perplexity = gr.Slider(2, 100, value=projection.default_map_params()["perplexity"], step=1,
                                   label="t-SNE perplexity",
                                   info="capped below a third of the sentences")
    draw = gr.Button("Draw map", variant="primary")
    note = gr.Markdown(corpus_note, elem_classes="xling-note")
    metrics = gr.Markdown(METRICS_HELP)
    with gr.Row(elem_id="xling-map-plots"):
        plot_a = gr.Plot(map_figures.empty_figure("Choose languages and an encoder, then Draw map"),
                         label="Map", show_label=False)
        plot_b = gr.Plot(label="Comparison", show_label=False, visible=False)
    with gr.Row(equal_height=True):
        point = gr.Textbox(label="Point", placeholder="click a point, or type #12 or words of a sentence",
                           elem_id="xling-map-point", scale=4)
        show = gr.Button("Show neighbours", elem_id="xling-map-show", scale=1)
    caption = gr.Markdown()
    with gr.Row():
        table_a = gr.Dataframe(headers=NEIGHBOUR_HEADERS, label="Nearest neighbours", interactive=False, wrap=True,
                               column_widths=_NEIGHBOUR_WIDTHS, max_height=640)
        table_b = gr.Dataframe(headers=NEIGHBOUR_HEADERS, label="Nearest neighbours (comparison)",
                               interactive=False, wrap=True, visible=False, column_widths=_NEIGHBOUR_WIDTHS,
                               max_height=640)
    with gr.Row():
        with gr.Column(scale=1, min_width=220):
            export = gr.Button("Export CSV + TensorBoard TSV")
            gr.Markdown("CSV: text, lang, group, x, y[, z] per encoder. TSV: load `*-vectors.tsv` and "
                        "`metadata.tsv` at projector.tensorflow.org.", elem_classes="xling-note")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=120, scale=3)
    gr.HTML("", js_on_load=_CLICK_SCRIPT, visible="hidden")
    result = gr.State(None)

    @shown_errors
    def run_map(langs, count, encoder_name, method_name="umap", dims_value=2, compare_name=NO_COMPARISON,
                seed_value=0, show_lines=True, upload_path=None, neighbours_value=15, perplexity_value=30,
                progress=gr.Progress()):
        collection = services.collection(upload_path) if upload_path else _default_collection(services, strict=True)
        langs = [code for code in (langs or []) if code]
        if not langs and collection.languages():
            raise DataError("choose at least one language")
        params = {"n_neighbors": int(neighbours_value or 15), "perplexity": float(perplexity_value or 30)}
        # Encoding an uploaded corpus can take minutes: in steps, so it ends when the client goes away.
        mapped = yield from in_steps(
            lambda step: projection.compute_map(
                services, collection, langs, int(count or DEFAULT_TEXTS), [encoder_name, compare_name or ""],
                method_name, int(dims_value or 2), int(seed_value or 0), params, store, step),
            (gr.skip(),) * 9, lambda fraction, description: progress(fraction, desc=description))
        two = len(mapped.views) > 1
        yield (_metrics_markdown(mapped), _figure(mapped, 0, show_lines),
                gr.Plot(_figure(mapped, 1, show_lines) if two else None, visible=two),
                gr.Dataframe(value=_empty_table()), gr.Dataframe(value=_empty_table(), visible=two),
                mapped, "", "", None)

    @shown_errors
    def show_neighbours(query, mapped, show_lines):
        if mapped is None:
            raise XlingError("draw a map first")
        i = projection.find_point(mapped.sample, query)
        found = [projection.neighbours_of(mapped, i, NEIGHBOURS, view=v) for v in range(len(mapped.views))]
        tables = [_neighbour_table(neighbours) for neighbours in found]
        marks = [[n.index for n in neighbours] for neighbours in found]
        two = len(mapped.views) > 1
        return (_figure(mapped, 0, show_lines, i, marks[0]),
                gr.Plot(_figure(mapped, 1, show_lines, i, marks[1]) if two else None, visible=two),
                tables[0], gr.Dataframe(value=tables[1] if two else _empty_table(), visible=two),
                _caption(mapped, i))

    @shown_errors
    def redraw(mapped, query, show_lines):
        if mapped is None:
            return gr.skip(), gr.skip()
        try:
            i = projection.find_point(mapped.sample, query) if query else None
        except XlingError:
            i = None
        marks = [[n.index for n in projection.neighbours_of(mapped, i, NEIGHBOURS, view=v)] if i is not None else []
                 for v in range(len(mapped.views))]
        two = len(mapped.views) > 1
        return (_figure(mapped, 0, show_lines, i, marks[0]),
                gr.Plot(_figure(mapped, 1, show_lines, i, marks[1]) if two else None, visible=two))

    @shown_errors
    def export_files(mapped):
        if mapped is None:
            raise XlingError("draw a map first")
        return _write_exports(mapped, services.cache_dir / "exports")

    @shown_errors
    def corpus_changed(upload_path):
        collection = services.collection(upload_path) if upload_path else _default_collection(services)
        new_choices, defaults, text = _language_choices(collection)
        return gr.Dropdown(choices=new_choices, value=defaults), text

    draw.click(run_map, inputs=[languages, max_texts, encoder, method, dims, compare, seed, lines, upload,
                                n_neighbors, perplexity],
               outputs=[metrics, plot_a, plot_b, table_a, table_b, result, point, caption, files],
               api_name="map", concurrency_limit=2)
    neighbour_event = {"fn": show_neighbours, "inputs": [point, result, lines],
                       "outputs": [plot_a, plot_b, table_a, table_b, caption], "api_visibility": "private"}
    show.click(**neighbour_event)
    point.submit(**neighbour_event)
    lines.change(redraw, inputs=[result, point, lines], outputs=[plot_a, plot_b], api_visibility="private")
    export.click(export_files, inputs=result, outputs=files, api_visibility="private")
    upload.change(corpus_changed, inputs=upload, outputs=[languages, note], api_visibility="private")
    compare.focus(lambda current: gr.Dropdown(choices=_compare_choices(services, current)), inputs=compare,
                  outputs=compare, queue=False, api_visibility="private")
    return {"languages": languages, "max_texts": max_texts, "upload": upload, "encoder": encoder,
            "compare": compare, "method": method, "dims": dims, "seed": seed, "lines": lines,
            "n_neighbors": n_neighbors, "perplexity": perplexity, "draw": draw, "note": note,
            "metrics": metrics, "plot_a": plot_a, "plot_b": plot_b, "point": point, "show": show,
            "caption": caption, "table_a": table_a, "table_b": table_b, "export": export, "files": files,
            "result": result}


# --------------------------------------------------------------------------- helpers (values -> widgets)


def _default_collection(services: Services, strict: bool = False) -> TextCollection | None:
    try:
        return services.collection()
    except XlingError:
        if strict:
            raise
        return None


def _language_choices(collection: TextCollection | None) -> tuple[list[tuple[str, str]], list[str], str]:
    if collection is None:
        return [], [], "The default corpus could not be read; upload a file of texts."
    counts: dict[str, int] = {}
    for text in collection.texts:
        if text.lang:
            counts[text.lang] = counts.get(text.lang, 0) + 1
    choices = language_choices(counts, counts)
    defaults = projection.default_languages(collection)
    groups = "with translation groups" if collection.has_groups() else "no translation groups (P@1 needs them)"
    langs = f"in {len(counts)} languages" if counts else "without languages (all are mapped)"
    return choices, defaults, (f"Corpus: **{_md(collection.name)}**: {len(collection):,} sentences {langs}, {groups}. "
                               "Your own: TXT (a text per line) or CSV/TSV/JSONL with `text`, `lang`, `group` columns.")


def _compare_choices(services: Services, current: str | None = None) -> list[tuple[str, str]]:
    names = services.encoder_choices(with_mlm_pools=True)
    if current and current not in names:
        names.append(current)
    return [("— none —", NO_COMPARISON), *((name, name) for name in names)]


def _figure(mapped: projection.MapResult, view: int, show_lines: bool, selected: int | None = None,
            neighbours: list[int] | None = None) -> Any:
    colours = map_figures.language_colours(mapped.sample.langs)  # same colours in both plots
    v = mapped.views[view]
    title = f"{v.encoder} · {projection.METHOD_LABELS[v.method]} {v.dims}-D · {len(mapped.sample):,} sentences"
    return map_figures.map_figure(mapped.points(view), title=title, show_translations=bool(show_lines),
                                  selected=selected, neighbours=neighbours or (), colours=colours)


def _metrics_markdown(mapped: projection.MapResult) -> str:
    rows = ["| encoder | sentences | languages | cross-lingual P@1 | language clustering |",
            "|---|---:|---:|---:|---:|"]
    for v in mapped.views:
        m = v.metrics
        p_at_1 = f"**{m.p_at_1:.3f}** <small>({m.queries:,} queries, {len(m.per_pair)} pairs)</small>" \
            if m.p_at_1 is not None else "– <small>(no translations among these languages)</small>"
        silhouette = f"**{m.silhouette:.3f}**" if m.silhouette is not None else "– <small>(one language)</small>"
        rows.append(f"| {_md(v.encoder)} | {m.n_texts:,} | {m.n_languages} | {p_at_1} | {silhouette} |")
    return "\n".join(rows) + "\n\n" + METRICS_HELP


def _neighbour_table(neighbours: list[projection.Neighbour]) -> pd.DataFrame:
    return pd.DataFrame([[f"#{n.index}", language_label(n.lang), round(n.cosine, 3),
                          "✓" if n.is_translation else "", n.text] for n in neighbours],
                        columns=NEIGHBOUR_HEADERS)


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(columns=NEIGHBOUR_HEADERS)


def _caption(mapped: projection.MapResult, i: int) -> str:
    sample = mapped.sample
    translations = sum(1 for j, g in enumerate(sample.groups) if g and g == sample.groups[i] and j != i)
    return (f"Nearest neighbours of **#{i}** ({language_label(sample.langs[i])}, "
            f"{translations} translation{'s' * (translations != 1)} on the map): {_md(sample.texts[i])}")


def _write_exports(mapped: projection.MapResult, root: Path) -> list[str]:
    key = hashlib.sha1(repr((mapped.sample.key, sorted(mapped.params.items()),
                             [v.encoder for v in mapped.views])).encode()).hexdigest()[:16]
    return [str(p) for p in projection.write_map_exports(mapped, root / key)]


def _md(text: str) -> str:
    # Sentences go into Markdown: escape HTML and the characters Markdown would format.
    return re.sub(r"([\\`*_\[\]<>|~$])", r"\\\1", text)

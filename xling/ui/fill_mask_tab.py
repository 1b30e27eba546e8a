"""The "Masked prediction" tab: top-k tokens for each mask of a text, one model or two side by side.

Masks are written ``[MASK]``, ``<mask>`` or ``___``, or made by picking a word of the sentence.
All the work is :func:`xling.core.fill_mask.run_fill_mask`; this module only turns its
:class:`~xling.core.fill_mask.FillResult` into a highlighted sentence, a chart and a table.

The main event is ``/fill_mask``::

    from gradio_client import Client
    client = Client("http://127.0.0.1:7860/")
    summary, filled, chart, table, *model_b = client.predict(
        "Het bestand kan niet worden [MASK].", "xling-base", 5, "sequential", "auto", "xling-mini",
        api_name="/fill_mask")
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from xling.core.fill_mask import AUTO, MAX_MASKS, FillResult, list_words, run_fill_mask
from xling.core.services import Services
from xling.errors import XlingError
from xling.ui.components import language_choices, masked_lm_picker, shown_errors

SEQUENTIAL, INDEPENDENT = "sequential", "independent"
NO_WORD = ("(none: predict the masks written in the text)", "")
#: Words listed in the word picker; a later word can still be typed (the list is rebuilt on every keystroke).
MAX_WORD_CHOICES = 200
WORD_INFO = "the word is replaced by a mask; the result says where the model ranks it"
TABLE_HEADERS = ["mask", "rank", "token", "piece", "probability"]
#: Software messages, the corpus's own kind of text, in several languages: xling-base offers a fitting
#: verb for the first five (checkpoints/xling-base/README.md lists its answers beside xling-mini's).
#: The last two are honest failures: a German message it answers with unrelated words, and world
#: knowledge the corpus (software messages and help pages) does not hold.
EXAMPLES = [
    "Het bestand kan niet worden [MASK].",
    "Не удалось [MASK] файл.",
    "ファイルを[MASK]できません。",
    "Não foi possível [MASK] o arquivo.",
    "无法[MASK]文件。",
    "Die Datei konnte nicht [MASK] werden.",
    "Paris is the capital of [MASK].",
]
INTRO = (
    "Write a sentence with `[MASK]`, `<mask>` or `___` where a token should be predicted "
    f"(up to {MAX_MASKS}), or pick a word of the sentence to mask. One mask is one token: a long word "
    "is often several tokens, so the model can only offer its pieces."
)
_BAR_COLORS = ("#4f46e5", "#d97706")


def create_fill_mask_tab(services: Services) -> dict[str, gr.components.Component]:
    """Build the tab's components and events (main event ``/fill_mask``).

    Args:
        services: the app's shared models.

    Returns:
        The components by name (``text``, ``word``, ``model``, ``top_k``, ``mode``, ``language``,
        ``compare``, ``model_b``, ``model_b_name``, ``button``, then ``summary``/``filled``/``chart``/
        ``table`` and the same with ``_b`` for the second model's column).
    """
    gr.Markdown(INTRO, elem_classes="xling-note")
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Text", value=EXAMPLES[0], lines=3, max_lines=12,
                              placeholder="Paris is the capital of [MASK].")
            word = gr.Dropdown(choices=_word_choices(list_words(EXAMPLES[0])), value="", label="…or mask a word",
                               info=WORD_INFO, allow_custom_value=True, interactive=True)
            gr.Examples(EXAMPLES, inputs=text, label="Examples", api_visibility="private")
        with gr.Column(scale=2):
            model = masked_lm_picker(services, label="Model")
            with gr.Row():
                top_k = gr.Slider(1, 20, value=5, step=1, label="Top-k", info="candidates per mask")
                mode = gr.Radio([SEQUENTIAL, INDEPENDENT], value=SEQUENTIAL, label="Several masks",
                                info="sequential: left to right, each mask sees the earlier picks; "
                                     "independent: all at once")
            language = gr.Dropdown(choices=[AUTO], value=AUTO, label="Language",
                                   info="condition the prediction on a language (xling models with trained "
                                        "language vectors); auto = detected",
                                   allow_custom_value=True, interactive=True)
            default_b = default_model_b(services)
            compare = gr.Checkbox(label="Compare with a second model", value=bool(default_b))
            with gr.Column(visible=bool(default_b)) as model_b_box:
                model_b = masked_lm_picker(services, label="Model B",
                                           value=default_b or _second(services.masked_lm_choices()))
            # What the main event reads as "model B": the picker's value, or "" when not comparing.
            model_b_name = gr.Textbox(value=default_b, visible=False, label="Model B (empty: no comparison)")
            button = gr.Button("Predict", variant="primary")

    with gr.Row():
        with gr.Column():
            summary = gr.Markdown()
            filled = gr.HighlightedText(label="Filled text (best choice per mask)", show_legend=False,
                                        combine_adjacent=False)
            chart = gr.Plot(label="Top-k per mask")
            table = gr.Dataframe(headers=TABLE_HEADERS, label="Candidates", interactive=False, wrap=True)
        with gr.Column(visible=bool(default_b)) as column_b:
            summary_b = gr.Markdown()
            filled_b = gr.HighlightedText(label="Filled text, model B", show_legend=False, combine_adjacent=False)
            chart_b = gr.Plot(label="Top-k per mask, model B")
            table_b = gr.Dataframe(headers=TABLE_HEADERS, label="Candidates, model B", interactive=False, wrap=True)

    @shown_errors
    def predict(text: str, model: str, top_k: float, mode: str, language: str, model_b: str = "",
                word: str = "") -> tuple[Any, ...]:
        options = {"k": int(top_k), "sequential": mode != INDEPENDENT, "language": language or AUTO,
                   "word": _word_index(text, word)}
        first = run_fill_mask(services, text, model, **options)
        second = run_fill_mask(services, text, model_b, **options) if (model_b or "").strip() else None
        shown_b = _show(second, _BAR_COLORS[1]) if second else _empty()
        return (*_show(first, _BAR_COLORS[0]), *shown_b, gr.Column(visible=second is not None))

    def refresh_words(text_value: str) -> gr.Dropdown:
        words = list_words(text_value or "")
        if len(words) > MAX_WORD_CHOICES:
            info = (f"{WORD_INFO}. The first {MAX_WORD_CHOICES:,} of {len(words):,} words are listed; "
                    "type a later word to mask it")
        else:
            info = WORD_INFO
        return gr.Dropdown(choices=_word_choices(words), value="", info=info)

    @shown_errors
    def refresh_languages(name: str, current: str) -> gr.Dropdown:
        try:
            codes = services.masked_lm(name).languages
        except XlingError:  # an unknown model: the prediction will say so
            codes = []
        return gr.Dropdown(choices=_language_choices(codes), value=current if current in codes else AUTO)

    def toggle_compare(on: bool, name: str) -> tuple[Any, Any, str]:
        return gr.Column(visible=on), gr.Column(visible=on), name if on else ""

    def choose_model_b(on: bool, name: str) -> str:
        return name if on else ""

    inputs = [text, model, top_k, mode, language, model_b_name, word]
    outputs = [summary, filled, chart, table, summary_b, filled_b, chart_b, table_b, column_b]
    # One queue for the three ways to predict; a request is ~80 ms of one core, so 4 at a time (as
    # /detect) keeps a crowd moving without oversubscribing 2 cores.
    queue = {"concurrency_limit": 4, "concurrency_id": "fill_mask"}
    button.click(predict, inputs=inputs, outputs=outputs, api_name="fill_mask", **queue)
    text.submit(predict, inputs=inputs, outputs=outputs, api_visibility="private", **queue)
    word.input(predict, inputs=inputs, outputs=outputs, api_visibility="private", **queue)
    text.change(refresh_words, inputs=text, outputs=word, queue=False, api_visibility="private")
    language.focus(refresh_languages, inputs=[model, language], outputs=language, api_visibility="private")
    model.change(refresh_languages, inputs=[model, language], outputs=language, api_visibility="private")
    compare.change(toggle_compare, inputs=[compare, model_b], outputs=[model_b_box, column_b, model_b_name],
                   queue=False, api_visibility="private")
    model_b.change(choose_model_b, inputs=[compare, model_b], outputs=model_b_name, queue=False,
                   api_visibility="private")
    return {
        "text": text, "word": word, "model": model, "top_k": top_k, "mode": mode, "language": language,
        "compare": compare, "model_b": model_b, "model_b_name": model_b_name, "button": button,
        "summary": summary, "filled": filled, "chart": chart, "table": table,
        "summary_b": summary_b, "filled_b": filled_b, "chart_b": chart_b, "table_b": table_b,
    }


# --------------------------------------------------------------------------- records -> widgets


def _show(result: FillResult, color: str) -> tuple[Any, ...]:
    return _summary(result), _highlighted(result), candidates_figure(result, color), _table(result)


def _empty() -> tuple[Any, ...]:
    return "", None, None, None


def _summary(result: FillResult) -> str:
    masks = f"{result.n_masks} mask{'s' * (result.n_masks != 1)}"
    if result.n_masks > 1:
        masks += ", filled left to right" if result.sequential else ", predicted independently"
    lines = [f"**{result.model}** · {masks}", f"Language: {_language_line(result)}"]
    for prediction in result.masks:
        original = prediction.original
        if original is None:
            continue
        pieces = " · ".join(original.pieces)
        if original.rank is None:
            lines.append(f"The masked word **{original.word}** is {len(original.pieces)} tokens for this model "
                         f"({pieces}); one mask predicts one token, so it cannot be a candidate.")
        else:
            lines.append(f"The masked word **{original.word}** ({pieces}) is the model's choice "
                         f"#{original.rank:,} (p = {original.probability:.4f}).")
    lines += [f"_{note}_" for note in result.notes]
    return "\n\n".join(lines)


def _language_line(result: FillResult) -> str:
    detected = result.detected
    found = f"detected **{detected.code}** ({detected.probability:.2f}, {detected.source})" if detected else ""
    if result.language_used:
        used = f"conditioned on **{result.language_used}**"
        return f"{used}; {found}" if found and detected.code == result.language_used else used
    return f"none (unconditioned){'; ' + found if found else ''}"


def _highlighted(result: FillResult) -> list[tuple[str, str | None]]:
    labels = {p.position: p.best for p in result.masks}
    shown = []
    for piece, number in result.segments:
        if number is None or number not in labels:
            shown.append((piece, None))
        else:  # an empty insertion (a bare "▁") is shown by its piece, or it would vanish
            best = labels[number]
            shown.append((piece if piece.strip() else (piece + best.label), str(number + 1)))
    return shown


def _table(result: FillResult) -> Any:
    import pandas as pd

    rows = [[p.position + 1, rank, c.label, c.piece, round(c.probability, 4)]
            for p in result.masks for rank, c in enumerate(p.candidates, start=1)]
    return pd.DataFrame(rows, columns=TABLE_HEADERS)


def candidates_figure(result: FillResult, color: str = _BAR_COLORS[0]) -> Any:
    """A plotly figure: one horizontal bar panel per mask, best candidate on top.

    Args:
        result: what :func:`~xling.core.fill_mask.fill_masks` returned.
        color: the bars' colour.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    from plotly.subplots import make_subplots

    masks = result.masks
    columns = min(len(masks), 3) or 1
    rows = (len(masks) + columns - 1) // columns or 1
    titles = [f"mask {p.position + 1}" for p in masks]
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.12,
                           vertical_spacing=0.3 / rows)
    k = max((len(p.candidates) for p in masks), default=1)
    for index, prediction in enumerate(masks):
        # Bars keyed by rank: the same token in two panels is not merged, and duplicates stay apart.
        ranks = [f"{rank}. {c.label}" for rank, c in enumerate(prediction.candidates, start=1)]
        figure.add_bar(x=[c.probability for c in prediction.candidates], y=ranks, orientation="h",
                       marker_color=color, text=[f"{c.probability:.3f}" for c in prediction.candidates],
                       textposition="auto", hovertemplate="%{y}: %{x:.4f}<extra></extra>",
                       row=index // columns + 1, col=index % columns + 1)
    figure.update_yaxes(autorange="reversed", automargin=True)
    figure.update_xaxes(rangemode="tozero", tickformat=".3f", nticks=6)
    figure.update_layout(showlegend=False, height=max(260, rows * (60 + 24 * k)),
                         margin={"l": 10, "r": 10, "t": 64, "b": 20})
    return figure


# --------------------------------------------------------------------------- widget values


def _word_choices(words: list[str]) -> list[tuple[str, str]]:
    return [NO_WORD] + [(f"{i + 1}. {w}", str(i)) for i, w in enumerate(words[:MAX_WORD_CHOICES])]


def _word_index(text: str, value: str | None) -> int | None:
    """The picked word as an index: the dropdown gives one; an API caller may type the word."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return int(value)
    words = list_words(text or "")
    if value not in words:
        raise gr.Error(f"{value!r} is not a word of the text", print_exception=False)
    return words.index(value)


def _language_choices(codes: list[str]) -> list[str | tuple[str, str]]:
    return [AUTO, *language_choices(codes)]


def default_model_b(services: Services) -> str:
    """The tab's model B on first load: ``AppConfig.compare_masked_lm`` when it is installed and is
    not the default model itself, else ``""`` (one model)."""
    wanted = services.config.compare_masked_lm
    if not wanted or wanted == services.config.masked_lm or wanted not in services.masked_lm_choices():
        return ""
    return wanted


def _second(choices: list[str]) -> str:
    return choices[1] if len(choices) > 1 else choices[0]

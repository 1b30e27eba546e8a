"""The Language detection tab: a model's language-ID head beside a reference detector (fastText
lid.176, py3langid or eld), for one text (with per-sentence labels for mixed text) or a whole
uploaded file.

Events: ``/detect`` (text, model, reference) and ``/detect_batch`` (file, model, reference);
``reference`` is one of :data:`~xling.core.detectors.REFERENCE_DETECTORS` and may be left out
(fastText).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from xling.core.detection import (
    MAX_TEXT_CHARS,
    TRAIN_HINT,
    DetectionResult,
    LabelledSpan,
    LanguageGuess,
    TextAnalysis,
    analyse_text,
    detect_batches,
    detectors_for,
    guesses_figure,
    summarise,
)
from xling.core.detectors import FASTTEXT, REFERENCE_DETECTORS, detector_label
from xling.core.services import Services
from xling.data.languages import language_name
from xling.data.spreadsheet import SpreadsheetWriter
from xling.ui.components import ADVANCED_CLASS, download_path, masked_lm_picker, shown_errors

#: Clickable examples: (label, text). Natural sentences in many scripts, and one mixed text.
EXAMPLES = [
    ("German · Latin", "Wir treffen uns morgen früh am Bahnhof und fahren dann gemeinsam in die Berge."),
    ("Portuguese · Latin", "Amanhã vamos almoçar na casa dos meus avós, perto do rio."),
    ("Russian · Cyrillic", "Вчера вечером мы долго гуляли по набережной и разговаривали о книгах."),
    ("Ukrainian · Cyrillic", "Моя бабуся щонеділі пече смачний хліб із кмином."),
    ("Greek", "Το καλοκαίρι πηγαίνουμε συχνά για κολύμπι στη θάλασσα."),
    ("Arabic", "أحب أن أقرأ كتابًا جيدًا مع فنجان من القهوة في الصباح."),
    ("Hebrew", "אנחנו גרים בדירה קטנה ליד הים בתל אביב."),
    ("Hindi · Devanagari", "मुझे बारिश के मौसम में गरम चाय पीना बहुत पसंद है।"),
    ("Japanese", "駅の近くに新しいパン屋さんができたので、週末に行ってみます。"),
    ("Chinese", "这家小餐馆的饺子非常好吃，我们每个星期都来。"),
    ("Korean · Hangul", "주말에는 친구들과 함께 한강 공원에서 자전거를 탔어요."),
    ("Thai", "ฉันชอบกินข้าวเหนียวมะม่วงในฤดูร้อน"),
    ("Georgian", "თბილისი საქართველოს დედაქალაქია და ძალიან ლამაზი ქალაქია."),
    ("Mixed: de · ja · en · ru", "Ich komme gleich, warte bitte kurz. 今日はとても暑いですね。 "
                                  "Let's get ice cream after work!\nКупи, пожалуйста, молоко."),
]
INTRO = (
    "The picked model's **language-ID head** (trained jointly with masked-LM) beside a reference detector: "
    "**fastText lid.176** (176 languages), **py3langid** (a langid.py fork, 140) or **eld** (60). "
    "Mixed text is cut into sentences and script runs, each labelled on its own."
)
#: How the picker and the chart title each reference detector (elsewhere: ``detector_label``).
_TITLES = {FASTTEXT: "fastText lid.176"}
REFERENCE_HELP = "the detector shown beside the model; eld's scores are shares of its n-gram score, not probabilities"
#: Rows shown in the batch table; the CSV download always has every row.
SHOWN_ROWS = 1000
#: Texts per batch of a file's detection (and between two chances to stop when the client has gone).
BATCH = 128
_PALETTE = ["#6366f1", "#f59e0b", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#84cc16", "#ec4899",
            "#14b8a6", "#f97316", "#64748b", "#eab308"]


def create_detect_tab(services: Services) -> dict[str, gr.components.Component]:
    """Build the tab inside the current ``gr.Tab``.

    Args:
        services: shared models (the masked-LM picker lists its checkpoints).

    Returns:
        The tab's components by name (``text``, ``model``, ``reference``, ``detect``, ``verdict``, ...).
    """
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            gr.Markdown(INTRO)
        with gr.Column(scale=2, min_width=260):
            model = masked_lm_picker(services)
            # Only the listed names: the dropdown refuses any other value before a handler runs.
            reference = gr.Dropdown(choices=[(_title(name), name) for name in REFERENCE_DETECTORS], value=FASTTEXT,
                                    label="Reference detector", info=REFERENCE_HELP, interactive=True)
    with gr.Tabs():
        with gr.Tab("Text"):
            text = gr.Textbox(label="Text", lines=4, max_lines=14, autofocus=True,
                              placeholder="Type or paste text in any language, or several languages at once",
                              info=f"The first {MAX_TEXT_CHARS:,} characters are read; the model itself sees "
                                   "about 128 word pieces, fastText and py3langid the whole text, eld ~350 bytes.")
            with gr.Row():
                detect = gr.Button("Detect language", variant="primary", scale=0, min_width=200)
                clear = gr.ClearButton(value="Clear", scale=0, min_width=100)
            gr.Examples(examples=[[t] for _, t in EXAMPLES], example_labels=[label for label, _ in EXAMPLES],
                        inputs=text, label="Examples (click one)", examples_per_page=len(EXAMPLES),
                        api_visibility="private")
            verdict = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    chart = gr.Plot(label="Top-5 languages", show_label=True)
                with gr.Column(scale=2):
                    top = gr.Dataframe(label="Top-5", interactive=False, wrap=True)
            gr.Markdown("#### Language of each sentence and script run")
            model_spans = gr.HighlightedText(label="Model", show_legend=True, combine_adjacent=False,
                                             show_inline_category=True)
            reference_spans = gr.HighlightedText(label=_title(FASTTEXT), show_legend=True,
                                                 show_inline_category=True)
            with gr.Accordion("Spans as a table", open=False, elem_classes=ADVANCED_CLASS):
                spans = gr.Dataframe(interactive=False, wrap=True)
        with gr.Tab("File (batch)"):
            gr.Markdown("One text per line in a **.txt**, or a **.csv / .tsv / .jsonl** with a `text` column. "
                        "With a `lang` column too, both detectors' accuracy is reported.",
                        elem_classes="xling-note")
            with gr.Row():
                upload = gr.File(label="Texts file", file_types=[".txt", ".csv", ".tsv", ".jsonl"],
                                 type="filepath", scale=3, elem_id="detect-upload")
                with gr.Column(scale=1, min_width=200):
                    detect_file = gr.Button("Detect all", variant="primary")
                    download = gr.DownloadButton("Download CSV", visible=False)
            summary = gr.Markdown()
            results = gr.Dataframe(interactive=False, wrap=True, max_height=600)

    outputs = [verdict, chart, top, model_spans, reference_spans, spans]
    clear.add([text, *outputs])
    detect.click(functools.partial(_detect, services), inputs=[text, model, reference], outputs=outputs,
                 api_name="detect", concurrency_limit=4)
    detect_file.click(functools.partial(_detect_file, services), inputs=[upload, model, reference],
                      outputs=[summary, results, download], api_name="detect_batch", concurrency_limit=1)
    return {"model": model, "reference": reference, "text": text, "detect": detect, "verdict": verdict,
            "chart": chart, "top": top, "model_spans": model_spans, "reference_spans": reference_spans, "spans": spans, "upload": upload,
            "detect_file": detect_file, "summary": summary, "results": results, "download": download}


# --------------------------------------------------------------------------- one text


@shown_errors
def _detect(services: Services, text: str, name: str, reference_name: str | None = None) -> tuple[Any, ...]:
    head, reference = detectors_for(services, name, reference_name)
    analysis = analyse_text(text, head, reference)
    return _show_analysis(analysis, _short(name or services.config.masked_lm))


def _title(reference: str) -> str:
    return _TITLES.get(reference, detector_label(reference))


def _show_analysis(analysis: TextAnalysis, model_name: str) -> tuple[Any, ...]:
    result = analysis.result
    has_head = bool(result.model_top)
    # One colour map for both views, so a language looks the same in each.
    colours = _colours([*analysis.model_spans, *analysis.reference_spans])
    figure = guesses_figure(result, model_label=model_name, reference_label=_title(result.reference))
    return (
        _verdict(analysis, model_name),
        figure,
        _top_table(result, model_name),
        gr.HighlightedText(value=_highlighted(result.text, analysis.model_spans),
                           color_map=_legend(colours, analysis.model_spans), label=f"Model: {model_name}",
                           visible=has_head),
        gr.HighlightedText(value=_highlighted(result.text, analysis.reference_spans),
                           color_map=_legend(colours, analysis.reference_spans), label=_title(result.reference)),
        _sized(_spans_table(analysis, model_name)),
    )


def _verdict(analysis: TextAnalysis, model_name: str) -> str:
    result = analysis.result
    model, reference = result.model_best, result.reference_best
    said = detector_label(result.reference)
    languages = analysis.languages()
    agreement = analysis.spans_agreement()
    if len(languages) > 1:  # a mixed text: the whole-text answers mean little, the spans say it
        names = " · ".join(language_name(code) for code in languages)
        head = f"**Mixed text in {len(languages)} languages**: {names}."
        if agreement is None:
            lines = [f"ℹ️ {head} ({said}; {model_name} has no language-ID head.)"]
        elif agreement[0] == agreement[1]:
            every = "both" if agreement[1] == 2 else f"all {agreement[1]}"
            lines = [f"✅ {head} {model_name} and {said} agree on {every} spans."]
        else:
            lines = [f"⚠️ {head} {model_name} and {said} disagree on {agreement[1] - agreement[0]} of "
                     f"{agreement[1]} spans; see them below."]
        if result.note:
            lines.append(f"*{result.note}*")
        return "\n\n".join(lines)
    if model is None:
        lines = [f"ℹ️ **{model_name} has no language-ID head**, so only {said} answers here: "
                 f"**{_said(reference)}**. To detect languages with your own model, {TRAIN_HINT}."]
    elif result.outside_model:  # the head cannot be right: say so before its confident number
        lines = [f"ℹ️ **{said} says {_said(reference)}**, a language {model_name} was not trained on: its "
                 f"answer, {_said(model)}, is only the closest of the languages it knows."]
    elif result.agree:
        lines = [f"✅ **Both say {model.label}**: {model_name} {model.prob:.1%}, {said} {reference.prob:.1%}."]
    else:
        lines = [f"⚠️ **They disagree**: {model_name} says **{_said(model)}**, {said} says **{_said(reference)}**."]
    if result.note:
        lines.append(f"*{result.note}*")
    return "\n\n".join(lines)


def _said(guess: LanguageGuess | None) -> str:
    return "nothing" if guess is None else f"{guess.label}, {guess.prob:.1%}"


def _top_table(result: DetectionResult, model_name: str) -> pd.DataFrame:
    rows = []
    for rank in range(max(len(result.model_top), len(result.reference_top))):
        row: list[Any] = []
        for guesses in ([result.model_top] if result.model_top else []) + [result.reference_top]:
            guess = guesses[rank] if rank < len(guesses) else None
            row += [guess.label, f"{guess.prob:.1%}"] if guess else ["", ""]
        rows.append(row)
    headers = ([model_name, "p"] if result.model_top else []) + [detector_label(result.reference), "p "]
    return pd.DataFrame(rows, columns=headers)


def _highlighted(text: str, spans: Sequence[LabelledSpan]) -> dict[str, Any]:
    entities = [{"entity": s.guess.label, "start": s.span.start, "end": s.span.end}
                for s in spans if s.guess is not None]
    return {"text": text, "entities": entities}


def _colours(spans: Sequence[LabelledSpan]) -> dict[str, str]:
    # One colour per language, the same in both views, in order of first appearance.
    labels = dict.fromkeys(s.guess.label for s in spans if s.guess is not None)
    return {label: _PALETTE[i % len(_PALETTE)] for i, label in enumerate(labels)}


def _legend(colours: dict[str, str], spans: Sequence[LabelledSpan]) -> dict[str, str]:
    # Each view's legend lists only the languages it shows.
    shown = {s.guess.label for s in spans if s.guess is not None}
    return {label: colour for label, colour in colours.items() if label in shown}


def _spans_table(analysis: TextAnalysis, model_name: str) -> pd.DataFrame:
    rows = []
    for i, ref in enumerate(analysis.reference_spans):
        mod = analysis.model_spans[i] if analysis.model_spans else None
        row: list[Any] = [ref.span.script or "-"]
        if mod is not None:
            row += [_cell(mod.guess)]
        row += [_cell(ref.guess)]
        if mod is not None:
            row += [_agree_mark(mod.guess.lang == ref.guess.lang if mod.guess and ref.guess else None)]
        rows.append(row + [ref.span.text])
    headers = ["script"] + ([model_name] if analysis.model_spans else []) + [detector_label(analysis.result.reference)] \
        + (["agree"] if analysis.model_spans else []) + ["span"]
    return pd.DataFrame(rows, columns=headers)


def _sized(table: pd.DataFrame) -> gr.Dataframe:
    # Narrow columns for short marks, room for language labels, the rest for the text (last column).
    narrow = {"gold": 6, "agree": 6, "script": 9}
    widths = [narrow.get(str(column), 20) for column in table.columns[:-1]]
    return gr.Dataframe(value=table, column_widths=[f"{w}%" for w in widths] + [f"{max(100 - sum(widths), 20)}%"])


def _cell(guess: LanguageGuess | None) -> str:
    return "-" if guess is None else f"{guess.label} {guess.prob:.0%}"


def _agree_mark(agree: bool | None) -> str:
    return "–" if agree is None else ("✓" if agree else "✗")


def _short(name: str) -> str:
    # A checkpoint path is shown by its folder name.
    return Path(name).name if "/" in name and Path(name).expanduser().exists() else name


# --------------------------------------------------------------------------- a file


@shown_errors
def _detect_file(services: Services, path: str | None, name: str, reference_name: str | None = None,
                 progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:  # noqa: B008 (gradio's idiom)
    """A generator: it yields after each batch, so when the client cancels or goes away gradio stops
    iterating and the work ends after the current batch, holding its concurrency slot until then."""
    if not path:
        raise gr.Error("Upload a .txt, .csv, .tsv or .jsonl file first.", print_exception=False)
    collection = services.collection(path)
    head, reference = detectors_for(services, name, reference_name)
    said = detector_label(reference.name)
    texts = [t.text for t in collection.texts]
    gold = [t.lang for t in collection.texts]
    progress(0, desc=f"Detecting {len(texts):,} texts")
    found: list[DetectionResult] = []
    for batch in detect_batches(texts, head, reference, batch_size=BATCH):
        found += batch
        progress(len(found) / len(texts), desc=f"{len(found):,} / {len(texts):,} texts")
        yield f"Detecting… {len(found):,} of {len(texts):,} texts", gr.skip(), gr.skip()
    report = summarise(found, gold)
    model_name = _short(name or services.config.masked_lm)
    csv_path = _write_csv(services.cache_dir / "detect", Path(path).stem, found, gold, model_name, reference.name)
    lines = [f"**{report.n:,} texts** from {collection.name}."]
    if head is None:
        lines.append(f"ℹ️ {model_name} has no language-ID head, so only {said} answers; {TRAIN_HINT}.")
    else:
        lines.append(f"{model_name} and {said} agree on **{report.agreement:.1%}** of the texts.")
    if report.n_gold:
        scores = ([f"{model_name} **{report.model_accuracy:.1%}**"] if report.model_accuracy is not None else []) \
            + [f"{said} **{report.reference_accuracy:.1%}**"]
        lines.append(f"Accuracy against the file's `lang` column ({report.n_gold:,} texts): {', '.join(scores)}.")
    if report.n > SHOWN_ROWS:
        lines.append(f"*The table shows the first {SHOWN_ROWS:,} rows; the CSV has all {report.n:,}.*")
    table = _batch_table(found[:SHOWN_ROWS], gold[:SHOWN_ROWS], model_name if head else None, said)
    yield "\n\n".join(lines), _sized(table), gr.DownloadButton(value=str(csv_path), visible=True)


def _batch_table(found: Sequence[DetectionResult], gold: Sequence[str | None], model_name: str | None,
                 reference_label: str) -> pd.DataFrame:
    # The short label columns first, the text last: it takes the width that is left.
    with_gold = any(gold)
    rows = []
    for result, lang in zip(found, gold):
        row: list[Any] = [lang or ""] if with_gold else []
        if model_name:
            row += [_cell(result.model_best)]
        row += [_cell(result.reference_best)]
        if model_name:
            row.append(_agree_mark(result.agree))
        rows.append(row + [result.text])
    headers = (["gold"] if with_gold else []) + ([model_name] if model_name else []) + [reference_label] \
        + (["agree"] if model_name else []) + ["text"]
    return pd.DataFrame(rows, columns=headers)


def _write_csv(folder: Path, stem: str, found: Sequence[DetectionResult], gold: Sequence[str | None],
               model_name: str, reference: str) -> Path:
    # The reference's columns go by its name, as in the JSON of `xling detect`: fasttext_lang, eld_lang, ...
    path = download_path(folder, f"{stem[:60] or 'texts'}-languages")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = SpreadsheetWriter(handle)
        writer.writerow(["text", "gold_lang", "model", "model_lang", "model_language", "model_prob",
                         f"{reference}_lang", f"{reference}_language", f"{reference}_prob", "agree"])
        for result, lang in zip(found, gold):
            model, reference = result.model_best, result.reference_best
            writer.writerow([
                result.text, lang or "", model_name,
                *(_csv_guess(model)), *(_csv_guess(reference)),
                "" if result.agree is None else str(result.agree).lower(),
            ])
    return path


def _csv_guess(guess: LanguageGuess | None) -> list[str]:
    return ["", "", ""] if guess is None else [guess.lang, guess.name, f"{guess.prob:.4f}"]

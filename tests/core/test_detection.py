from __future__ import annotations

import pytest

from xling.core.detection import (
    DetectionResult,
    LanguageGuess,
    analyse_text,
    clip_text,
    detect_many,
    detect_text,
    detectors_for,
    guesses_figure,
    label_spans,
    missing_head_message,
    summarise,
)
from xling.core.detectors import ELD, FASTTEXT, PY3LANGID, REFERENCE_DETECTORS
from xling.core.spans import script_of, split_spans
from xling.data.languages import language_name
from xling.errors import DataError, ModelLoadError

MIXED = "Ich komme gleich, warte bitte kurz. 今日はとても暑いですね。"


@pytest.fixture(scope="module")
def tiny_head(tiny_services):
    head, _ = detectors_for(tiny_services, "tiny-xling")
    return head


def _texts(spans):
    return [s.text for s in spans]


# --------------------------------------------------------------------------- names and clipping


def test_language_names_come_from_cldr_with_fallbacks():
    assert language_name("de") == "German"
    assert language_name("el") == "Greek"
    assert language_name("nb") == "Norwegian Bokmål"
    assert language_name("als") == "Alemannic German"  # lid.176's Wikipedia code, not Tosk Albanian
    assert language_name("zz") == "zz"
    assert LanguageGuess("ka", "Georgian", 0.5).label == "Georgian (ka)"
    assert LanguageGuess("zz", "zz", 0.5).label == "zz"


def test_clip_text_cuts_at_a_space_and_reports_the_length():
    assert clip_text("short", 10) == ("short", 5)
    clipped, length = clip_text("word " * 100, 42)
    assert length == 500 and len(clipped) <= 42 and clipped.endswith("word")


# --------------------------------------------------------------------------- spans


def test_script_of_groups_han_and_kana():
    assert [script_of(c) for c in "aЖλ中かカ한กა1 "] == [
        "Latin", "Cyrillic", "Greek", "Han", "Han", "Han", "Hangul", "Thai", "Georgian", None, None]


def test_split_spans_cuts_sentences_newlines_and_cjk_stops():
    text = "Guten Tag! Wie geht's?\nBien, merci. 今日は暑いです。明日は雨です。"
    assert _texts(split_spans(text)) == ["Guten Tag!", "Wie geht's?", "Bien, merci.", "今日は暑いです。", "明日は雨です。"]


def test_split_spans_cuts_at_script_changes_but_keeps_loan_words():
    assert _texts(split_spans("Привет, как дела, my dear friend")) == ["Привет, как дела,", "my dear friend"]
    assert _texts(split_spans("私はiPhoneを使っています")) == ["私はiPhoneを使っています"]
    assert _texts(split_spans("Ich mag 寿司 sehr gern und oft")) == ["Ich mag 寿司 sehr gern und oft"]


def test_split_spans_keeps_abbreviations_and_offsets():
    text = "  Das ist z.B. gut. ok 123 😀\n\nNeue Zeile hier  "
    spans = split_spans(text)
    assert _texts(spans) == ["Das ist z.B. gut. ok 123 😀", "Neue Zeile hier"]
    assert all(text[s.start:s.end] == s.text for s in spans)
    assert split_spans(" \n ") == []
    assert split_spans("12:30 😀")[0].script is None


# --------------------------------------------------------------------------- whole texts


def test_detect_text_with_fasttext_only(fasttext_detector):
    result = detect_text("Der Hund spielt im Garten mit dem Ball.", None, fasttext_detector, k=3)
    assert result.model_top == () and result.agree is None
    assert result.reference_best.lang == "de" and result.reference_best.name == "German"
    assert 1 <= len(result.reference_top) <= 3
    probs = [g.prob for g in result.reference_top]
    assert probs == sorted(probs, reverse=True)


def test_detect_text_with_an_untrained_head(tiny_head, fasttext_detector):
    result = detect_text("Die Katze schläft auf dem Sofa.", tiny_head, fasttext_detector)
    assert len(result.model_top) == 5  # the tiny head knows 7 languages
    assert {g.lang for g in result.model_top} <= {"de", "en", "es", "fr", "ja", "ru", "zh"}
    assert all(0.0 <= g.prob <= 1.0 for g in result.model_top)
    assert sum(g.prob for g in result.model_top) <= 1.0 + 1e-5
    assert result.agree == (result.model_top[0].lang == "de")


def test_detect_text_says_when_fasttext_answers_a_language_the_model_lacks(tiny_head, fasttext_detector):
    result = detect_text("주말에는 친구들과 함께 한강 공원에서 자전거를 탔어요.", tiny_head, fasttext_detector)
    assert result.reference_best.lang == "ko" and result.agree is False
    assert "Korean (ko)" in result.note and "7 languages" in result.note


@pytest.mark.parametrize("text", ["", "   \n\t ", None])
def test_detect_text_refuses_empty_text(text, fasttext_detector):
    with pytest.raises(DataError, match="empty"):
        detect_text(text, None, fasttext_detector)


def test_very_long_text_is_cut_with_a_note(fasttext_detector):
    text = " ".join(["Das ist ein sehr langer Satz."] * 3500)
    result = detect_text(text, None, fasttext_detector)
    assert len(text) == 104_999 and len(result.text) <= 5000
    assert "cut to its first" in result.note and "104,999" in result.note
    assert result.reference_best.lang == "de"


def test_labelled_spans_of_mixed_text(fasttext_detector, tiny_head):
    labelled = label_spans(MIXED + " 12:30", fasttext_detector)
    assert [s.guess.lang if s.guess else None for s in labelled] == ["de", "ja", None]
    analysis = analyse_text(MIXED, tiny_head, fasttext_detector)
    assert [s.span for s in analysis.model_spans] == [s.span for s in analysis.reference_spans]
    assert all(s.guess is not None for s in analysis.model_spans)
    assert analyse_text(MIXED, None, fasttext_detector).model_spans == []
    assert analysis.to_dict()["spans"]["fasttext"][1]["lang"] == "ja"


# --------------------------------------------------------------------------- batches


def test_detect_many_keeps_order_and_reports_progress(tiny_head, fasttext_detector, parallel):
    texts = [row[lang] for row in parallel[:3] for lang in ("de", "fr", "ja")] + ["  "]
    seen = []
    results = detect_many(texts, tiny_head, fasttext_detector, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 10), (8, 10), (10, 10)]
    assert [r.reference_best.lang for r in results[:3]] == ["de", "fr", "ja"]
    assert all(len(r.model_top) == 1 for r in results[:-1])
    assert results[-1].model_top == () and results[-1].reference_top == () and results[-1].agree is None
    with pytest.raises(DataError):
        detect_many([], tiny_head, fasttext_detector)


def test_summarise_counts_agreement_and_accuracy():
    de, nl = LanguageGuess("de", "German", 0.9), LanguageGuess("nl", "Dutch", 0.8)
    results = [DetectionResult("a", (de,), (de,), True), DetectionResult("b", (de,), (nl,), False),
               DetectionResult("c", (), (), None)]
    report = summarise(results, ["de", "nl", None])
    assert (report.n, report.agreement, report.n_gold) == (3, 0.5, 2)
    assert (report.model_accuracy, report.reference_accuracy) == (0.5, 1.0)
    assert summarise(results).n_gold == 0
    no_model = summarise([DetectionResult("a", (), (de,), None)], ["de"])
    assert no_model.agreement is None and no_model.model_accuracy is None and no_model.reference_accuracy == 1.0


def test_figure_groups_both_detectors_over_the_union_of_languages():
    de, nl, en = LanguageGuess("de", "German", .9), LanguageGuess("nl", "Dutch", .05), LanguageGuess("en", "English", .7)
    figure = guesses_figure(DetectionResult("x", (de, nl), (en, de), False), model_label="m")
    model = next(trace for trace in figure.data if trace.name == "m")
    assert sorted(trace.name for trace in figure.data) == ["fastText lid.176", "m"]
    assert list(model.y) == ["Dutch (nl)", "English (en)", "German (de)"]  # most probable on top
    assert list(model.x) == [.05, None, .9]
    assert len(guesses_figure(DetectionResult("x", (), (en,), None)).data) == 1


def test_detectors_for_a_model_with_and_without_a_head(tiny_services):
    head, reference = detectors_for(tiny_services, "tiny-xling")
    assert head is not None and reference.name == "fasttext"
    assert detectors_for(tiny_services, "tiny-mlm")[0] is None
    assert "Fine-tune tab" in missing_head_message("tiny-mlm")



# --------------------------------------------------------------------------- reference detectors


@pytest.mark.parametrize("name", REFERENCE_DETECTORS)
def test_services_give_each_reference_detector_by_name_once(tiny_services, name):
    detector = tiny_services.reference_detector(name)
    assert detector.name == name and detector.detect(["Der Hund spielt im Garten mit dem Ball."]) == ["de"]
    assert tiny_services.reference_detector(name) is detector
    head, reference = detectors_for(tiny_services, "tiny-xling", name)
    assert head is not None and reference is detector


def test_the_default_reference_is_fasttext_shared_with_the_detector_getter(tiny_services):
    assert tiny_services.reference_detector().name == FASTTEXT
    assert tiny_services.reference_detector() is tiny_services.reference_detector(FASTTEXT) \
        is tiny_services.detector(FASTTEXT)
    assert detectors_for(tiny_services, "tiny-xling")[1].name == FASTTEXT


@pytest.mark.parametrize("name", ["langid", "tiny-xling", "../checkpoints/tiny-xling", "/etc", "org/model", ""])
def test_services_refuse_a_reference_that_is_not_listed(tiny_services, name):
    with pytest.raises(ModelLoadError, match="choose one of fasttext, py3langid, eld"):
        tiny_services.reference_detector(name)
    with pytest.raises(ModelLoadError, match="choose one of"):
        detectors_for(tiny_services, "tiny-xling", name)


@pytest.mark.parametrize("name", [PY3LANGID, ELD])
def test_results_carry_the_reference_name(tiny_services, tiny_head, name):
    reference = tiny_services.reference_detector(name)
    result = detect_text("주말에는 친구들과 함께 한강 공원에서 자전거를 탔어요.", tiny_head, reference)
    assert result.reference == name and result.reference_best.lang == "ko" and result.agree is False
    assert result.note.startswith(f"{name}'s answer, Korean (ko), is not one of the model's")
    assert result.to_dict()["reference"] == name and result.to_dict()[name][0]["lang"] == "ko"
    assert analyse_text(MIXED, None, reference).to_dict()["spans"][name][1]["lang"] == "ja"
    results = detect_many(["Der Hund spielt im Garten mit dem Ball.", " "], None, reference)
    assert [r.reference for r in results] == [name, name]
    report = summarise(results, ["de", None])
    assert report.reference == name and report.reference_accuracy == 1.0
    assert report.to_dict()[f"{name}_accuracy"] == 1.0
    assert f"only {name} answers" in missing_head_message("tiny-mlm", name)


def test_fasttext_results_keep_their_json_keys(fasttext_detector):
    result = detect_text("Der Hund spielt im Garten mit dem Ball.", None, fasttext_detector)
    assert result.reference == FASTTEXT and result.to_dict()["fasttext"][0]["lang"] == "de"
    assert "fasttext_accuracy" in summarise([result], ["de"]).to_dict()
    assert "only fastText answers" in missing_head_message("tiny-mlm")


def _labelled(text: str, script: str, lang: str, prob: float):
    from xling.core.detection import LabelledSpan, LanguageGuess
    from xling.core.spans import Span

    return LabelledSpan(Span(0, len(text), text, script), LanguageGuess(lang, lang, prob))


def test_a_text_is_mixed_only_where_confident_long_enough_spans_say_so():
    from xling.core.detection import DetectionResult, TextAnalysis, span_languages

    mixed = [_labelled("Ich komme gleich, warte bitte kurz.", "Latin", "de", 1.0),
             _labelled("今日はとても暑いですね。", "Han", "ja", 1.0),  # another script: short is enough
             _labelled("Let's get ice cream after work!", "Latin", "en", 0.98)]  # fmt: skip
    assert span_languages(mixed) == ["de", "ja", "en"]
    # A detector's slips on a one-language text: unsure, or too short in the text's own script.
    slips = [_labelled("Habari ya asubuhi, rafiki yangu.", "Latin", "eo", 0.14),
             _labelled("Leo ni siku nzuri sana.", "Latin", "es", 0.28),
             _labelled("Wir treffen uns morgen früh am Bahnhof.", "Latin", "de", 0.98),
             _labelled('Sagte er "okay".', "Latin", "da", 0.62)]  # fmt: skip
    assert span_languages(slips) == ["de"]
    assert span_languages(slips[:2]) == ["eo"]  # nobody sure: the main language alone
    assert span_languages([]) == []

    result = DetectionResult("…", (), (), None)
    analysis = TextAnalysis(result, model_spans=[_labelled("x" * 20, "Latin", "de", 1.0)] * 2 + mixed[1:],
                            reference_spans=mixed[:1] * 2 + mixed[1:])  # fmt: skip
    assert analysis.spans_agreement() == (4, 4) and analysis.languages() == ["de", "ja", "en"]
    assert TextAnalysis(result, reference_spans=mixed).spans_agreement() is None

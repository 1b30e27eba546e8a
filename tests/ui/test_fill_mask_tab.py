"""The masked-prediction tab through its HTTP API (gradio_client): /fill_mask with one model and
two side by side, clear messages for bad input, and the helper events (word picker, languages,
compare) called as the page calls them."""

from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client.exceptions import AppError  # noqa: E402

from tests.ui.conftest import launch_tab, output_value, plot_figure  # noqa: E402
from xling.ui.fill_mask_tab import MAX_WORD_CHOICES, create_fill_mask_tab  # noqa: E402


@pytest.fixture(scope="module")
def app(tiny_services):
    with launch_tab(create_fill_mask_tab, tiny_services) as app:
        yield app


def test_components_and_defaults(app):
    _, components, _ = app
    assert {"text", "word", "model", "top_k", "mode", "language", "compare", "model_b", "summary", "chart",
            "table", "summary_b", "table_b"} <= set(components)
    assert components["model"].value == "tiny-xling"
    assert components["model_b"].value == "tiny-mlm"
    assert components["language"].value == "auto"
    assert "[MASK]" in components["text"].value


def test_model_b_starts_as_the_configured_comparison_when_it_is_installed(tiny_services):
    import dataclasses

    from xling.core.services import Services
    from xling.ui.fill_mask_tab import default_model_b

    def with_b(name):
        return Services(dataclasses.replace(tiny_services.config, compare_masked_lm=name))

    assert default_model_b(tiny_services) == ""  # xling-mini is not among the tiny checkpoints
    assert default_model_b(with_b("tiny-mlm")) == "tiny-mlm"
    assert default_model_b(with_b("tiny-xling")) == ""  # the default itself: one model
    assert default_model_b(with_b(None)) == ""
    with launch_tab(create_fill_mask_tab, with_b("tiny-mlm")) as (_, components, client):
        assert components["compare"].value is True and components["model_b"].value == "tiny-mlm"
        assert components["model_b_name"].value == "tiny-mlm"
        defaults = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/fill_mask"]
        assert [p["parameter_default"] for p in defaults["parameters"]][5] == "tiny-mlm"


def test_fill_mask_one_model(app):
    _, _, client = app
    summary, filled, chart, table, summary_b, filled_b, chart_b, table_b = client.predict(
        "The [MASK] sleeps on the [MASK].", "tiny-xling", 3, "sequential", "auto", "", api_name="/fill_mask")
    assert "tiny-xling" in summary and "2 masks, filled left to right" in summary
    assert "not trained" in summary and "unconditioned" in summary
    rows = output_value(table)["data"]
    assert [row[:2] for row in rows] == [[1, 1], [1, 2], [1, 3], [2, 1], [2, 2], [2, 3]]
    assert all(0 < row[4] <= 1 for row in rows)
    pieces = output_value(filled)
    assert [item["class_or_confidence"] for item in pieces if item["class_or_confidence"]] == ["1", "2"]
    figure = plot_figure(chart)
    assert [trace["type"] for trace in figure["data"]] == ["bar", "bar"]  # one panel per mask
    assert len(figure["data"][0]["x"]) == 3
    assert summary_b == "" and chart_b is None  # no second model: its column stays hidden and empty


def test_fill_mask_two_models_side_by_side(app):
    _, _, client = app
    out = client.predict("Le chat dort sur le [MASK].", "tiny-xling", 4, "independent", "auto", "tiny-mlm",
                         api_name="/fill_mask")
    summary, table, summary_b, chart_b, table_b = out[0], out[3], out[4], out[6], out[7]
    assert "tiny-xling" in summary and "tiny-mlm" in summary_b
    assert "no language vectors" in summary_b and "fasttext" in summary_b
    assert len(output_value(table)["data"]) == len(output_value(table_b)["data"]) == 4
    assert plot_figure(chart_b)["data"][0]["marker"]["color"] != plot_figure(out[2])["data"][0]["marker"]["color"]


def test_picked_word_is_masked(app):
    _, _, client = app
    out = client.predict("The cat sleeps on the sofa.", "tiny-mlm", 2, "sequential", "auto", "", "1",
                         api_name="/fill_mask")
    assert "The masked word **cat**" in out[0]
    by_word = client.predict("The cat sleeps on the sofa.", "tiny-mlm", 2, "sequential", "auto", "", "cat",
                             api_name="/fill_mask")
    assert by_word[0] == out[0]


@pytest.mark.parametrize(("text", "model", "language", "message"), [
    ("The cat sleeps on the sofa.", "tiny-xling", "auto", "no mask"),
    ("", "tiny-xling", "auto", "empty"),
    (" ".join(["[MASK]"] * 21), "tiny-xling", "auto", "20 at most"),
    ("Hallo [MASK]", "no-such-model", "auto", "no-such-model"),
    ("Hallo [MASK]", "tiny-xling", "xx", "not one of this model's 7 languages"),
])
def test_user_errors_are_messages(app, text, model, language, message):
    _, _, client = app
    with pytest.raises(AppError, match=message):
        client.predict(text, model, 5, "sequential", language, "", api_name="/fill_mask")


def test_helper_events(app, tiny_services):
    demo, components, _ = app
    fns = {fn.name: fn.fn for fn in demo.fns.values()}
    words = fns["refresh_words"]("Paris is the capital of [MASK].")
    assert words.choices[1:] == [("1. Paris", "0"), ("2. is", "1"), ("3. the", "2"), ("4. capital", "3"),
                                 ("5. of", "4")]
    languages = fns["refresh_languages"]("tiny-xling", "de")
    assert languages.value == "de" and ("German (de)", "de") in languages.choices
    assert fns["refresh_languages"]("tiny-mlm", "de").value == "auto"
    assert fns["refresh_languages"]("no-such-model", "de").choices == [("auto", "auto")]
    box, column, name = fns["toggle_compare"](True, "tiny-mlm")
    assert name == "tiny-mlm" and fns["toggle_compare"](False, "tiny-mlm")[2] == ""


def test_only_the_main_event_is_in_the_api(app):
    demo, _, client = app
    assert {fn.api_name for fn in demo.fns.values() if fn.api_visibility != "private"} == {"fill_mask"}
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/fill_mask"}


def test_word_picker_lists_the_first_words_of_a_long_text(app):
    demo, _, _ = app
    refresh_words = next(fn.fn for fn in demo.fns.values() if fn.name == "refresh_words")
    text = "Das ist ein sehr langer Satz mit vielen Wörtern. " * 2100  # about 100,000 characters
    picker = refresh_words(text)
    assert len(picker.choices) == 1 + MAX_WORD_CHOICES and picker.choices[-1][1] == str(MAX_WORD_CHOICES - 1)
    assert "200 of 18,900 words are listed" in picker.info
    assert "listed" not in refresh_words("Paris is the capital of [MASK].").info


def test_language_refresh_failure_is_a_message(app, tiny_services, monkeypatch):
    demo, _, _ = app
    refresh_languages = next(fn.fn for fn in demo.fns.values() if fn.name == "refresh_languages")

    def broken(name=None):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(tiny_services, "masked_lm", broken)
    with pytest.raises(gr.Error, match="Something went wrong.*disk gone"):
        refresh_languages("tiny-xling", "auto")

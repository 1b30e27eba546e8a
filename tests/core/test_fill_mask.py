from __future__ import annotations

import pytest
import torch

from xling.core.fill_mask import (
    MAX_MASKS,
    Candidate,
    fill_masks,
    fill_segments,
    list_words,
    mask_word,
    normalize_masks,
    run_fill_mask,
    word_spans,
)
from xling.core.masked_lm import load_masked_lm_bundle
from xling.errors import DataError

SENTENCE = "The cat sleeps on the sofa."


@pytest.fixture(scope="module")
def xling_bundle(tiny_services):
    return tiny_services.masked_lm("tiny-xling")


@pytest.fixture(scope="module")
def plain_bundle(tiny_services):
    return tiny_services.masked_lm("tiny-mlm")


@pytest.fixture
def trained_bundle(tiny_xling_dir):
    """A fresh load whose language vectors count as trained (they are random, but distinct)."""
    bundle = load_masked_lm_bundle(str(tiny_xling_dir))
    bundle.xling.lang_embedding_trained = True
    with torch.no_grad():  # make the vectors large enough to move the logits visibly
        bundle.xling.lang_embedding.weight.normal_(std=1.0, generator=torch.Generator().manual_seed(0))
    return bundle


# --------------------------------------------------------------------------- text helpers


def test_normalize_masks_maps_every_spelling_to_the_models_token():
    assert normalize_masks("a [MASK] b <mask> c ___ d ____ e [mask]", "<mask>") == (
        "a <mask> b <mask> c <mask> d <mask> e <mask>", 5)
    assert normalize_masks("no mask here, __ two underscores", "[MASK]") == ("no mask here, __ two underscores", 0)


def test_words_skip_masks_and_split_scripts_without_spaces():
    assert list_words("Paris is the [MASK] of ___, l'État") == ["Paris", "is", "the", "of", "l'État"]
    assert list_words("猫はソファで寝ています") == list("猫はソファで寝ています")
    assert mask_word("Paris is the capital of France.", 5) == "Paris is the capital of [MASK]."
    with pytest.raises(DataError, match="no word 7"):
        mask_word("Paris is the capital of France.", 6)


def test_word_spans_with_many_masks_are_found_in_one_pass():
    text = "Wort [MASK] " * 9000 + "Ende ___ [mask]X"
    spans = word_spans(text)  # was one check per (word, mask): seconds for a pasted text like this
    assert [text[a:b] for a, b in spans] == ["Wort"] * 9000 + ["Ende", "X"]


def test_fill_segments_respect_word_pieces_and_punctuation():
    word, suffix, stop = (Candidate("Welt", "▁Welt", 1, 0.5), Candidate("en", "en", 2, 0.3, True),
                          Candidate(".", ".", 3, 0.2, True))
    text = "Hallo [MASK], Hund [MASK] und [MASK]"
    assert "".join(p for p, _ in fill_segments(text, "[MASK]", [word, suffix, stop])) == "Hallo Welt, Hunden und."
    assert fill_segments("of[MASK]", "[MASK]", [word]) == [("of", None), (" Welt", 0)]
    assert fill_segments("a [MASK] b", "[MASK]", [None]) == [("a ", None), ("[MASK]", 0), (" b", None)]


# --------------------------------------------------------------------------- prediction


@pytest.mark.parametrize("name", ["tiny-xling", "tiny-mlm"])
def test_single_mask_matches_the_transformers_pipeline(tiny_services, name):
    from transformers import pipeline

    bundle = tiny_services.masked_lm(name)
    text = f"The cat sleeps on the {bundle.tokenizer.mask_token}."
    expected = pipeline("fill-mask", model=bundle.model, tokenizer=bundle.tokenizer, device="cpu")(text, top_k=8)
    for sequential in (True, False):
        result = fill_masks(bundle, text.replace(bundle.tokenizer.mask_token, "___"), k=8, sequential=sequential)
        got = result.masks[0].candidates
        assert [c.token_id for c in got] == [row["token"] for row in expected]
        assert [c.probability for c in got] == pytest.approx([row["score"] for row in expected], rel=1e-5)
        assert [c.token for c in got] == [row["token_str"].strip().removeprefix("##") for row in expected]


@pytest.mark.parametrize("name", ["tiny-xling", "tiny-mlm"])
def test_shapes_and_probabilities(tiny_services, name):
    result = fill_masks(tiny_services.masked_lm(name), "The [MASK] sleeps on the [MASK] every [MASK].", k=4)
    assert [m.position for m in result.masks] == [0, 1, 2] and result.n_masks == 3
    indices = [m.token_index for m in result.masks]
    assert indices == sorted(indices) and len(set(indices)) == 3
    for prediction in result.masks:
        probs = [c.probability for c in prediction.candidates]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True)
        assert all(0 < p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6
    assert "[MASK]" not in result.filled_text and result.filled_text.startswith("The")
    assert result.filled_text == "".join(piece for piece, _ in result.segments)
    assert [n for _, n in result.segments if n is not None] == [0, 1, 2]


@pytest.mark.parametrize("name", ["tiny-xling", "tiny-mlm"])
def test_sequential_conditions_on_earlier_choices(tiny_services, name):
    bundle = tiny_services.masked_lm(name)
    text = "The [MASK] [MASK] on the sofa."
    sequential = fill_masks(bundle, text, k=5, sequential=True)
    independent = fill_masks(bundle, text, k=5, sequential=False)
    # The first mask sees the same input either way; the second sees the first's best choice.
    first_seq, first_ind = sequential.masks[0].candidates, independent.masks[0].candidates
    assert [c.token_id for c in first_seq] == [c.token_id for c in first_ind]
    assert [c.probability for c in first_seq] == pytest.approx([c.probability for c in first_ind], rel=1e-5)
    ids = bundle.tokenizer(text)["input_ids"]
    second = sequential.masks[1].token_index
    with torch.no_grad():
        before = bundle.model(input_ids=torch.tensor([ids])).logits[0, second].softmax(-1)
        ids[sequential.masks[0].token_index] = sequential.masks[0].best.token_id
        after = bundle.model(input_ids=torch.tensor([ids])).logits[0, second].softmax(-1)
    # An untrained model is nearly uniform: compare closely, relative to the values.
    assert (after - before).abs().max() / before.max() > 1e-5
    for result, expected in ((sequential, after), (independent, before)):
        got = result.masks[1].candidates
        assert [c.token_id for c in got] == expected.topk(5).indices.tolist()
        assert [c.probability for c in got] == pytest.approx([float(expected[c.token_id]) for c in got], rel=1e-6)


def test_a_text_that_is_only_a_mask(plain_bundle):
    result = fill_masks(plain_bundle, "[MASK]", k=3)
    assert len(result.masks) == 1 and len(result.masks[0].candidates) == 3
    assert result.text == "[MASK]"


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"), ("   ", "empty"), ("The cat sleeps.", "no mask"),
    (" ".join(["[MASK]"] * (MAX_MASKS + 1)), f"{MAX_MASKS} at most"),
])
def test_user_errors(plain_bundle, text, message):
    with pytest.raises(DataError, match=message):
        fill_masks(plain_bundle, text)


def test_long_text_is_cut_around_the_masks(plain_bundle):
    filler = "the cat sleeps on the sofa " * 60  # far beyond 128 tokens
    result = fill_masks(plain_bundle, f"{filler} my [MASK] is learning to play {filler}", k=3)
    assert result.truncated and result.n_tokens > result.max_tokens == 128
    assert len(result.masks) == 1 and "reads at most 128" in result.note and "not predicted" not in result.note
    assert result.masks[0].token_index < 128


def test_masks_beyond_the_window_are_reported(plain_bundle):
    filler = "the cat sleeps on the sofa " * 40
    result = fill_masks(plain_bundle, f"[MASK] {filler} [MASK]", k=2)
    assert result.n_masks == 2 and len(result.masks) == 1
    assert "not predicted" in result.note and result.filled_text.endswith("[MASK]")


def test_picked_word_is_masked_and_ranked(plain_bundle):
    result = fill_masks(plain_bundle, SENTENCE, k=5, word=1)  # "cat"
    assert result.text == "The [MASK] sleeps on the sofa."
    original = result.masks[0].original
    assert original.word == "cat" and original.pieces == ["cat"]
    assert original.rank >= 1 and 0 < original.probability < 1
    # Its probability is the model's, at the same mask.
    full = fill_masks(plain_bundle, "The [MASK] sleeps on the sofa.", k=400).masks[0].candidates
    assert [c.token for c in full].index("cat") + 1 == original.rank


def test_picked_word_after_written_masks_gets_its_position(plain_bundle):
    result = fill_masks(plain_bundle, "The [MASK] sleeps on the sofa.", k=2, word=3)  # "the"
    assert result.n_masks == 2 and result.masks[1].original.word == "the"
    assert result.masks[0].original is None


def test_plain_model_is_unconditioned_and_says_so(plain_bundle, fasttext_detector):
    result = fill_masks(plain_bundle, "Die Katze schläft auf dem [MASK].", detector=fasttext_detector)
    assert result.language_used is None and "no language vectors" in result.note
    assert result.detected.code == "de" and result.detected.source == "fasttext"


def test_untrained_language_vectors_are_noted_not_used(xling_bundle):
    plain = fill_masks(xling_bundle, "Die Katze schläft auf dem [MASK].", language="de")
    assert plain.language_used is None and "not trained" in plain.note
    detected = fill_masks(xling_bundle, "Die Katze schläft auf dem [MASK].")
    assert detected.detected.source == "the model's language-ID head"
    assert detected.detected.code in xling_bundle.languages
    assert detected.masks == plain.masks
    with pytest.raises(DataError, match="not one of this model's 7 languages"):
        fill_masks(xling_bundle, "Hallo [MASK]", language="xx")


def test_trained_language_vectors_condition_the_prediction(trained_bundle):
    text = "Die Katze schläft auf dem [MASK]."
    german = fill_masks(trained_bundle, text, k=5, language="de")
    french = fill_masks(trained_bundle, text, k=5, language="fr")
    auto = fill_masks(trained_bundle, text, k=5)
    # The tiny model is untrained and rebuilt each session: its best guess may be a bare word marker,
    # which gets a note of its own (seen in CI); no other note (no "not trained" warning) may appear.
    assert german.language_used == "de" and french.language_used == "fr"
    assert [note for note in german.notes if "word-start marker" not in note] == []
    assert [c.probability for c in german.masks[0].candidates] != pytest.approx(
        [c.probability for c in french.masks[0].candidates], abs=1e-6)
    assert auto.language_used == auto.detected.code
    trained_bundle.xling.lang_embedding_trained = False
    unconditioned = fill_masks(trained_bundle, text, k=5, language="de")
    assert unconditioned.language_used is None
    assert [c.probability for c in unconditioned.masks[0].candidates] != pytest.approx(
        [c.probability for c in german.masks[0].candidates], abs=1e-6)


@pytest.mark.parametrize("sequential", [True, False])
def test_detection_reads_the_first_pass_and_costs_no_pass_of_its_own(trained_bundle, sequential):
    text = "Die Katze [MASK] auf dem [MASK]."
    calls = []
    backbone = trained_bundle.xling.backbone.base_model
    hook = backbone.register_forward_hook(lambda *args: calls.append(1))
    try:
        auto = fill_masks(trained_bundle, text, k=5, sequential=sequential)
        assert len(calls) == (2 if sequential else 1)  # one encoder pass per step, detection included
    finally:
        hook.remove()
    given = fill_masks(trained_bundle, text, k=5, sequential=sequential, language=auto.language_used)
    assert auto.language_used is not None and auto.masks == given.masks
    assert auto.detected.code == auto.language_used and 0 < auto.detected.probability <= 1


def test_run_fill_mask_uses_services_and_shows_the_chosen_name(tiny_services):
    result = run_fill_mask(tiny_services, "The cat [MASK] on the sofa.", "tiny-mlm", k=2)
    assert result.model == "tiny-mlm" and result.detected.source == "fasttext"
    assert run_fill_mask(tiny_services, "The cat [MASK].").model == "tiny-xling"
    assert set(result.to_dict()) >= {"masks", "filled_text", "language_used", "notes", "truncated"}

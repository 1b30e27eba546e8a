from __future__ import annotations

import sys

import pytest

from xling.core.detectors import (
    ELD,
    FASTTEXT,
    PY3LANGID,
    REFERENCE_DETECTORS,
    EldDetector,
    LanguageDetector,
    Py3LangidDetector,
    detector_label,
    load_detector,
    normalize_lang_code,
)
from xling.errors import ModelLoadError

OBVIOUS = {
    "de": "Der Hund spielt im Garten mit dem Ball.",
    "fr": "Nous allons au marché tous les samedis matin.",
    "ja": "私は毎朝コーヒーを飲みます。",
    "ru": "Мы каждый день гуляем в парке.",
    "zh": "我们明天去北京看望我的朋友。",
    "en": "She reads a book every evening before bed.",
}


def test_fasttext_detects_obvious_sentences(fasttext_detector):
    assert fasttext_detector.detect(list(OBVIOUS.values())) == list(OBVIOUS)


def test_fasttext_predict_gives_sorted_top_k(fasttext_detector):
    [hits] = fasttext_detector.predict(["Мы каждый день гуляем в парке."], k=3)
    assert 1 <= len(hits) <= 3
    assert hits[0][0] == "ru"
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_fasttext_takes_multi_line_text(fasttext_detector):
    assert fasttext_detector.detect(["Der Hund spielt\nim Garten\r\nmit dem Ball."]) == ["de"]


def test_blank_text_is_undetermined(fasttext_detector):
    assert fasttext_detector.predict(["", "  \n "]) == [[], []]
    assert fasttext_detector.detect([""]) == ["und"]


def test_fasttext_is_a_language_detector(fasttext_detector):
    assert isinstance(fasttext_detector, LanguageDetector)
    assert fasttext_detector.name == "fasttext"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("zh-CN", "zh"),
        ("zh_Hant_TW", "zh"),
        ("pt-BR", "pt"),
        ("__label__ja", "ja"),
        ("iw", "he"),
        ("deu", "de"),
        ("cmn", "zh"),
        ("nb", "nb"), ("no", "nb"), ("nob", "nb"),
        ("yue", "yue"),
        (" fr ", "fr"),
    ],
)
def test_normalize_lang_code(code, expected):
    assert normalize_lang_code(code) == expected


def test_unknown_detector_name_fails_clearly():
    with pytest.raises(ModelLoadError, match="unknown detector") as info:
        load_detector("no-such-detector")
    assert "no-such-detector" in str(info.value)


def test_folder_without_language_head_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no trained language-ID head"):
        load_detector(str(tmp_path))


def test_xling_checkpoint_detects_with_its_head(tiny_xling_dir):
    detector = load_detector(str(tiny_xling_dir))
    hits = detector.predict(["Die Katze schläft.", "", "猫在睡觉。"], k=3)
    assert [len(h) for h in hits] == [3, 0, 3]
    assert all(code in {"de", "en", "es", "fr", "ja", "ru", "zh"} for code, _ in hits[0])
    assert abs(sum(p for _, p in hits[0]) - 1.0) < 1.0  # top-3 of a softmax: a share of 1
    assert detector.detect(["", "Hallo"])[0] == "und"


def test_fasttext_reads_the_whole_text_not_its_first_80_characters():
    detector = load_detector("fasttext")
    opening = "Microsoft Windows and Apple macOS are operating systems for computers. " * 2  # 142 characters
    german = ("Die Datei wurde nicht gefunden, weil der Ordner gelöscht wurde und niemand ihn wiederhergestellt "
              "hat. Bitte prüfen Sie die Einstellungen und versuchen Sie es später erneut.")  # fmt: skip
    assert detector.detect([opening + german]) == ["de"]
    assert detector.detect([opening]) == ["en"]


# --------------------------------------------------------------------------- py3langid and eld

#: A German paragraph that opens with English names (as in the fastText test above).
OPENED_IN_ENGLISH = ("Microsoft Windows and Apple macOS. Die Datei wurde nicht gefunden, weil der Ordner gelöscht "
                     "wurde und niemand ihn wiederhergestellt hat. Bitte prüfen Sie die Einstellungen.")


@pytest.fixture(scope="module", params=[PY3LANGID, ELD])
def packaged_detector(request):
    return load_detector(request.param)


def test_reference_detectors_are_named_once():
    assert REFERENCE_DETECTORS == (FASTTEXT, PY3LANGID, ELD) == ("fasttext", "py3langid", "eld")
    assert [detector_label(n) for n in REFERENCE_DETECTORS] == ["fastText", "py3langid", "eld"]
    assert detector_label("checkpoints/xling-mini") == "checkpoints/xling-mini"


def test_packaged_detectors_are_language_detectors(packaged_detector):
    assert isinstance(packaged_detector, LanguageDetector)
    assert isinstance(packaged_detector, (Py3LangidDetector, EldDetector))
    assert packaged_detector.name in (PY3LANGID, ELD)


def test_packaged_detectors_detect_obvious_sentences(packaged_detector):
    assert packaged_detector.detect([OBVIOUS["de"]]) == ["de"]
    assert packaged_detector.detect(list(OBVIOUS.values())) == list(OBVIOUS)
    assert packaged_detector.detect([OPENED_IN_ENGLISH, "Der Hund spielt\nim Garten\r\nmit dem Ball."]) == ["de", "de"]


def test_packaged_detectors_give_nothing_for_blank_text(packaged_detector):
    assert packaged_detector.predict(["", "  \n\t "]) == [[], []]
    assert packaged_detector.detect(["", "Hallo Welt, wie geht es dir heute?"]) == ["und", "de"]


@pytest.mark.parametrize("k", [1, 3, 5])
def test_packaged_detectors_give_sorted_top_k_of_normalised_codes(packaged_detector, k):
    [hits] = packaged_detector.predict(["Vi går på kino i kveld og spiser middag etterpå."], k=k)
    assert len(hits) == k
    codes, scores = [code for code, _ in hits], [score for _, score in hits]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert len(set(codes)) == k and all(code == normalize_lang_code(code) for code in codes)
    assert "no" not in codes  # Norwegian is nb, as in the corpus
    with pytest.raises(ValueError, match="k must be"):
        packaged_detector.predict(["Hallo"], k=0)


def test_packaged_detectors_list_their_languages(packaged_detector):
    languages = packaged_detector.languages()
    assert {"de", "en", "ja", "zh", "nb"} <= languages and "no" not in languages
    assert len(languages) == {PY3LANGID: 140, ELD: 60}[packaged_detector.name]
    assert all(code == normalize_lang_code(code) for code in languages)


def test_py3langid_merges_codes_that_normalise_alike():
    class Identifier:  # the part of py3langid's LanguageIdentifier the detector uses
        labels = ("no", "nb", "zh", "de")

        def rank(self, text):
            return [("zh-TW", 0.4), ("no", 0.3), ("nb", 0.2), ("de", 0.1)]

    detector = Py3LangidDetector(identifier=Identifier())
    [hits] = detector.predict(["text"], k=2)
    assert [code for code, _ in hits] == ["nb", "zh"] and hits[0][1] == pytest.approx(0.5)
    assert detector.languages() == {"nb", "zh", "de"}


def test_eld_scores_become_shares_of_their_sum():
    class Result:
        def __init__(self, scores):
            self._scores = scores

        def scores(self):
            return self._scores

    class Eld:  # eld.LanguageDetector.detect(text) -> a result whose scores() is {code: score}
        def detect(self, text):
            return Result({"no": 0.9, "da": 0.6, "sv": 0.3} if text.isalpha() else {})  # {} without letters

    [hits, nothing] = EldDetector(detector=Eld()).predict(["Hei", "!"], k=5)
    assert hits == [("nb", pytest.approx(0.5)), ("da", pytest.approx(1 / 3)), ("sv", pytest.approx(1 / 6))]
    assert nothing == []


def test_packaged_detectors_load_their_bundled_models_offline(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the model files are found inside the packages, not in the working folder
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("a detector tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    for name in (PY3LANGID, ELD):
        assert load_detector(name).detect([OBVIOUS["fr"]]) == ["fr"]


@pytest.mark.parametrize(("name", "modules", "command"), [
    (PY3LANGID, ["py3langid", "py3langid.langid"], "pip install py3langid"),
    (ELD, ["eld"], "pip install eld"),
])
def test_a_missing_package_is_a_clear_error(monkeypatch, name, modules, command):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # makes its import fail
    with pytest.raises(ModelLoadError, match=command):
        load_detector(name)


def test_unknown_detector_names_the_reference_detectors():
    with pytest.raises(ModelLoadError, match="'fasttext', 'py3langid', 'eld'"):
        load_detector("langid")

from __future__ import annotations

import pytest

from xling.core.detectors import LanguageDetector, load_detector, normalize_lang_code
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

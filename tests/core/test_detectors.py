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
    with pytest.raises(ModelLoadError, match="model issue") as info:
        load_detector("no-such-detector")
    assert "no-such-detector" in str(info.value)


def test_detector_folder_is_a_seam_not_a_stub(tmp_path):
    (tmp_path / "xling.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="model issue"):
        load_detector(str(tmp_path))

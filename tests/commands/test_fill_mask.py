"""``xling fill-mask`` in process (``xling.cli.main`` + capsys), on the tiny checkpoints."""

from __future__ import annotations

import json

import pytest

from tests.commands.conftest import user_error
from xling.cli import main


@pytest.fixture(autouse=True)
def tiny_default(monkeypatch):
    # The tiny models are found by name (tests/commands/conftest.py); tiny-xling is the default.
    monkeypatch.setenv("XLING_MLM", "tiny-xling")


def test_table(capsys):
    assert main(["fill-mask", "The [MASK] sleeps on the sofa.", "--model", "tiny-mlm", "--top-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model tiny-mlm, 1 mask(s)"
    assert lines[1].startswith("language: none (unconditioned); detected en")
    assert lines[2].startswith("filled: The ") and lines[2].endswith(" sleeps on the sofa.")
    header = lines.index(next(line for line in lines if line.split()[:2] == ["mask", "rank"]))
    assert [line.split()[:2] for line in lines[header + 1 : header + 4]] == [["1", "1"], ["1", "2"], ["1", "3"]]
    assert lines[-1].startswith("note: This model has no language vectors")


def test_json_sequential_and_independent(capsys):
    text = "The [MASK] sleeps on the [MASK]."
    assert main(["fill-mask", text, "--json", "--top-k", "2"]) == 0
    sequential = json.loads(capsys.readouterr().out)
    assert sequential["model"] == "tiny-xling" and sequential["sequential"] is True
    assert [len(m["candidates"]) for m in sequential["masks"]] == [2, 2]
    assert set(sequential["masks"][0]["candidates"][0]) >= {"token", "piece", "token_id", "probability"}
    assert sequential["detected"]["source"] == "the model's language-ID head"
    assert main(["fill-mask", text, "--json", "--top-k", "2", "--independent"]) == 0
    independent = json.loads(capsys.readouterr().out)
    assert independent["sequential"] is False
    assert independent["masks"][0]["candidates"][0]["token_id"] == sequential["masks"][0]["candidates"][0]["token_id"]


def test_word_and_language(capsys):
    assert main(["fill-mask", "The cat sleeps on the sofa.", "--model", "tiny-mlm", "--word", "2"]) == 0
    out = capsys.readouterr().out
    assert "masked word 'cat' (cat): rank " in out
    assert main(["fill-mask", "Die Katze [MASK].", "--lang", "de"]) == 0
    assert "not trained" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["fill-mask", "no mask here"], "no mask"),
    (["fill-mask", "Hallo [MASK]", "--model", "no-such-model"], "no-such-model"),
    (["fill-mask", "Hallo [MASK]", "--lang", "xx"], "not one of this model's 7 languages"),
    (["fill-mask", "Hallo Welt", "--word", "9"], "no word 9"),
])
def test_errors_exit_2(capsys, argv, message):
    assert message in user_error(capsys, *argv)


@pytest.mark.parametrize("argv", [["fill-mask"], ["fill-mask", "x [MASK]", "--top-k", "0"],
                                  ["fill-mask", "x [MASK]", "--word", "zero"]])
def test_usage_errors(capsys, argv):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err

from __future__ import annotations

import json

import pytest

from tests.commands.conftest import run_cli

GERMAN = "Der Hund spielt im Garten mit dem Ball."
JAPANESE = "私は毎朝コーヒーを飲みます。"


@pytest.fixture
def tiny(app_checkpoints):
    """The tiny xling checkpoint's path."""
    return str(app_checkpoints / "tiny-xling")


def _run(capsys, *args):
    return run_cli(capsys, "detect", *args)


def test_table_of_both_detectors(capsys, tiny):
    code, out, err = _run(capsys, GERMAN, JAPANESE, "--model", tiny)
    assert code == 0, err
    header, first, second, agreement = out.strip().splitlines()
    assert header.split()[0] == "text" and header.split()[-2:] == ["fastText", "agree"]
    assert "German (de)" in first and "Japanese (ja)" in second
    assert first.split()[-1] in {"yes", "no"}
    assert agreement.startswith("agreement: ")


def test_json_is_one_object_with_top_k(capsys, tiny):
    code, out, _ = _run(capsys, GERMAN, "--model", tiny, "--json", "--top-k", "3")
    assert code == 0
    payload = json.loads(out)
    assert payload["has_language_head"] is True and payload["summary"]["n"] == 1
    [result] = payload["results"]
    assert len(result["model"]) == 3 and result["fasttext"][0]["lang"] == "de"
    assert result["fasttext"][0]["name"] == "German" and isinstance(result["agree"], bool)


def test_spans_of_mixed_text(capsys, tiny):
    code, out, _ = _run(capsys, f"{GERMAN} {JAPANESE}", "--model", tiny, "--spans", "--json")
    assert code == 0
    [result] = json.loads(out)["results"]
    assert [s["lang"] for s in result["spans"]["fasttext"]] == ["de", "ja"]
    assert len(result["spans"]["model"]) == 2
    code, out, _ = _run(capsys, f"{GERMAN} {JAPANESE}", "--model", tiny, "--spans")
    assert code == 0 and "Japanese (ja)" in out and out.splitlines()[0].split()[:3] == ["span", "text", "script"]


def test_file_with_gold_languages_reports_accuracy(capsys, tiny, write_jsonl, parallel):
    records = [{"text": row[lang], "lang": lang} for row in parallel[:2] for lang in ("de", "ja")]
    path = write_jsonl("texts.jsonl", records)
    code, out, _ = _run(capsys, "--file", str(path), "--model", tiny)
    assert code == 0
    assert len(out.strip().splitlines()) == 1 + 4 + 2
    assert "accuracy on 4 texts with a gold language:" in out and "fastText 100.0%" in out


def test_model_without_a_head_shows_fasttext_only(capsys, app_checkpoints, tiny):
    code, out, err = _run(capsys, GERMAN, "--model", str(app_checkpoints / "tiny-mlm"))
    assert code == 0
    assert "has no language-ID head" in err and "python -m xling.training" in err
    assert out.splitlines()[0].split() == ["text", "fastText"] and "German (de)" in out


@pytest.mark.parametrize("args", [
    ["   "],
    [],
    ["Hallo", "--file", "texts.txt"],
    ["--file", "missing.txt"],
    ["Hallo", "--model", "no-such-model"],
    ["Hallo", "--top-k", "0"],
])
def test_user_errors_exit_2_with_one_line(capsys, tiny, args):
    code, out, err = _run(capsys, *args)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(("error: ", "xling detect: error:"))

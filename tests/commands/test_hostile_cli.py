"""The command line on what the outside probe sent the app (issue 14): malformed files and names
are a one-line ``error:`` and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from tests.commands.conftest import run_cli, user_error

DEEP = '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
HUGE_NUMBER = '{"text": "Hallo", "lang": "de", "n": ' + "9" * 5000 + "}\n"


@pytest.fixture(params=[("deep", DEEP, "nested too deeply"), ("number", HUGE_NUMBER, "not usable JSON")],
                ids=["deep", "huge-number"])
def bad_jsonl(request, tmp_path):
    name, content, message = request.param
    path = tmp_path / f"{name}.jsonl"
    path.write_text(content, encoding="utf-8")
    return str(path), message


def test_malformed_jsonl_in_every_command_that_reads_a_file(capsys, bad_jsonl, tmp_path):
    path, message = bad_jsonl
    good = tmp_path / "good.txt"
    good.write_text("Hallo Welt\n", encoding="utf-8")
    for argv in (["detect", "--file", path], ["search", "Hallo", "--corpus", path, "--encoder", "tiny-xling"],
                 ["mine", "--source", path, "--target", str(good), "--encoder", "tiny-xling"],
                 ["map", "--corpus", path, "--encoder", "tiny-xling", "--method", "pca", "--out", str(tmp_path / "m.csv")],
                 ["eval", "langid", "--data", path], ["eval", "retrieval", "--data", path, "--encoder", "tiny-xling"]):
        assert message in user_error(capsys, *argv), argv


def test_model_names_no_folder_can_have(capsys):
    assert "at most 256" in user_error(capsys, "fill-mask", "Das ist ein [MASK].", "--model", "x" * 300)
    assert "at most 256" in user_error(capsys, "detect", "Hallo Welt", "--model", "é" * 200)


def test_negative_min_chars_is_refused(capsys, tmp_path):
    data = tmp_path / "t.jsonl"
    data.write_text('{"text": "Hallo Welt", "lang": "de"}\n', encoding="utf-8")
    code, out, err = run_cli(capsys, "eval", "langid", "--data", str(data), "--min-chars", "-5")
    assert code == 2 and out == "" and "Traceback" not in err and "must be at least 0, got -5" in err

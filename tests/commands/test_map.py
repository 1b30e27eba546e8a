"""``xling map`` through ``xling.cli.main``: metrics table, JSON, HTML/CSV/JSON maps, projector files,
exit 2 on user errors. The tiny xling checkpoint and PCA keep it fast."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.commands.conftest import user_error
from xling.cli import main


@pytest.fixture(autouse=True)
def tiny_encoder(monkeypatch) -> None:
    monkeypatch.setenv("XLING_ENCODER", "tiny-xling")


def test_map_json_and_html_side_by_side(tmp_path: Path, capsys) -> None:
    out = tmp_path / "map.html"
    assert main(["map", "--lang", "de", "--lang", "fr", "--lang", "ja", "--max-texts", "120", "--method", "pca",
                 "--compare", "mlm:tiny-xling", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["languages"] == ["de", "fr", "ja"] and payload["n_texts"] <= 120
    assert payload["method"] == "pca" and payload["dims"] == 2
    assert [v["encoder"] for v in payload["views"]] == ["tiny-xling", "mlm:tiny-xling"]
    for view in payload["views"]:
        assert 0 <= view["p_at_1"] <= 1 and -1 <= view["silhouette"] <= 1 and view["n_languages"] == 3
        assert set(view["per_pair"]) <= {"de-fr", "de-ja", "fr-de", "fr-ja", "ja-de", "ja-fr"}
    page = out.read_text(encoding="utf-8")
    assert payload["written"] == [str(out)]
    assert page.count('class="plotly-graph-div"') == 2 and "Japanese (ja)" in page


def test_map_table_csv_3d_and_projector(tmp_path: Path, capsys) -> None:
    out = tmp_path / "points.csv"
    assert main(["map", "--lang", "en", "--lang", "es", "--max-texts", "60", "--method", "pca", "--dims", "3",
                 "--out", str(out), "--projector", str(tmp_path / "tb")]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "pca 3-D, seed 0" in lines[0]
    assert lines[1].split() == ["encoder", "languages", "P@1", "queries", "silhouette"]
    assert lines[2].startswith("tiny-xling")
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["text", "lang", "group", "x", "y", "z"] and {r[1] for r in rows[1:]} == {"en", "es"}
    metadata = (tmp_path / "tb" / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert metadata[0] == "lang\tgroup\ttext" and len(metadata) == len(rows)
    assert f"wrote {tmp_path / 'tb' / 'tiny-xling-vectors.tsv'}" in text


def test_map_json_file_of_an_upload(tmp_path: Path, parallel, write_jsonl, capsys) -> None:
    corpus = write_jsonl("texts.jsonl", [{"text": t, "lang": lang, "group": f"g{n}"}
                                         for n, row in enumerate(parallel) for lang, t in row.items()])
    out = tmp_path / "map.json"
    assert main(["map", "--corpus", str(corpus), "--method", "tsne", "--out", str(out)]) == 0
    payload = json.loads(out.read_text(encoding="utf-8"))
    points = payload["views"][0]["points"]
    # Default languages: those of the readable handful the file has (all 7 here), 42 sentences.
    assert len(points) == 42 and set(points[0]) == {"index", "text", "lang", "group", "x", "y"}
    assert payload["views"][0]["metrics"]["n_languages"] == 7


@pytest.mark.parametrize("argv, message", [
    (["--lang", "xx", "--out", "m.html"], "has 0 sentences in xx"),
    (["--corpus", "missing.csv", "--out", "m.html"], "missing.csv: no such file"),
    (["--encoder", "./no/such/model", "--out", "m.html", "--method", "pca"], "no such folder"),
    (["--seed", "-1", "--out", "m.html", "--method", "pca"], "the seed must be a whole number from 0"),
])
def test_user_errors_exit_2(argv, message, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert message in user_error(capsys, "map", *argv)


def test_bad_arguments_exit_2(capsys) -> None:
    assert main(["map", "--out", "map.png"]) == 2
    assert "the map is written as .html, .csv, .json" in capsys.readouterr().err
    assert main(["map", "--out", "m.html", "--dims", "4"]) == 2
    assert main(["map", "--out", "m.html", "--method", "lda"]) == 2

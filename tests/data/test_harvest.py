from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from xling.data.corpus import load_documents, load_segments, load_task
from xling.data.harvest import (
    DemoLimits,
    HarvestConfig,
    eval_pairs,
    harvest,
    main,
    subset_corpus,
    write_corpus,
)
from xling.data.sources import DebianLicences, iter_cldr, iter_django, iter_fortunes, iter_pycountry


def _config(tmp_path: Path, locale_root: Path, **overrides) -> HarvestConfig:
    values = dict(out=tmp_path / "out", locale_root=locale_root, sources=("debian-gettext",), min_segments=0)
    values.update(overrides)
    return HarvestConfig(**values)


def test_harvest_aligns_cleans_and_normalises(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root))
    texts = {(s.lang, s.text) for s in corpus.segments}

    assert {"de", "fr", "ja", "pt", "en"} <= set(corpus.languages)
    assert "sr" not in corpus.languages  # sr@latin is a variant, skipped
    assert ("de", "Datei öffnen…") in texts and ("en", "Open File…") in texts
    assert ("ja", "ファイルを開く…") in texts
    assert ("pt", "Excluir arquivos?") in texts  # pt_BR -> pt, placeholder stripped
    assert ("de", "Zugriff verweigert") not in texts
    assert ("de", "kann nicht gelesen werden: Zugriff verweigert") in texts
    assert not any(s.text == "Flaumiger Eintrag" for s in corpus.segments)  # fuzzy
    assert ("de", "Name") not in texts  # identical to the source: untranslated
    assert not any("Untranslated" in s.text for s in corpus.segments)
    assert all(s.source == "debian-gettext" and s.domain for s in corpus.segments)
    assert ("fr", "Abouï") not in texts  # ISO 639-3 names are skipped


def test_translations_of_one_string_share_a_group_and_a_split(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root, dev_fraction=0.3, test_fraction=0.3))
    groups: dict[str, set[str]] = {}
    for seg in corpus.segments:
        groups.setdefault(seg.group, set()).add(seg.split)
    assert all(len(splits) == 1 for splits in groups.values())
    by_group = {}
    for seg in corpus.segments:
        by_group.setdefault(seg.group, {})[seg.lang] = seg.text
    preview = next(g for g in by_group.values() if g.get("en") == "Print preview")
    assert preview["fr"] == "Aperçu avant impression"
    # gtk20 and gdk-pixbuf say Druckvorschau, glib20 says Druckansicht: the majority wins.
    assert preview["de"] == "Druckvorschau"
    # One text per (group, language).
    assert len({(s.group, s.lang) for s in corpus.segments}) == len(corpus.segments)


def test_splits_are_stable_across_harvests(tmp_path, locale_root):
    first = harvest(_config(tmp_path, locale_root, dev_fraction=0.3, test_fraction=0.3))
    second = harvest(_config(tmp_path, locale_root, dev_fraction=0.3, test_fraction=0.3))
    assert first.segments == second.segments


def test_labelled_uidomain_task(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root))
    labels = {(row.lang, row.text): row.label for row in corpus.tasks["uidomain"]}
    assert labels[("fr", "Aperçu avant impression")] == "desktop GUI"
    assert labels[("fr", "Nom")] == "shell utilities"
    # "Delete %d files?" is in both gtk20 and coreutils: two classes, so no label.
    assert ("fr", "Supprimer fichiers ?") not in labels


def test_min_segments_and_required_languages(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root, min_segments=100))
    # Nothing passes 100 segments, so only required languages stay; the missing ones are reported.
    assert set(corpus.languages) <= {"de", "fr", "ja", "pt", "en"}
    assert any("'sv'" in problem for problem in corpus.problems)


def test_write_and_load_corpus(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root, dev_fraction=0.3, test_fraction=0.3))
    stats = write_corpus(corpus, tmp_path / "full")
    assert load_segments(tmp_path / "full") == corpus.segments
    assert sum(sum(v.values()) for v in stats["parallel"].values()) == len(corpus.segments)
    test = load_segments(tmp_path / "full", split="test")
    assert all(s.split == "test" for s in test)
    pairs = [json.loads(line) for line in (tmp_path / "full/eval/test_pairs.jsonl").read_text().splitlines()]
    assert pairs == eval_pairs(test)
    assert all(p["target_lang"] == "en" and p["source_lang"] != "en" for p in pairs)
    assert {p["domain"] for p in pairs} == {"ui"}  # gettext catalogs are UI strings (prose: manuals, help)
    texts = [json.loads(line) for line in (tmp_path / "full/eval/test_texts.jsonl").read_text().splitlines()]
    assert {t["domain"] for t in texts} == {"ui"}
    assert load_task(tmp_path / "full", "uidomain") == corpus.tasks["uidomain"]


def test_demo_subset_caps_groups_per_split(tmp_path, locale_root):
    corpus = harvest(_config(tmp_path, locale_root, dev_fraction=0.0, test_fraction=0.5))
    limits = DemoLimits(parallel_groups={"train": 1, "dev": 0, "test": 1})
    demo = subset_corpus(corpus, limits)
    groups = {(s.group, s.split) for s in demo.segments}
    assert len(groups) <= 2
    assert all(s in corpus.segments for s in demo.segments)


def test_demo_subset_samples_prose_apart_from_ui_strings(tmp_path, locale_root):
    from dataclasses import replace

    from xling.data.corpus import Segment

    corpus = harvest(_config(tmp_path, locale_root, dev_fraction=0.0, test_fraction=0.5))
    limits = DemoLimits(parallel_groups={"train": 2, "dev": 0, "test": 2}, prose_groups={"train": 1, "dev": 0, "test": 2},
                        prose_min_chars=60, prose_min_languages=2)  # fmt: skip
    ui_only = subset_corpus(corpus, limits).segments

    def group(gid: str, english: str, langs: tuple[str, ...], split: str) -> list[Segment]:
        rows = [Segment(gid, "en", english, "libreoffice-help", "text/a.xhp", "MPL-2.0", split, "libreoffice-help-en-us", "1")]
        return rows + [replace(rows[0], lang=lang, text=f"{lang}: {english}", package=f"libreoffice-help-{lang}")
                       for lang in langs]  # fmt: skip

    long = "A paragraph of running prose that is comfortably longer than sixty characters."
    prose = (
        group("g0-short", "Too short to be shown.", ("de", "fr", "ja"), "test")  # English under 60 characters
        + group("g1-few", long, ("de",), "test")  # too few languages
        + group("g2-a", long, ("de", "fr"), "test") + group("g3-b", long + " 2", ("de", "fr", "ja"), "test")
        + group("g4-c", long + " 3", ("de", "fr"), "test")  # over the cap of 2
        + group("g5-train", long + " 4", ("de", "fr"), "train")
    )
    demo = subset_corpus(replace(corpus, segments=corpus.segments + prose), limits)
    assert [s for s in demo.segments if s.source != "libreoffice-help"] == ui_only  # the UI sample is unchanged
    kept = sorted({(s.group, s.split) for s in demo.segments if s.source == "libreoffice-help"})
    assert kept == [("g2-a", "test"), ("g3-b", "test"), ("g5-train", "train")]
    assert sum(1 for s in demo.segments if s.group == "g3-b") == 4  # whole groups: every language comes along


def test_cli_reports_bad_config_and_empty_sources(tmp_path, capsys):
    assert main(["--sources", "nonsense", "--out", str(tmp_path), "--no-demo"]) == 2
    assert "unknown" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["--sources", "debian-gettext", "--locale-root", str(empty), "--out", str(tmp_path / "o"), "--no-demo"])
    err = capsys.readouterr().err
    assert code == 2 and "no gettext catalogs" in err and "Traceback" not in err


def test_cli_writes_corpus(tmp_path, locale_root, capsys):
    code = main(
        ["--sources", "debian-gettext", "--locale-root", str(locale_root), "--out", str(tmp_path / "o"),
         "--no-demo", "--min-segments", "0"]
    )  # fmt: skip
    assert code == 0
    assert load_segments(tmp_path / "o")


def test_cldr_source_aligns_on_keys():
    rows = list(iter_cldr(["de"]))
    found = {(r.domain, r.english): r.text for r in rows}
    assert found[("language", "German")] == "Deutsch"
    assert found[("territory", "Germany")] == "Deutschland"
    assert found[("currency", "US Dollar")] == "US-Dollar"
    assert {r.domain for r in rows} == {"language", "territory", "currency", "unit", "time zone"}
    assert all(r.licence.startswith("Unicode") for r in rows)


def test_django_and_pycountry_sources():
    django_rows = list(itertools.islice(iter_django(), 2000))
    assert django_rows and all(r.source == "django" and r.domain.startswith("django") for r in django_rows)
    iso_rows = list(itertools.islice(iter_pycountry(), 2000))
    assert iso_rows and all(r.source == "pycountry" and r.lang != "en" for r in iso_rows)


def test_fortunes_source(tmp_path):
    fortunes = tmp_path / "usr/share/games/fortunes/de"
    fortunes.mkdir(parents=True)
    (fortunes / "witze.u8").write_text(
        "Ein kurzer Witz über Informatiker und ihre Kaffeemaschinen.\n%\nx\n%\nNoch ein Spruch, der lang genug ist.\n"
    )
    (fortunes / "witze").write_bytes("Latin-1 Kopie, die ignoriert wird.".encode("latin-1"))
    (fortunes / "witze.dat").write_bytes(b"\x00\x01")
    info = tmp_path / "info"
    info.mkdir()
    (info / "fortunes-de.list").write_text("\n".join(str(p) for p in sorted(fortunes.iterdir())) + "\n")
    docs_root = tmp_path / "doc/fortunes-de"
    docs_root.mkdir(parents=True)
    (docs_root / "copyright").write_text("Files: *\nCopyright: someone\nLicense: GPL-2+\n")

    licences = DebianLicences(dpkg_info=info, doc_root=tmp_path / "doc")
    docs = list(iter_fortunes(["fortunes-de"], licences))

    assert [d.text for d in docs] == [
        "Ein kurzer Witz über Informatiker und ihre Kaffeemaschinen.",
        "Noch ein Spruch, der lang genug ist.",
    ]
    assert all(d.lang == "de" and d.licence == "GPL-2+ (fortunes-de)" for d in docs)
    with pytest.raises(Exception, match="apt-get install fortunes-xx"):
        list(iter_fortunes(["fortunes-xx"], licences))


def test_monolingual_documents_are_deduplicated_and_split(tmp_path, monkeypatch, locale_root):
    from xling.data import harvest as harvest_module
    from xling.data.sources import Document

    docs = [Document("fortunes", "fortunes-de/x", "de", f"Satz Nummer {i} ist hier.", "GPL-2+") for i in range(50)]
    monkeypatch.setattr(harvest_module, "iter_fortunes", lambda packages, licences: iter(docs + docs[:5]))
    corpus = harvest(_config(tmp_path, locale_root, sources=("debian-gettext", "fortunes")))
    assert len(corpus.documents) == 50
    write_corpus(corpus, tmp_path / "c")
    assert load_documents(tmp_path / "c") == corpus.documents

"""LibreOffice help as aligned prose: parsing, alignment, filters and the Debian package steps,
on a fake help tree (and, where ``dpkg-deb`` is present, real ``.deb`` files built from it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from xling.data import prose
from xling.data.corpus import iter_jsonl
from xling.data.debs import download_packages, extract_package
from xling.data.help_page import parse_help_page, read_help_page
from xling.data.prose import (
    LICENCE,
    SOURCE,
    HelpTree,
    aligned_paragraphs,
    choose_locales,
    filter_by_language,
    harvest_libreoffice_help,
    help_language,
    help_trees,
    prose_counts,
    unique_english,
)
from xling.data.sources import SourceUnavailable
from xling.errors import DataError

OPEN_PAGE = "text/shared/01/open.html"
GUIDE_PAGE = "text/swriter/guide/styles.html"


def _switch(mac: str, default: str) -> str:
    return (
        '<span id="swlnsys1" class="switchinline">'
        f'<span hidden="true" id="MACtext1" class="MAC"><span class="keycode">{mac}</span></span>'
        f'<span hidden="true" id="defaulttext1"><span class="keycode">{default}</span></span></span>'
    )


#: Per locale, the paragraphs of the open page: id -> inner HTML (None: not on that page).
OPEN = {
    "en-US": {
        "hd_id1": "Opening Documents and Templates",
        "par_id1": 'Opens a <span class="emph">local</span> or <a href="x.html">remote</a> file, or imports one.',
        "par_id2": "ScriptForge.Platform service reference",
        "par_id3": "Plays the selected sound file. Click again to stop playing.",
        "par_id4": f"Hold {_switch('Command', 'Ctrl')} while you click the files to select several.",
        "par_id5": 'Choose <span class="menuitem">File - Open Remote Files</span>.',
        "par_id6": "Open",
        "par_id7": "<bookmark_value>files;opening</bookmark_value>Select the file type that you want to open.",
        "par_id8": "Opens the selected documents in read-only mode.",
    },
    "de": {
        "hd_id1": "Öffnen von Dokumenten und Vorlagen",
        "par_id1": 'Öffnet eine <span class="emph">lokale</span> oder <a href="x.html">entfernte</a> Datei.',
        "par_id2": "ScriptForge.Platform service reference",  # untranslated
        "par_id3": None,  # missing in German
        "par_id4": f"Halten Sie {_switch('Befehl', 'Strg')} gedrückt, um mehrere Dateien auszuwählen.",
        "par_id5": 'Wählen Sie <span class="menuitem">Datei - Entfernte Dateien öffnen</span>.',
        "par_id6": "Öffnen",
        "par_id7": "<bookmark_value>Dateien;öffnen</bookmark_value>Wählen Sie den Dateityp, den Sie öffnen möchten.",
        "par_id8": "Opens the selected documents read-only, please.",  # English left in: language ID drops it
    },
    "pt-BR": {
        "hd_id1": "Abrir documentos e modelos do usuário",
        "par_id1": 'Abre um arquivo <span class="emph">local</span> ou <a href="x.html">remoto</a>.',
        "par_id2": "Referência do serviço ScriptForge.Platform",
        "par_id3": "Reproduz o arquivo de som selecionado.",
        "par_id4": f"Mantenha {_switch('Command', 'Ctrl')} pressionada para selecionar vários arquivos.",
        "par_id5": 'Escolha <span class="menuitem">Arquivo - Abrir arquivos remotos</span>.',
        "par_id6": "Abrir",
        "par_id7": "<bookmark_value>arquivos;abrir</bookmark_value>Selecione o tipo de arquivo que deseja abrir.",
        "par_id8": "Abre os documentos selecionados no modo somente leitura.",
    },
    "pt": {  # the smaller Portuguese: only one paragraph translated
        "hd_id1": "Abrir documentos e modelos (PT)",
        "par_id1": 'Opens a <span class="emph">local</span> or <a href="x.html">remote</a> file, or imports one.',
    },
    "en-GB": {
        "hd_id1": "Opening Documents and Templates",
        "par_id1": 'Opens a <span class="emph">local</span> or <a href="x.html">remote</a> file, or imports one, mate.',
    },
}
GUIDE = {
    "en-US": {"par_id10": "Styles are named sets of formatting attributes for characters."},
    "de": {"par_id10": "Formatvorlagen sind benannte Sätze von Formatierungsattributen."},
}


def help_page(locale: str, paragraphs: dict[str, str | None]) -> str:
    """A page shaped like the compiled help Debian ships (chrome, index keywords, embeds, code)."""
    body = []
    for par_id, inner in paragraphs.items():
        if inner is None:
            continue
        tag = "h1" if par_id.startswith("hd_") else "p"
        body.append(f'<{tag} id="{par_id}" class="paragraph" dir="auto">{inner}</{tag}>')
    return f"""<!DOCTYPE html>
<html lang="{locale}"><head><title>Page title in the head is not a paragraph</title>
<script>var x = "script text is not a paragraph";</script></head>
<body><header id="TopLeftHeader"><p dir="auto">LibreOffice 7.4 Help header</p></header>
<aside class="leftside"><div class="index-label">Index of the help, not a paragraph</div></aside>
<div id="DisplayArea"><a name="bm_id1"></a><meta itemprop="keywords" content="opening documents,templates">
{body[0]}
<div class="howtoget"><p id="par_id90" class="paragraph">Choose Tools - Options - LibreOffice - Paths always.</p></div>
{"".join(body[1:])}
<div class="embedded"><p id="par_id99" class="paragraph">An embedded copy of another page's paragraph.</p></div>
<div class="bascode"><pre><code class="language-visual-basic">MsgBox "a code line that is long enough"</code></pre></div>
<p id="par_id98" class="code">Dim aLongVariableName As String ' code only</p>
</div>
<footer><div id="DEBUG" class="debug"><p id="bm_module" dir="auto">Debug info of the help page footer</p>
<p id="par_id97">Footer paragraph with an id that is not content</p></div></footer>
</body></html>
"""


def write_help(root: Path, locales=("en-US", "de", "pt-BR", "pt", "en-GB")) -> dict[str, Path]:
    """``root/<locale>/text/...`` for each locale; returns locale -> its help folder."""
    out = {}
    for locale in locales:
        folder = root / locale
        for page, content in ((OPEN_PAGE, OPEN), (GUIDE_PAGE, GUIDE)):
            if locale in content:
                path = folder / page
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(help_page(locale, content[locale]), encoding="utf-8")
        (folder / "bookmarks.js").write_text('var bookmarks = [{text:"files -- opening"}];\n', encoding="utf-8")
        out[locale] = folder
    return out


def fake_detect(texts: list[str]) -> list[str]:
    """English if it reads ``the``/``selected``; German if it has a German word; else Brazilian."""
    codes = []
    for text in texts:
        if re.search(r"\b(the|selected)\b", text):
            codes.append("en")
        elif re.search(r"\b(Sie|Datei|von|sind)\b|ö", text):
            codes.append("de")
        else:
            codes.append("pt-BR")
    return codes


@pytest.fixture
def helps(tmp_path: Path) -> dict[str, Path]:
    return write_help(tmp_path / "help")


def _by_group(groups) -> dict[str, dict[str, str]]:
    return {g.english.par_id: {s.lang: s.text for s in g.segments} for g in groups}


def test_parse_keeps_inline_text_and_drops_chrome_menus_code_and_index_entries(helps):
    paragraphs = read_help_page(helps["en-US"], OPEN_PAGE)
    texts = {p.par_id: p.text for p in paragraphs}

    assert all(p.page == "text/shared/01/open.xhp" for p in paragraphs)
    assert texts["par_id1"] == "Opens a local or remote file, or imports one."
    assert texts["hd_id1"] == "Opening Documents and Templates"
    assert texts["par_id4"] == "Hold Ctrl while you click the files to select several."  # default case, not Mac
    assert texts["par_id7"] == "Select the file type that you want to open."  # no bookmark_value
    assert "par_id5" not in texts  # a menu path
    assert "par_id6" not in texts  # under 20 characters
    # howtoget box, embedded copy, code, footer: none of them is a paragraph of this page.
    assert set(texts) == {"hd_id1", "par_id1", "par_id2", "par_id3", "par_id4", "par_id7", "par_id8"}
    joined = " ".join(texts.values())
    for absent in ("opening documents", "files;opening", "script text", "Index", "header", "MsgBox", "embedded"):
        assert absent not in joined


def test_parse_folds_whitespace_fills_placeholders_and_numbers_repeated_ids():
    html = (
        '<p id="par_id1">  $[officename]\n   <span class="emph">Writer</span>\tlets you\n write.</p>'
        '<p id="par_id1">A second paragraph that reuses the id.</p>'
        '<p id="par_id2">=SUM(A1:B2;C3:D4;E5:F6) 12345</p>'
        '<p id="par_id3"><span class="literal">ThisComponent.CurrentController</span> x</p>'
    )
    paragraphs = parse_help_page(html, "p.xhp")
    assert [(p.par_id, p.text) for p in paragraphs] == [
        ("par_id1", "LibreOffice Writer lets you write."),
        ("par_id1#2", "A second paragraph that reuses the id."),
    ]


def test_alignment_groups_translations_and_drops_untranslated_and_missing(helps):
    groups = list(aligned_paragraphs(helps))
    by_id = _by_group(groups)

    assert by_id["par_id1"] == {
        "en": "Opens a local or remote file, or imports one.",
        "de": "Öffnet eine lokale oder entfernte Datei.",
        "pt": "Abre um arquivo local ou remoto.",  # pt-BR, not the smaller pt
    }
    assert set(by_id["par_id2"]) == {"en", "pt"}  # German identical to English: untranslated
    assert set(by_id["par_id3"]) == {"en", "pt"}  # missing in German
    assert by_id["par_id4"]["de"] == "Halten Sie Strg gedrückt, um mehrere Dateien auszuwählen."
    assert by_id["par_id10"] == {
        "en": "Styles are named sets of formatting attributes for characters.",
        "de": "Formatvorlagen sind benannte Sätze von Formatierungsattributen.",
    }
    assert "par_id5" not in by_id and "par_id6" not in by_id
    # One group per (page, id), ids stable and distinct; one text per language.
    assert len({g.group for g in groups}) == len(groups)
    assert all(len({s.lang for s in g.segments}) == len(g.segments) for g in groups)
    assert [g.group for g in aligned_paragraphs(helps)] == [g.group for g in groups]


def test_locales_are_normalised_the_larger_kept_and_variants_dropped(helps):
    trees = [HelpTree(locale, root) for locale, root in helps.items()]
    chosen = choose_locales([*trees, HelpTree("de-variant", helps["de"])])
    assert {lang: tree.locale for lang, tree in chosen.items()} == {"de": "de", "pt": "pt-BR"}
    assert [help_language(x) for x in ("pt-BR", "zh-CN", "zh-TW", "en-GB", "ca-valencia")] == [
        "pt", "zh", "zh", "en", None,
    ]  # fmt: skip
    langs = {s.lang for g in aligned_paragraphs(trees) for s in g.segments}
    assert langs == {"en", "de", "pt"}  # no en-GB, no second Portuguese


def test_alignment_needs_an_english_tree(helps):
    with pytest.raises(DataError, match="en-US"):
        list(aligned_paragraphs({"de": helps["de"]}))


def test_language_filter_drops_translations_the_detector_disagrees_with(helps):
    calls = []

    def detect(texts):
        calls.append(len(texts))
        return fake_detect(texts)

    groups = list(aligned_paragraphs(helps))
    kept = _by_group(filter_by_language(groups, detect, batch_size=3))

    assert "de" in _by_group(groups)["par_id8"]
    assert kept["par_id8"] == {
        "en": "Opens the selected documents in read-only mode.",
        "pt": "Abre os documentos selecionados no modo somente leitura.",
    }  # English left in the German help is dropped; the detector's pt-BR counts as pt
    assert kept["par_id1"] == _by_group(groups)["par_id1"]
    assert sum(calls) == sum(len(g.translations) for g in groups) and max(calls) <= 3 * 3

    assert list(filter_by_language(groups, lambda texts: ["fr"] * len(texts))) == []  # nothing agrees

    # A language the detector cannot name (fastText has no Dzongkha or Oromo) is dropped only
    # where English comes first.
    only_de = _by_group(filter_by_language(groups, fake_detect, supported={"de"}))
    assert only_de["par_id1"] == _by_group(groups)["par_id1"] and "de" not in only_de["par_id8"]
    unnamed = _by_group(filter_by_language(groups, lambda texts: [["en", "de"]] * len(texts), supported={"fr"}))
    assert unnamed == {}

    # Top-k answers: a language behind anything but English is kept (Galician read as Portuguese).
    runner_up = list(filter_by_language(groups, lambda texts: [["fr", "de", "pt"]] * len(texts)))
    assert runner_up == groups
    assert list(filter_by_language(groups, lambda texts: [["en", "de", "pt"]] * len(texts))) == []
    with pytest.raises(ValueError, match="2 codes"):
        list(filter_by_language(groups, lambda texts: ["de", "de"]))


def test_records_carry_source_package_version_and_licence(helps):
    trees = [
        HelpTree("en-US", helps["en-US"], "libreoffice-help-en-us", "4:7.4.7-1"),
        HelpTree("de", helps["de"], "libreoffice-help-de", "4:7.4.7-1"),
    ]
    group = next(g for g in aligned_paragraphs(trees) if g.english.par_id == "par_id1")
    (german,) = group.translations
    assert german.package == "libreoffice-help-de" and german.version == "4:7.4.7-1"
    assert group.english.package == "libreoffice-help-en-us"
    assert {s.source for s in group.segments} == {SOURCE} and {s.licence for s in group.segments} == {LICENCE}
    assert {s.group for s in group.segments} == {group.group}
    assert german.domain == "text/shared/01/open.xhp" and german.par_id == "par_id1"


def test_unique_english_and_counts(helps):
    groups = list(aligned_paragraphs(helps))
    doubled = groups + [g for g in groups if g.english.par_id == "par_id1"]
    assert [g.group for g in unique_english(doubled)] == [g.group for g in groups]

    counts = prose_counts(groups)
    assert set(counts) == {"en", "de", "pt"}
    assert counts["en"].groups == counts["en"].paragraphs == len(groups)
    assert counts["de"].characters == sum(len(s.text) for g in groups for s in g.translations if s.lang == "de")


# ---------------------------------------------------------------------------------------------
# Debian packages

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


def build_deb(tmp: Path, package: str, version: str, help_folders: list[Path], out: Path) -> Path:
    """A ``.deb`` holding ``usr/share/libreoffice/help/<locale>/`` folders and a stray man page."""
    tree = tmp / f"build-{package}"
    for folder in help_folders:
        shutil.copytree(folder, tree / "usr/share/libreoffice/help" / folder.name)
    (tree / "usr/share/libreoffice/help/media/files").mkdir(parents=True)  # images: no text/
    (tree / "usr/share/man/man1").mkdir(parents=True)
    (tree / "usr/share/man/man1/soffice.1").write_text(".TH SOFFICE 1\nA manual page never read.\n")
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: fake help for tests\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{package}_{version.replace(':', '%3a')}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    return deb


PACKAGES = {"en-US": "libreoffice-help-en-us", "de": "libreoffice-help-de", "pt-BR": "libreoffice-help-pt-br"}


@pytest.fixture
def deb_cache(tmp_path: Path, helps) -> Path:
    cache = tmp_path / "debs"
    for locale, package in PACKAGES.items():
        build_deb(tmp_path, package, "4:7.4.7-1+deb12u14", [helps[locale]], cache)
    return cache


@pytest.fixture
def no_apt(no_apt, monkeypatch):
    """No apt-get or apt-cache (see tests/data/conftest.py); the package list is PACKAGES."""
    monkeypatch.setattr(prose, "libreoffice_help_packages", lambda: sorted(PACKAGES.values()))



@needs_dpkg
def test_extract_reads_version_and_finds_the_help_trees(tmp_path, deb_cache, helps):
    deb = next(deb_cache.glob("libreoffice-help-de_*.deb"))
    extracted = extract_package(deb, tmp_path / "trees")
    assert extracted == tmp_path / "trees" / "libreoffice-help-de"
    (tree,) = help_trees(extracted, "libreoffice-help-de", prose.deb_field(deb, "Version"))
    assert tree.locale == "de" and tree.version == "4:7.4.7-1+deb12u14"
    assert (tree.root / OPEN_PAGE).is_file()
    (extracted / "stamp").write_text("kept")
    assert extract_package(deb, tmp_path / "trees") == extracted and (extracted / "stamp").exists()  # reused

    # Like libreoffice-help-ca (ca and ca-valencia) and libreoffice-help-sk (no pages at all).
    two = build_deb(tmp_path, "libreoffice-help-pt2", "1.0", [helps["pt"], helps["pt-BR"]], tmp_path / "other")
    assert [t.locale for t in help_trees(extract_package(two, tmp_path / "trees"))] == ["pt", "pt-BR"]
    empty = build_deb(tmp_path, "libreoffice-help-sk", "1.0", [], tmp_path / "other")
    assert help_trees(extract_package(empty, tmp_path / "trees")) == []
    broken = tmp_path / "broken_1_all.deb"
    broken.write_bytes(b"not a deb")
    with pytest.raises(DataError, match="not a readable Debian package"):
        extract_package(broken, tmp_path / "trees")


@needs_dpkg
def test_harvest_end_to_end_from_debs(deb_cache, no_apt, capsys):
    groups = harvest_libreoffice_help(deb_cache, detect=fake_detect)
    by_id = _by_group(groups)
    assert set(by_id["par_id1"]) == {"en", "de", "pt"}
    assert "de" not in by_id["par_id8"]
    segments = [s for g in groups for s in g.segments]
    assert {(s.lang, s.package) for s in segments} == {
        ("en", "libreoffice-help-en-us"), ("de", "libreoffice-help-de"), ("pt", "libreoffice-help-pt-br"),
    }  # fmt: skip
    assert {s.version for s in segments} == {"4:7.4.7-1+deb12u14"}
    assert not any("manual page" in s.text for s in segments)

    only_de = harvest_libreoffice_help(deb_cache, languages=["de"])
    assert {s.lang for g in only_de for s in g.segments} == {"en", "de"}

    out = deb_cache.parent / "prose.jsonl"
    assert prose.main(["--cache", str(deb_cache), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| de |" in printed and "| pt |" in printed
    rows = [row for _, row in iter_jsonl(out)]
    assert rows and {row["licence"] for row in rows} == {LICENCE}


def test_download_skips_cached_packages_and_reports_apt_failures(tmp_path, monkeypatch):
    cached = tmp_path / "libreoffice-help-de_4%3a7.4.7-1_all.deb"
    cached.write_bytes(b"")
    commands = []

    def fake_run(command, cwd=None, **kwargs):
        commands.append((command, cwd))
        for name in command[2:]:
            if name != "libreoffice-help-xx":
                (Path(cwd) / f"{name}_1.0_all.deb").write_bytes(b"")
        failed = "libreoffice-help-xx" in command
        return subprocess.CompletedProcess(command, 100 if failed else 0, "", "E: Unable to locate package x\n")

    monkeypatch.setattr(prose.subprocess, "run", fake_run)
    debs = download_packages(["libreoffice-help-de", "libreoffice-help-fr"], tmp_path)
    assert debs == [cached, tmp_path / "libreoffice-help-fr_1.0_all.deb"]
    assert commands == [(["apt-get", "download", "libreoffice-help-fr"], tmp_path)]
    assert download_packages(["libreoffice-help-fr"], tmp_path) == debs[1:] and len(commands) == 1

    with pytest.raises(SourceUnavailable, match="Unable to locate package"):
        download_packages(["libreoffice-help-xx"], tmp_path)


def test_package_list_from_apt_cache_with_a_fallback(monkeypatch):
    listing = (
        "libreoffice-help-common - common files\nlibreoffice-help-de - German help\n"
        "libreoffice-help-pt-br - Portuguese_brazilian help\nlibreoffice-help-en-us - English help\n"
    )
    monkeypatch.setattr(
        prose.subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 0, listing, "")
    )
    assert prose.libreoffice_help_packages() == [
        "libreoffice-help-de", "libreoffice-help-en-us", "libreoffice-help-pt-br",
    ]  # fmt: skip

    def missing(command, **kwargs):
        raise FileNotFoundError(command[0])

    monkeypatch.setattr(prose.subprocess, "run", missing)
    assert prose.libreoffice_help_packages() == list(prose.FALLBACK_PACKAGES)
    assert "libreoffice-help-common" not in prose.FALLBACK_PACKAGES


@needs_dpkg
def test_the_corpus_harvest_adds_the_help_as_prose_groups(tmp_path, deb_cache, no_apt, locale_root):
    from xling.data.corpus import PROSE, UI, load_segments
    from xling.data.harvest import HarvestConfig, corpus_stats, harvest, render_counts, write_corpus

    config = HarvestConfig(
        out=tmp_path / "corpus", locale_root=locale_root, sources=("debian-gettext", "libreoffice-help"),
        min_segments=0, deb_cache=deb_cache, test_fraction=0.5,
    )  # fmt: skip
    corpus = harvest(config, detect=lambda texts: [[code] for code in fake_detect(texts)], supported={"de", "pt"})
    help_rows = [s for s in corpus.segments if s.source == SOURCE]
    by_group: dict[str, dict[str, str]] = {}
    for s in help_rows:
        by_group.setdefault(s.group, {})[s.lang] = s.text
    assert {lang for texts in by_group.values() for lang in texts} == {"en", "de", "pt"}
    assert "Opens the selected documents in read-only mode." in {t["en"] for t in by_group.values()}
    assert all(len(texts) >= 2 and "en" in texts for texts in by_group.values())
    assert all(s.package.startswith("libreoffice-help-") and s.version and s.licence == LICENCE for s in help_rows)
    assert all(s.domain.endswith(".xhp") for s in help_rows)
    splits = {}
    for s in help_rows:
        assert splits.setdefault(s.group, s.split) == s.split  # a paragraph and its translations share a split
    assert len(set(splits.values())) == 2  # with half the groups in test, both splits occur
    assert any(s.source == "debian-gettext" for s in corpus.segments)

    write_corpus(corpus, config.out)
    assert load_segments(config.out) == corpus.segments  # package and version survive the round trip
    raw = [row for _, row in iter_jsonl(config.out / "parallel.jsonl")]
    assert all(("package" in row) == (row["source"] == SOURCE) for row in raw)  # UI rows stay as they were
    domains = {row["domain"] for _, row in iter_jsonl(config.out / "eval" / "test_texts.jsonl")}
    assert domains == {PROSE, UI}

    stats = corpus_stats(corpus)
    assert stats["parallel_by_source"][SOURCE] == len(help_rows)
    assert sum(stats["prose"]["de"].values()) == sum(1 for s in help_rows if s.lang == "de")
    assert "of which prose" in render_counts(stats, stats)


def test_the_corpus_harvest_reports_a_missing_help_without_failing(tmp_path, monkeypatch, locale_root):
    from xling.data import harvest as harvest_module

    def unavailable(cache, **kwargs):
        raise SourceUnavailable("apt-get download libreoffice-help-de failed: no network")

    monkeypatch.setitem(harvest_module.PROSE_HARVESTERS, SOURCE, unavailable)
    config = harvest_module.HarvestConfig(
        out=tmp_path / "o", locale_root=locale_root, sources=("debian-gettext", SOURCE), min_segments=0,
        deb_cache=tmp_path / "debs",
    )  # fmt: skip
    corpus = harvest_module.harvest(config)
    assert corpus.segments and any("no network" in p for p in corpus.problems)

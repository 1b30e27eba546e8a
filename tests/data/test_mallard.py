"""GNOME's user help as aligned prose: parsing Mallard pages, alignment, locale choice and the
harvest, on a fake ``usr/share/help`` tree (and, where ``dpkg-deb`` is present, a real ``.deb``
built from it)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from xling.data import prose
from xling.data.corpus import iter_jsonl, stable_id
from xling.data.mallard import (
    LICENCE,
    PACKAGE,
    SOURCE,
    aligned_mallard,
    choose_mallard_locales,
    harvest_gnome_user_docs,
    help_locales,
    mallard_language,
    mallard_pages,
    parse_mallard_page,
    read_mallard_page,
)
from xling.data.mallard import main as mallard_main
from xling.data.sources import SourceUnavailable
from xling.errors import DataError

POWER = "gnome-help/power.page"
WIFI = "gnome-help/wifi.page"
ADMIN = "system-admin-guide/setup.page"


def page(body: str, info: str = "", lang: str = "") -> str:
    """A Mallard page as itstool writes it: namespaces, an ``<info>`` with credits and licence."""
    xml_lang = f' xml:lang="{lang}"' if lang else ""
    return f"""<?xml version="1.0" encoding="utf-8"?>
<page xmlns="http://projectmallard.org/1.0/" xmlns:its="http://www.w3.org/2005/11/its"
      xmlns:if="http://projectmallard.org/if/1.0/" type="topic" id="x"{xml_lang}>
  <info>
    <link type="guide" xref="power"/>
    <revision pkgversion="41" date="2021-09-08" status="final"/>
    <credit type="author"><name>GNOME Documentation Project</name><email>doc@gnome.org</email></credit>
    <include href="legal.xml" xmlns="http://www.w3.org/2001/XInclude"/>
    {info}
  </info>
  <its:rules version="1.0"><its:translateRule selector="//x" translate="no"/></its:rules>
{body}
</page>
"""


#: The power page's blocks per locale, in page order; each (tag or kind, text).
POWER_TEXTS = {
    "C": [
        "Tips to reduce the power consumption of your computer.",  # b0: info/desc
        "Use less power and improve battery life",  # b1: title
        "Use the <gui>Power</gui> panel in <app>Settings</app> to change your power settings.",  # b2
        "Computers can use a lot of power, so keep this in mind.",  # b3: German leaves it in English
        "Press <keyseq><key>Ctrl</key><key>Alt</key><key>Del</key></keyseq> to log out of the session.",  # b5
        "<guiseq><gui>Settings</gui><gui>Power</gui><gui>Automatic Suspend</gui></guiseq>",  # b6
        'See <link xref="power-suspend"/> for more information on suspending.',  # b7
        '<link xref="power-suspend">Suspend your computer when you are away</link>.',  # b8
        "General tips",  # b9: section title, too short
        "Turn off external devices when you are not using them.",  # b10: under if:when
        "Reduce the screen brightness to save a lot of power.",  # b11: under if:else
    ],
    "de": [
        "Tipps zur Reduzierung des Energieverbrauchs Ihres Rechners.",
        "Weniger Energie verbrauchen und die Akkulaufzeit verbessern",
        "Verwenden Sie die Leiste <gui>Energie</gui> in <app>Einstellungen</app>, um sie zu ändern.",
        "Computers can use a lot of power, so keep this in mind.",
        "Drücken Sie <keyseq><key>Strg</key><key>Alt</key><key>Entf</key></keyseq>, um sich abzumelden.",
        "<guiseq><gui>Einstellungen</gui><gui>Energie</gui><gui>Automatische Bereitschaft</gui></guiseq>",
        'Siehe <link xref="power-suspend"/> für weitere Informationen zur Bereitschaft.',
        '<link xref="power-suspend">Versetzen Sie den Rechner in Bereitschaft</link>.',
        "Allgemeine Tipps",
        "Schalten Sie externe Geräte aus, wenn Sie diese nicht verwenden.",
        "Verringern Sie die Bildschirmhelligkeit, um viel Energie zu sparen.",
    ],
    "pt_BR": [
        "Dicas para reduzir o consumo de energia do seu computador.",
        "Use menos energia e melhore a vida útil da bateria",
        "Use o painel <gui>Energia</gui> em <app>Configurações</app> para alterar as configurações.",
        "Computadores podem usar muita energia, então tenha isso em mente.",
        "Pressione <keyseq><key>Ctrl</key><key>Alt</key><key>Del</key></keyseq> para encerrar a sessão.",
        "<guiseq><gui>Configurações</gui><gui>Energia</gui><gui>Suspensão automática</gui></guiseq>",
        'Veja <link xref="power-suspend"/> para mais informações sobre suspensão.',
        '<link xref="power-suspend">Suspenda o computador quando estiver ausente</link>.',
        "Dicas gerais",
        "Desligue os dispositivos externos quando não os estiver usando.",
        "Reduza o brilho da tela para economizar muita energia.",
    ],
}
# The smaller Portuguese: one block translated, the rest left in English.
POWER_TEXTS["pt"] = [*POWER_TEXTS["C"][:1], "Utilize menos energia e melhore a duração da bateria", *POWER_TEXTS["C"][2:]]
POWER_TEXTS["en_GB"] = [text.replace("power", "power, mate") for text in POWER_TEXTS["C"]]
POWER_TEXTS["sr@latin"] = [f"Srpski: {text}" for text in POWER_TEXTS["C"]]


def power_page(locale: str) -> str:
    t = POWER_TEXTS[locale]
    translator = (
        '<mal:credit xmlns:mal="http://projectmallard.org/1.0/" type="translator copyright">'
        "<mal:name>Hendrik Knackstedt, a translator</mal:name><mal:years>2011.</mal:years></mal:credit>"
    )
    body = f"""
  <title>{t[1]}</title>
  <p>{t[2]}</p>
  <list><item><p>{t[3]}</p></item></list>
  <code>gsettings set org.gnome.desktop.session idle-delay 300</code>
  <note><p>{t[4]}</p></note>
  <steps><item><p>{t[5]}</p></item></steps>
  <table><tr><td><p>{t[6]}</p></td><td><p>{t[7]}</p></td></tr></table>
  <comment><cite date="2012-02-19">shaunm</cite><p>An editorial comment the reader never sees.</p></comment>
  <media type="image" src="figures/power.png"><p>A caption of the power figure here.</p></media>
  <section id="general">
    <title>{t[8]}</title>
    <if:choose>
      <if:when test="platform:gnome-classic"><p>{t[9]}</p></if:when>
      <if:else><p>{t[10]}</p></if:else>
    </if:choose>
    <screen>$ <input>systemctl suspend --now</input></screen>
  </section>"""
    return page(body, f"<desc>{t[0]}</desc>" + (translator if locale != "C" else ""), locale)


WIFI_TEXTS = {
    "C": ["Connect to a wireless network", "Select the network you want to join from the menu."],
    # One block more than in English: the page is skipped for German.
    "de": ["Mit einem Funknetzwerk verbinden", "Wählen Sie das Netzwerk im Menü aus.", "Ein zusätzlicher Absatz."],
    "pt_BR": ["Conectar a uma rede sem fio", "Selecione a rede à qual deseja se conectar no menu."],
}
ADMIN_TEXTS = {
    "C": ["Set up a default background for every user on the system."],
    "de": ["Richten Sie einen Standardhintergrund für alle Benutzer des Systems ein."],
}


def write_help(root: Path) -> Path:
    """``root/<locale>/<document>/<page>`` for each locale, like ``usr/share/help``; returns root."""
    for locale in POWER_TEXTS:
        pages = {POWER: power_page(locale)}
        for name, texts in ((WIFI, WIFI_TEXTS), (ADMIN, ADMIN_TEXTS)):
            if locale in texts:
                title, *paragraphs = texts[locale]
                pages[name] = page(f"<title>{title}</title>" + "".join(f"<p>{p}</p>" for p in paragraphs))
        for name, xml in pages.items():
            path = root / locale / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(xml, encoding="utf-8")
    (root / "C/gnome-help/legal.xml").write_text("<p>Creative Commons Attribution-ShareAlike 3.0</p>")
    (root / "C/gnome-help/figures").mkdir()
    (root / "fr").mkdir()  # no pages: not a locale
    return root


@pytest.fixture
def help_root(tmp_path: Path) -> Path:
    return write_help(tmp_path / "help")


def _by_block(groups) -> dict[tuple[str, str], dict[str, str]]:
    return {(g.english.domain, g.english.par_id): {s.lang: s.text for s in g.segments} for g in groups}


def test_parse_lists_every_block_in_order_and_cleans_or_drops_it(help_root):
    blocks = read_mallard_page(help_root, "C", POWER)

    assert [b.par_id for b in blocks] == [f"b{i}" for i in range(len(blocks))]
    assert all(b.page == POWER for b in blocks)
    assert [b.tag for b in blocks] == ["desc", "title", "p", "p", "code", "p", "p", "p", "p", "title", "p", "p", "screen"]
    assert [b.text for b in blocks] == [
        "Tips to reduce the power consumption of your computer.",  # the info's desc, not its credits
        "Use less power and improve battery life",
        "Use the Power panel in Settings to change your power settings.",  # inline text kept
        "Computers can use a lot of power, so keep this in mind.",
        None,  # code block
        "Press Ctrl+Alt+Del to log out of the session.",  # keys joined as the help shows them
        None,  # a menu path only
        None,  # an empty link: the help fills in another page's title
        None,  # a link only
        None,  # under 20 characters
        "Turn off external devices when you are not using them.",  # both branches of if:choose
        "Reduce the screen brightness to save a lot of power.",
        None,  # terminal session
    ]
    joined = " ".join(b.text or "" for b in blocks)
    for absent in ("GNOME Documentation Project", "editorial comment", "caption", "Creative Commons", "gsettings"):
        assert absent not in joined


def test_translated_page_has_the_same_blocks_and_no_translator_credits(help_root):
    english = read_mallard_page(help_root, "C", POWER)
    german = read_mallard_page(help_root, "de", POWER)
    assert [b.tag for b in german] == [b.tag for b in english]
    assert german[5].text == "Drücken Sie Strg+Alt+Entf, um sich abzumelden."
    assert not any("Knackstedt" in (b.text or "") for b in german)


def test_parse_menu_paths_folding_and_refusals():
    ns = 'xmlns="http://projectmallard.org/1.0/"'
    xml = (
        f"<page {ns}><p>  Choose\n   <guiseq><gui>Settings</gui> <gui>Color</gui></guiseq>\tto add\n a profile.</p>"
        "<p>Run <cmd>gnome-control-center --overview</cmd> now.</p>"
        "<p><em>Tip:</em> read the <link href='https://help.gnome.org'>online help</link> first.</p></page>"
    )
    assert [b.text for b in parse_mallard_page(xml, "x.page")] == [
        "Choose Settings ▸ Color to add a profile.",
        None,  # mostly a command
        "Tip: read the online help first.",
    ]
    assert [b.text for b in parse_mallard_page(xml, "x.page", min_chars=50)] == [None, None, None]

    with pytest.raises(DataError, match="not well-formed"):
        parse_mallard_page(f"<page {ns}><p>unclosed</page>", "broken.page")
    with pytest.raises(DataError, match="entities"):
        parse_mallard_page(f'<!DOCTYPE page [<!ENTITY e "boom">]><page {ns}><p>&e;</p></page>', "e.page")
    with pytest.raises(DataError, match="not a Mallard page"):
        parse_mallard_page("<html><p>Not Mallard at all, but long enough.</p></html>", "h.page")


def test_alignment_groups_translations_and_drops_untranslated_and_mismatched(help_root):
    skipped: Counter = Counter()
    groups = list(aligned_mallard(help_root, skipped=skipped))
    by_block = _by_block(groups)

    assert by_block[(POWER, "b2")] == {
        "en": "Use the Power panel in Settings to change your power settings.",
        "de": "Verwenden Sie die Leiste Energie in Einstellungen, um sie zu ändern.",
        "pt": "Use o painel Energia em Configurações para alterar as configurações.",  # pt_BR, not pt
    }
    assert set(by_block[(POWER, "b3")]) == {"en", "pt"}  # German identical to English: untranslated
    assert by_block[(POWER, "b11")]["de"] == "Verringern Sie die Bildschirmhelligkeit, um viel Energie zu sparen."
    assert {(POWER, f"b{i}") for i in (4, 6, 7, 8, 9, 12)}.isdisjoint(by_block)  # dropped in English
    # German's wifi page has a block more than English: skipped for German, and counted.
    assert by_block[(WIFI, "b1")] == {
        "en": "Select the network you want to join from the menu.",
        "pt": "Selecione a rede à qual deseja se conectar no menu.",
    }
    assert skipped == Counter({"de": 1})
    assert set(by_block[(ADMIN, "b0")]) == {"en", "de"}  # a document Portuguese lacks

    # One group per (page, block), ids stable and distinct; one text per language.
    assert all(g.group == stable_id("g", SOURCE, g.english.domain, g.english.par_id) for g in groups)
    assert len({g.group for g in groups}) == len(groups)
    assert all(len({s.lang for s in g.segments}) == len(g.segments) for g in groups)
    assert [g.group for g in aligned_mallard(help_root)] == [g.group for g in groups]

    only_de = list(aligned_mallard(help_root, languages={"de"}))
    assert {s.lang for g in only_de for s in g.segments} == {"en", "de"}


def test_locales_are_normalised_the_larger_kept_and_variants_dropped(help_root):
    assert help_locales(help_root) == ["C", "de", "en_GB", "pt", "pt_BR", "sr@latin"]
    assert mallard_pages(help_root) == [POWER, WIFI, ADMIN]
    assert choose_mallard_locales(help_root) == {"de": "de", "pt": "pt_BR"}
    assert choose_mallard_locales(help_root, languages={"pt"}) == {"pt": "pt_BR"}
    assert [mallard_language(x) for x in ("C", "pt_BR", "zh_CN", "zh_TW", "en_GB", "sr@latin")] == [
        "en", "pt", "zh", "zh", "en", None,
    ]  # fmt: skip
    langs = {s.lang for g in aligned_mallard(help_root) for s in g.segments}
    assert langs == {"en", "de", "pt"}  # no en_GB, no sr@latin, one Portuguese


def test_alignment_needs_english_pages(help_root):
    shutil.rmtree(help_root / "C")
    with pytest.raises(DataError, match="English"):
        list(aligned_mallard(help_root))


def test_records_carry_source_package_version_and_licence(help_root):
    groups = list(aligned_mallard(help_root, PACKAGE, "43.0-2"))
    group = next(g for g in groups if (g.english.domain, g.english.par_id) == (POWER, "b0"))
    german = next(s for s in group.translations if s.lang == "de")
    assert german.text == "Tipps zur Reduzierung des Energieverbrauchs Ihres Rechners."
    assert german.domain == POWER and german.par_id == "b0" and german.group == group.group
    segments = [s for g in groups for s in g.segments]
    assert {(s.source, s.package, s.version, s.licence) for s in segments} == {(SOURCE, PACKAGE, "43.0-2", LICENCE)}


# ---------------------------------------------------------------------------------------------
# The Debian package

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")


def build_deb(tmp: Path, help_root: Path, out: Path, version: str = "43.0-2") -> Path:
    """A ``gnome-user-docs`` ``.deb`` holding ``usr/share/help`` and a changelog never read."""
    tree = tmp / "build"
    shutil.copytree(help_root, tree / "usr/share/help")
    (tree / "usr/share/doc/gnome-user-docs").mkdir(parents=True)
    (tree / "usr/share/doc/gnome-user-docs/copyright").write_text("A copyright file that is never read.\n")
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: Test <test@example.org>\nDescription: fake help for tests\n"
    )
    out.mkdir(parents=True, exist_ok=True)
    deb = out / f"{PACKAGE}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "-Zgzip", "--root-owner-group", "--build", str(tree), str(deb)],
                   check=True, capture_output=True)  # fmt: skip
    return deb


def fake_detect(texts: list[str]) -> list[str]:
    """English if it reads ``the``; German if it has ``Sie``; else Portuguese."""
    return ["en" if " the " in f" {t} " else "de" if " Sie " in f" {t} " else "pt" for t in texts]


@needs_dpkg
def test_harvest_end_to_end_from_the_deb(tmp_path, help_root, no_apt, capsys):
    cache = tmp_path / "debs"
    build_deb(tmp_path, help_root, cache)

    groups = harvest_gnome_user_docs(cache)
    assert (cache / "trees" / PACKAGE / "usr/share/help/C" / POWER).is_file()
    assert {s.version for g in groups for s in g.segments} == {"43.0-2"}
    assert _by_block(groups) == _by_block(aligned_mallard(help_root))

    # German without "Sie" is taken for Portuguese by the fake detector, and dropped.
    checked = _by_block(harvest_gnome_user_docs(cache, detect=fake_detect))
    assert "de" in checked[(POWER, "b2")] and "de" not in checked[(POWER, "b0")]
    assert "de" in _by_block(harvest_gnome_user_docs(cache, detect=fake_detect, supported={"pt"}))[(POWER, "b0")]

    only_pt = harvest_gnome_user_docs(cache, languages=["pt"])
    assert {s.lang for g in only_pt for s in g.segments} == {"en", "pt"}

    out = tmp_path / "mallard.jsonl"
    assert mallard_main(["--cache", str(cache), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| de |" in printed and "| pt |" in printed and "de 1" in printed
    rows = [row for _, row in iter_jsonl(out)]
    assert rows and {row["licence"] for row in rows} == {LICENCE}


def test_harvest_reports_apt_failures(tmp_path, monkeypatch):
    def fake_run(command, cwd=None, **kwargs):
        assert command[:2] == ["apt-get", "download"]
        return subprocess.CompletedProcess(command, 100, "", "E: Unable to locate package gnome-user-docs\n")

    monkeypatch.setattr(prose.subprocess, "run", fake_run)
    with pytest.raises(SourceUnavailable, match="Unable to locate package"):
        harvest_gnome_user_docs(tmp_path / "debs")

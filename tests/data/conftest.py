"""Small gettext catalogs and fortune packages made on the fly, so harvest tests need no system data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

# (English, {lang: translation}) — a tiny multilingual UI catalog.
MESSAGES = [
    ("_Open File…", {"de": "Datei _öffnen …", "fr": "_Ouvrir le fichier…", "ja": "ファイルを開く(_O)…", "pt_BR": "_Abrir arquivo…"}),
    ("Delete %d files?", {"de": "%d Dateien löschen?", "fr": "Supprimer %d fichiers ?", "ja": "%d 個のファイルを削除しますか?", "pt_BR": "Excluir %d arquivos?"}),
    ("Cannot read <b>%s</b>: permission denied", {"de": "<b>%s</b> kann nicht gelesen werden: Zugriff verweigert", "fr": "Impossible de lire <b>%s</b> : permission refusée", "ja": "<b>%s</b> を読み込めません: 許可がありません", "pt_BR": "Não é possível ler <b>%s</b>: permissão negada"}),
    ("Print preview", {"de": "Druckvorschau", "fr": "Aperçu avant impression", "ja": "印刷プレビュー", "pt_BR": "Visualizar impressão"}),
    ("Name", {"de": "Name", "fr": "Nom", "ja": "名前", "pt_BR": "Nome"}),  # de identical: untranslated
    ("Untranslated string", {"de": "", "fr": "", "ja": "", "pt_BR": ""}),
]


def write_catalog(root: Path, locale: str, domain: str, messages, fuzzy=()) -> Path:
    catalog = Catalog(locale=locale.split("@")[0], domain=domain)
    for english, translations in messages:
        catalog.add(english, translations.get(locale, ""))
    for english, translation in fuzzy:
        catalog.add(english, translation, flags=["fuzzy"])
    path = root / locale / "LC_MESSAGES" / f"{domain}.mo"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_mo(handle, catalog, use_fuzzy=False)
    return path


@pytest.fixture
def locale_root(tmp_path: Path) -> Path:
    """A /usr/share/locale look-alike: a desktop domain and a shell domain in four languages."""
    root = tmp_path / "locale"
    for locale in ("de", "fr", "ja", "pt_BR", "sr@latin"):
        write_catalog(root, locale, "gtk20", MESSAGES[:4], fuzzy=[("Fuzzy entry", "Flaumiger Eintrag")])
        write_catalog(root, locale, "coreutils", MESSAGES[4:] + [MESSAGES[1]])
    # A second catalog disagrees with gtk20 on one German translation; the majority must win.
    write_catalog(root, "de", "glib20", [("Print preview", {"de": "Druckansicht"})])
    write_catalog(root, "de", "gdk-pixbuf", [("Print preview", {"de": "Druckvorschau"})])
    # Transliterated proper names: a skipped catalog.
    write_catalog(root, "fr", "iso_639-3", [("Abui", {"fr": "Abouï"})])
    return root


@pytest.fixture
def no_apt(monkeypatch):
    """Fail the test if apt-get or apt-cache would be run (the ``.deb`` files are already in the cache)."""
    real_run = subprocess.run

    def run(command, *args, **kwargs):
        assert command[0] not in ("apt-get", "apt-cache"), f"tried to run {command}"
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)

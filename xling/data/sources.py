"""Where the corpus comes from: real human translations that install offline.

Every reader yields cleaned records and nothing else; grouping, voting and splitting happen in
:mod:`xling.data.harvest`. Sources:

- ``debian-gettext``: UI catalogs (``*.mo``) of Debian packages under ``/usr/share/locale``;
- ``django``: Django's own catalogs (PyPI ``django``);
- ``pycountry``: ISO 3166/639/4217/15924 names and their translations (PyPI ``pycountry``);
- ``cldr``: CLDR display names via PyPI ``babel`` (languages, territories, currencies, units,
  time zones), aligned on the CLDR key;
- ``fortunes``: monolingual prose from Debian's ``fortunes-de/-es/-it/-ru``.

Example:
    >>> from xling.data.sources import iter_cldr
    >>> next(iter(iter_cldr(["de"]))).lang
    'de'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from xling.data.clean import clean_text
from xling.data.languages import normalise_language
from xling.data.mo import read_mo
from xling.errors import DataError

DEBIAN_LOCALE_ROOT = Path("/usr/share/locale")
DPKG_INFO = Path("/var/lib/dpkg/info")
FORTUNE_PACKAGES = ("fortunes-de", "fortunes-es", "fortunes-it", "fortunes-ru")

DJANGO_LICENCE = "BSD-3-Clause (Django)"
PYCOUNTRY_LICENCE = "LGPL-2.1-or-later (iso-codes, via pycountry)"
CLDR_LICENCE = "Unicode-3.0 (Unicode CLDR, via babel)"

#: Catalogs left out: ISO 639-3 (7,000+ minor-language names) and ISO 3166-2 (subdivision names)
#: are mostly transliterated proper names; they would fill small languages (Bashkir: 95 %) with
#: text that carries no sign of the language it is written in.
SKIPPED_DOMAINS = frozenset(
    {"iso_639_3", "iso_639-3", "iso639-3", "iso_3166_2", "iso_3166-2", "iso3166-2"}
)

#: CLDR categories harvested, in the names the entity-type task uses.
CLDR_CATEGORIES = ("language", "territory", "currency", "unit", "time zone")


@dataclass(frozen=True)
class Translation:
    """One cleaned translation of an English source string.

    Args:
        source: ``debian-gettext``, ``django``, ``pycountry`` or ``cldr``.
        domain: the gettext domain (``coreutils``), Django app (``django.contrib.admin``),
            ISO standard (``iso_3166-1``) or CLDR category (``territory``).
        lang: ISO 639-1 code where one exists.
        english: the aligned English string (``msgid`` or CLDR English name), cleaned.
        text: the translation, cleaned.
        context: gettext ``msgctxt`` or ``""``; part of the alignment key.
        licence: the licence the text is distributed under.
    """

    source: str
    domain: str
    lang: str
    english: str
    text: str
    context: str
    licence: str


@dataclass(frozen=True)
class Document:
    """One monolingual text (a fortune), cleaned."""

    source: str
    domain: str
    lang: str
    text: str
    licence: str


class SourceUnavailable(DataError):
    """A source's package is not installed; the message says how to install it."""


class DebianLicences:
    """Finds the Debian package that installed a file, and that package's licence.

    Reads dpkg's file lists once; the licence is the ``License:`` of the ``Files: *`` paragraph
    of ``/usr/share/doc/<package>/copyright`` (machine-readable format), else a pointer to it.
    """

    def __init__(self, dpkg_info: Path = DPKG_INFO, doc_root: Path = Path("/usr/share/doc")):
        self._dpkg_info = dpkg_info
        self._doc_root = doc_root
        self._licences: dict[str, str] = {}

    @cached_property
    def _owners(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        for listing in sorted(self._dpkg_info.glob("*.list")):
            package = listing.stem.split(":", 1)[0]
            for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.endswith(".mo") or "/games/fortunes" in line:
                    owners[line] = package
        return owners

    def package_of(self, path: Path) -> str | None:
        return self._owners.get(str(path))

    def licence_of(self, package: str | None) -> str:
        if package is None:
            return "unknown (not installed by a Debian package)"
        if package not in self._licences:
            self._licences[package] = self._read_licence(package)
        return self._licences[package]

    def _read_licence(self, package: str) -> str:
        copyright_file = self._doc_root / package / "copyright"
        pointer = f"see /usr/share/doc/{package}/copyright"
        try:
            text = copyright_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"unstated ({pointer})"
        for paragraph in re.split(r"\n\s*\n", text):
            if re.search(r"^Files:\s*\*\s*$", paragraph, re.MULTILINE):
                found = re.search(r"^License:\s*(\S.*)$", paragraph, re.MULTILINE)
                if found:
                    return f"{found.group(1).strip()} ({package})"
        return f"unstated ({pointer})"


def iter_mo_tree(
    catalogs: Iterable[tuple[Path, str, str]],
    source: str,
    licence_of: Callable[[Path], str],
) -> Iterator[Translation]:
    """Read ``(path, locale, domain)`` catalogs into cleaned translations aligned on ``msgid``.

    English-variant catalogs (``en_GB``) are skipped: the ``msgid`` already is the English side,
    and so are the :data:`SKIPPED_DOMAINS`.
    Entries whose translation equals the source string are dropped as untranslated.
    """
    for path, locale, domain in catalogs:
        lang = normalise_language(locale)
        if lang is None or lang == "en" or domain in SKIPPED_DOMAINS:
            continue
        try:
            entries = read_mo(path)
        except DataError:
            continue  # a broken catalog is skipped, not fatal: the rest are still good data
        licence = licence_of(path)
        for entry in entries:
            english = clean_text(entry.msgid)
            text = clean_text(entry.msgstr)
            if english is None or text is None or text == english:
                continue
            yield Translation(source, domain, lang, english, text, entry.context, licence)


def find_gettext_catalogs(root: Path = DEBIAN_LOCALE_ROOT) -> list[tuple[Path, str, str]]:
    """``(path, locale, domain)`` for every ``<root>/<locale>/LC_MESSAGES/<domain>.mo``."""
    return [
        (path, path.parent.parent.name, path.stem)
        for path in sorted(root.glob("*/LC_MESSAGES/*.mo"))
    ]


def iter_gettext(
    root: Path = DEBIAN_LOCALE_ROOT, licences: DebianLicences | None = None
) -> Iterator[Translation]:
    """Debian packages' UI catalogs; each segment records its domain and package licence."""
    licences = licences or DebianLicences()
    catalogs = find_gettext_catalogs(root)
    if not catalogs:
        raise SourceUnavailable(f"no gettext catalogs (*.mo) under {root}")
    yield from iter_mo_tree(
        catalogs, "debian-gettext", lambda path: licences.licence_of(licences.package_of(path))
    )


def iter_django() -> Iterator[Translation]:
    """Django's catalogs; the domain is the Django app (``django.contrib.admin``)."""
    try:
        import django
    except ImportError as exc:
        raise SourceUnavailable("django is not installed: pip install -r requirements.txt") from exc
    package_root = Path(django.__file__).parent
    catalogs = []
    for path in sorted(package_root.glob("**/locale/*/LC_MESSAGES/*.mo")):
        app = path.parents[3].relative_to(package_root.parent)
        catalogs.append((path, path.parent.parent.name, ".".join(app.parts)))
    yield from iter_mo_tree(catalogs, "django", lambda path: DJANGO_LICENCE)


def iter_pycountry() -> Iterator[Translation]:
    """ISO names translated by the iso-codes project, as shipped inside pycountry."""
    try:
        import pycountry
    except ImportError as exc:
        raise SourceUnavailable("pycountry is not installed: pip install -r requirements.txt") from exc
    catalogs = find_gettext_catalogs(Path(pycountry.LOCALES_DIR))
    yield from iter_mo_tree(catalogs, "pycountry", lambda path: PYCOUNTRY_LICENCE)


def iter_cldr(languages: Iterable[str]) -> Iterator[Translation]:
    """CLDR display names in each language, aligned with English on the CLDR key.

    Names identical to the English one are dropped, as for gettext: they are either untranslated
    fallbacks or language-neutral (``Canada``), and add nothing to a parallel corpus.
    """
    try:
        from babel import Locale, UnknownLocaleError
    except ImportError as exc:
        raise SourceUnavailable("babel is not installed: pip install -r requirements.txt") from exc
    english = _cldr_names(Locale("en"))
    for lang in sorted(set(languages)):
        if lang == "en":
            continue
        try:
            locale = Locale.parse(lang)
        except (UnknownLocaleError, ValueError):
            continue
        for (category, key), name in _cldr_names(locale).items():
            source_name = english.get((category, key))
            if source_name is None:
                continue
            src, text = clean_text(source_name), clean_text(name)
            if src is None or text is None or text == src:
                continue
            yield Translation("cldr", category, lang, src, text, "", CLDR_LICENCE)


def _cldr_names(locale) -> dict[tuple[str, str], str]:
    names: dict[tuple[str, str], str] = {}
    for key, name in locale.languages.items():
        names[("language", key)] = name
    for key, name in locale.territories.items():
        if not key.isdigit():  # numeric keys are UN M.49 regions ("Western Europe"), not territories
            names[("territory", key)] = name
    for key, name in locale.currencies.items():
        names[("currency", key)] = name
    # Long unit names live in count patterns ("{0} meters"); the "other" form, less its
    # placeholder, is the plural name in every locale, where display names are often missing.
    for key, forms in locale._data["unit_patterns"].items():
        pattern = forms.get("long", {}).get("other") if hasattr(forms, "get") else None
        if isinstance(pattern, str) and "{0}" in pattern:
            names[("unit", key)] = pattern.replace("{0}", " ").strip()
    for key, forms in locale.meta_zones.items():
        for kind in ("generic", "standard"):
            name = forms.get("long", {}).get(kind)
            if isinstance(name, str):
                names[("time zone", f"{key}/{kind}")] = name
    return names


def iter_fortunes(
    packages: Iterable[str] = FORTUNE_PACKAGES, licences: DebianLicences | None = None
) -> Iterator[Document]:
    """Fortunes (quotes, jokes, poems) from Debian's language packages, one document each.

    Offensive collections (``off/``) and ASCII art are skipped. Raises
    :class:`SourceUnavailable` naming the ``apt-get`` command when a package is missing.
    """
    licences = licences or DebianLicences()
    missing = [p for p in packages if not (licences._dpkg_info / f"{p}.list").exists()]
    if missing:
        raise SourceUnavailable(
            f"Debian packages not installed: {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)})"
        )
    for package in packages:
        lang = package.rsplit("-", 1)[1]
        licence = licences.licence_of(package)
        for path in fortune_files(licences._dpkg_info / f"{package}.list"):
            for text in split_fortunes(_read_fortune_file(path)):
                yield Document(
                    "fortunes", f"{package}/{path.name.removesuffix('.u8')}", lang, text, licence
                )


def fortune_files(listing: Path) -> list[Path]:
    """The fortune text files a dpkg file list names, preferring the UTF-8 (``.u8``) copies."""
    paths = [Path(line) for line in listing.read_text().splitlines() if "/games/fortunes/" in line]
    files = {p for p in paths if p.is_file() and p.suffix != ".dat"}
    chosen = []
    for path in sorted(files):
        if "off" in path.parts or path.name.startswith("asciiart"):
            continue
        if path.suffix != ".u8" and path.with_name(path.name + ".u8") in files:
            continue
        chosen.append(path)
    return chosen


def _read_fortune_file(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        for encoding in ("koi8-r", "latin-1") if "ru" in path.parts else ("latin-1",):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
    return raw.decode("utf-8", "replace")


_FORTUNE_SEPARATOR = re.compile(r"^%\s*$", re.MULTILINE)
_WHITESPACE = re.compile(r"\s+")


def split_fortunes(text: str, min_chars: int = 20, max_chars: int = 1000) -> list[str]:
    """Split a fortune file on its ``%`` lines; whitespace is folded, sizes bounded."""
    out = []
    for chunk in _FORTUNE_SEPARATOR.split(text):
        chunk = _WHITESPACE.sub(" ", "".join(ch for ch in chunk if ch.isprintable() or ch.isspace()))
        chunk = chunk.strip()
        if min_chars <= len(chunk) <= max_chars and sum(ch.isalpha() for ch in chunk) >= len(chunk) / 2:
            out.append(chunk)
    return out

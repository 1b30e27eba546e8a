"""Real translated prose: LibreOffice's help, aligned paragraph by paragraph in 30+ languages.

Debian ships the help of LibreOffice as one package per language (``libreoffice-help-de``, …).
Each package holds the *compiled* help: one HTML page per upstream ``.xhp`` file under
``usr/share/libreoffice/help/<locale>/text/`` (``text/shared/01/01020000.html``), the same page
structure in every language, each paragraph tagged with the upstream id (``<p id="par_id3146137">``,
``<h2 id="hd_id3150420">``). A paragraph of English (``en-US``) and the paragraphs of other
languages sharing its (page, id) form one translation group.

Only those pages are read. Nothing else a Debian package may ship is: not the packages' manual
pages (``manpages-*`` packages, ``usr/share/man``), not Sphinx message catalogs, not the help's
search index (``bookmarks.js``, which holds the ``<bookmark_value>`` index entries) nor its table
of contents (``contents.js``).

The steps, each usable alone:

- :func:`libreoffice_help_packages` names the packages (from ``apt-cache``);
- :func:`download_packages` fetches them with ``apt-get download`` (nothing is installed),
  :func:`extract_package` unpacks one with ``dpkg-deb -x`` and :func:`help_trees` finds its
  ``help/<locale>`` folders;
- :func:`parse_help_page` turns one page into :class:`HelpParagraph` rows;
- :func:`aligned_paragraphs` aligns the languages into :class:`ProseGroup` records and
  :func:`filter_by_language` drops translations a language detector disagrees with;
- :func:`harvest_libreoffice_help` does all of it; ``python -m xling.data.prose`` prints the
  counts per language.

Example:
    >>> from xling.data.prose import harvest_libreoffice_help, prose_counts
    >>> groups = harvest_libreoffice_help(Path("~/.cache/xling/debs").expanduser())  # doctest: +SKIP
    >>> prose_counts(groups)["de"]  # doctest: +SKIP
    ProseCount(groups=..., paragraphs=..., characters=...)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

from xling.data.corpus import stable_id, write_jsonl
from xling.data.languages import normalise_language
from xling.data.sources import SourceUnavailable
from xling.errors import DataError

SOURCE = "libreoffice-help"
LICENCE = "MPL-2.0"
ENGLISH_LOCALE = "en-US"
#: Paragraphs shorter than this (after cleaning) are dropped: titles, table cells, key names.
MIN_CHARS = 20
#: Where the packages put the help pages, below the extracted tree.
HELP_DIR = Path("usr/share/libreoffice/help")

#: The language packages of Debian 12 (LibreOffice 7.4), for when ``apt-cache`` is not there.
FALLBACK_PACKAGES = tuple(
    f"libreoffice-help-{code}"
    for code in (
        "ca", "cs", "da", "de", "dz", "el", "en-gb", "en-us", "es", "et", "eu", "fi", "fr", "gl",
        "hi", "hu", "id", "it", "ja", "km", "ko", "nl", "om", "pl", "pt", "pt-br", "ru", "sk", "sl",
        "sv", "tr", "vi", "zh-cn", "zh-tw",
    )
)  # fmt: skip

_PACKAGE_NAME = re.compile(r"^libreoffice-help-([a-z]{2,3}(?:-[a-z]{2,4})?)$")
_PARAGRAPH_ID = re.compile(r"^(?:par|hd)_")


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class HelpParagraph:
    """One paragraph of a help page, cleaned.

    Args:
        page: the upstream source file the page was built from (``text/shared/01/01020000.xhp``).
        par_id: the paragraph's id on that page (``par_id3146137``); a second paragraph with the
            same id on one page gets ``#2`` appended, and so on.
        text: the paragraph's visible text, markup dropped, whitespace folded.
    """

    page: str
    par_id: str
    text: str


@dataclass(frozen=True)
class HelpTree:
    """One language's extracted help and the Debian package it came from.

    Args:
        locale: the help's folder name (``de``, ``pt-BR``, ``en-US``).
        root: the folder ``.../help/<locale>`` holding ``text/``.
        package: the Debian package (``libreoffice-help-de``), ``""`` if not known.
        version: the package version (``4:7.4.7-1+deb12u14``), ``""`` if not known.
    """

    locale: str
    root: Path
    package: str = ""
    version: str = ""


@dataclass(frozen=True)
class ProseSegment:
    """One language's paragraph in a translation group, with where it came from.

    The fields of :class:`xling.data.corpus.Segment` (less the split), plus the package, its
    version and the paragraph id.
    """

    group: str
    lang: str
    text: str
    source: str
    domain: str
    par_id: str
    package: str
    version: str
    licence: str


@dataclass(frozen=True)
class ProseGroup:
    """An English paragraph and its translations (one per language, English excluded)."""

    group: str
    english: ProseSegment
    translations: tuple[ProseSegment, ...]

    @property
    def segments(self) -> tuple[ProseSegment, ...]:
        """English first, then the translations."""
        return (self.english, *self.translations)


@dataclass(frozen=True)
class ProseCount:
    """Counts for one language: groups it takes part in, its paragraphs and their characters."""

    groups: int
    paragraphs: int
    characters: int


# ---------------------------------------------------------------------------------------------
# Debian packages


def libreoffice_help_packages() -> list[str]:
    """The ``libreoffice-help-<locale>`` packages apt knows (``-common``, the viewer, left out).

    Falls back to :data:`FALLBACK_PACKAGES` when ``apt-cache`` is missing or finds none (run
    ``apt-get update`` for a fresh list).

    Example:
        >>> "libreoffice-help-de" in libreoffice_help_packages()  # doctest: +SKIP
        True
    """
    try:
        result = subprocess.run(
            ["apt-cache", "search", "--names-only", "^libreoffice-help-"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    except OSError:
        return list(FALLBACK_PACKAGES)
    names = sorted(
        {line.split(" ", 1)[0] for line in result.stdout.splitlines() if _PACKAGE_NAME.match(line.split(" ", 1)[0])}
    )
    return names or list(FALLBACK_PACKAGES)


def download_packages(names: Iterable[str], dest: Path) -> list[Path]:
    """Download Debian packages (``.deb`` files, not installed) into ``dest``; returns their paths.

    A package with a ``<name>_*.deb`` already in ``dest`` is not fetched again.

    Raises:
        SourceUnavailable: ``apt-get`` is missing or could not fetch a package; the message
            says which and what to try.

    Example:
        >>> download_packages(["libreoffice-help-de"], Path("/tmp/debs"))  # doctest: +SKIP
        [PosixPath('/tmp/debs/libreoffice-help-de_4%3a7.4.7-1+deb12u14_all.deb')]
    """
    names = list(dict.fromkeys(names))
    dest.mkdir(parents=True, exist_ok=True)
    missing = [name for name in names if _cached_deb(name, dest) is None]
    if missing:
        try:
            result = subprocess.run(
                ["apt-get", "download", *missing], cwd=dest, capture_output=True, text=True, check=False
            )
        except OSError as exc:
            raise SourceUnavailable(f"apt-get is not available ({exc}); download {' '.join(missing)} by hand") from exc
        if result.returncode != 0:
            detail = " ".join(result.stderr.strip().splitlines()[-2:]) or f"exit status {result.returncode}"
            raise SourceUnavailable(
                f"apt-get download {' '.join(missing)} failed: {detail} (run apt-get update first?)"
            )
    debs = []
    for name in names:
        deb = _cached_deb(name, dest)
        if deb is None:
            raise SourceUnavailable(f"apt-get download {name} left no {name}_*.deb in {dest}")
        debs.append(deb)
    return debs


def _cached_deb(name: str, dest: Path) -> Path | None:
    found = sorted(dest.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def deb_field(deb: Path, field: str) -> str:
    """One control field of a ``.deb`` (``Version``, ``Package``), via ``dpkg-deb -f``."""
    try:
        result = subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise SourceUnavailable(f"dpkg-deb is not available ({exc}); apt-get install dpkg") from exc
    if result.returncode != 0:
        raise DataError(f"{deb}: not a readable Debian package ({result.stderr.strip()})")
    return result.stdout.strip()


def extract_package(deb: Path, dest: Path) -> Path:
    """Unpack a ``.deb`` with ``dpkg-deb -x`` into ``dest/<package>/`` (nothing is installed).

    The tree is unpacked next to its final place and moved there whole, with a marker holding
    the version; a tree of the same version already there is reused.

    Raises:
        DataError: the file is not a Debian package or could not be unpacked.
        SourceUnavailable: ``dpkg-deb`` is missing.
    """
    package, version = deb_field(deb, "Package"), deb_field(deb, "Version")
    target = dest / package
    marker = target / ".xling-extracted"
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == version:
        return target
    dest.mkdir(parents=True, exist_ok=True)
    partial = dest / f".{package}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(partial)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise DataError(f"{deb}: dpkg-deb -x failed ({result.stderr.strip()})")
    (partial / marker.name).write_text(version + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def help_trees(extracted: Path, package: str = "", version: str = "") -> list[HelpTree]:
    """The ``usr/share/libreoffice/help/<locale>/`` folders of an extracted help package.

    Usually one; ``libreoffice-help-ca`` holds ``ca`` and ``ca-valencia``, and
    ``libreoffice-help-sk`` none (it only depends on the Czech help), hence a list.
    """
    roots = sorted(path.parent for path in (extracted / HELP_DIR).glob("*/text") if path.is_dir())
    return [HelpTree(root.name, root, package, version) for root in roots]


def help_language(locale: str) -> str | None:
    """The language code of a help folder's locale; ``None`` for a variant (``ca-valencia``).

    >>> help_language("pt-BR"), help_language("zh-TW"), help_language("ca-valencia")
    ('pt', 'zh', None)
    """
    *_, last = locale.split("-")
    if last != locale and len(last) > 4:  # longer than a region or script subtag: a variant
        return None
    return normalise_language(locale)


# ---------------------------------------------------------------------------------------------
# Parsing one page

#: Elements whose content is never text of a paragraph: page chrome, code, index entries
#: (``bookmark_value``: the compiled pages keep them in a ``<meta>``, uncompiled ``.xhp`` inline),
#: embedded copies of other pages' paragraphs (each is harvested on its own page) and the
#: "To access this command" boxes of menu paths and shortcuts.
_SKIPPED_TAGS = frozenset(
    {"head", "script", "style", "header", "aside", "nav", "footer", "pre", "code", "bookmark", "bookmark_value"}
)
_SKIPPED_CLASSES = frozenset(
    {"embedded", "howtoget", "bascode", "pycode", "debug", "code", "codeintable", "smathcode", "example"}
)
#: Inline classes of menu paths, keys and code; a paragraph mostly made of them is dropped.
_MARKED_CLASSES = frozenset({"menuitem", "keycode", "input", "literal"})
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
)
_BLOCK_TAGS = frozenset(
    {"br", "p", "div", "li", "td", "th", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_PLACEHOLDERS = {"$[officename]": "LibreOffice", "%PRODUCTNAME": "LibreOffice"}
_MARK_OPEN, _MARK_CLOSE = "\x01", "\x02"
_SPACES = re.compile(r"\s+")


class _Switch:
    """The cases of one ``switchinline``: (case id, text) in page order."""

    def __init__(self) -> None:
        self.cases: list[tuple[str, str]] = []

    def chosen(self) -> str:
        # The default case is what the help shows outside a given application or system; a
        # switch without one (Writer vs Calc wording) keeps its first case, the same in every
        # language since translators keep the markup of a paragraph.
        for case_id, text in self.cases:
            if case_id.startswith("default"):
                return text
        return self.cases[0][1] if self.cases else ""


class _PageParser(HTMLParser):
    """Collects ``(id, raw text)`` of the id-tagged paragraphs and headings of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[tuple[str, str]] = []
        # Open elements: (tag, what closing it does): "skip", "para", "switch", "case", "mark" or "".
        self._open: list[tuple[str, str]] = []
        self._buffers: list[list[str]] = []
        self._switches: list[_Switch] = []
        self._para_ids: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS and self._buffers and not self._skipping:
            self._buffers[-1].append(" ")
        if tag in _VOID_TAGS:
            return
        values = dict(attrs)
        classes = set((values.get("class") or "").split())
        element_id = values.get("id") or ""
        action = ""
        if self._skipping or tag in _SKIPPED_TAGS or classes & _SKIPPED_CLASSES:
            action = "skip"
            self._skipping += 1
        elif tag == "span" and "switchinline" in classes:
            action = "switch"
            self._switches.append(_Switch())
        elif tag == "span" and self._in_switch() and "hidden" in values:
            action = "case"
            self._buffers.append([])
            self._para_ids.append(element_id)
        elif tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6") and _PARAGRAPH_ID.match(element_id):
            action = "para"
            self._buffers.append([])
            self._para_ids.append(element_id)
        elif classes & _MARKED_CLASSES and self._buffers:
            action = "mark"
            self._buffers[-1].append(_MARK_OPEN)
        self._open.append((tag, action))

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS and self._buffers and not self._skipping:
            self._buffers[-1].append(" ")
        if not any(open_tag == tag for open_tag, _ in self._open):
            return  # a stray end tag
        while self._open:
            open_tag, action = self._open.pop()
            self._close(action)
            if open_tag == tag:
                break

    def close(self) -> None:
        super().close()
        while self._open:
            self._close(self._open.pop()[1])

    def _close(self, action: str) -> None:
        if action == "skip":
            self._skipping -= 1
        elif action == "mark":
            self._buffers[-1].append(_MARK_CLOSE)
        elif action == "case":
            text, case_id = "".join(self._buffers.pop()), self._para_ids.pop()
            self._switches[-1].cases.append((case_id, text))
        elif action == "switch":
            chosen = self._switches.pop().chosen()
            if self._buffers:
                self._buffers[-1].append(chosen)
        elif action == "para":
            self.paragraphs.append((self._para_ids.pop(), "".join(self._buffers.pop())))

    def _in_switch(self) -> bool:
        # Directly inside a switch, not inside one of its cases.
        return bool(self._open) and self._open[-1][1] == "switch"

    def handle_data(self, data: str) -> None:
        if self._skipping or not self._buffers or self._in_switch():
            return
        self._buffers[-1].append(data)


def clean_paragraph(raw: str, min_chars: int = MIN_CHARS) -> str | None:
    """The visible text of a paragraph, or ``None`` for one not worth keeping.

    Whitespace is folded and the text NFC-normalised; placeholders left by the help build
    (``$[officename]``) become ``LibreOffice``. Dropped: paragraphs shorter than ``min_chars``,
    ones less than half letters (formulas, numbers), and ones mostly made of menu paths, key
    names or code (text marked with ``\\x01…\\x02``).

    Example:
        >>> clean_paragraph("Choose \\x01Format - Cells - Numbers\\x02.") is None
        True
        >>> clean_paragraph("  Opens a   local or remote file.\\n")
        'Opens a local or remote file.'
    """
    for placeholder, value in _PLACEHOLDERS.items():
        raw = raw.replace(placeholder, value)
    raw = "".join(ch if ch in (_MARK_OPEN, _MARK_CLOSE) or unicodedata.category(ch)[0] != "C" else " " for ch in raw)
    raw = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
    marked, depth, visible, letters = 0, 0, 0, 0
    for ch in raw:
        if ch == _MARK_OPEN:
            depth += 1
        elif ch == _MARK_CLOSE:
            depth = max(depth - 1, 0)
        elif not ch.isspace():
            visible += 1
            letters += ch.isalpha()
            marked += depth > 0
    text = raw.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")
    text = _SPACES.sub(" ", text).strip()
    if len(text) < min_chars or letters < visible / 2 or marked >= visible / 2:
        return None
    return text


def parse_help_page(html: str, page: str, min_chars: int = MIN_CHARS) -> list[HelpParagraph]:
    """The id-tagged paragraphs and headings of one compiled help page, cleaned.

    Inline markup is dropped and its text kept (``<span class="emph">``, links); of a
    ``switchinline`` (Mac vs other systems, Writer vs Calc) the default case is kept. Code
    blocks, embedded copies of other pages' paragraphs, "To access this command" boxes and
    paragraphs :func:`clean_paragraph` rejects are left out.

    Args:
        html: the page's text.
        page: the name to record (the upstream ``.xhp`` path, ``text/shared/01/01020000.xhp``).
        min_chars: shorter paragraphs are dropped.

    Example:
        >>> html = '<p id="par_id1">Opens a <span class="emph">local</span> or remote file.</p>'
        >>> parse_help_page(html, "text/shared/01/01020000.xhp")[0].text
        'Opens a local or remote file.'
    """
    parser = _PageParser()
    parser.feed(html)
    parser.close()
    seen: Counter = Counter()
    out = []
    for par_id, raw in parser.paragraphs:
        seen[par_id] += 1
        text = clean_paragraph(raw, min_chars)
        if text is not None:
            out.append(HelpParagraph(page, par_id if seen[par_id] == 1 else f"{par_id}#{seen[par_id]}", text))
    return out


def help_pages(root: Path) -> list[str]:
    """The pages of one language's help, as paths relative to ``root`` (``text/…/x.html``)."""
    return sorted(path.relative_to(root).as_posix() for path in (root / "text").rglob("*.html"))


def read_help_page(root: Path, relative: str, min_chars: int = MIN_CHARS) -> list[HelpParagraph]:
    """Parse ``root/relative``; the page is recorded under its upstream ``.xhp`` name."""
    html = (root / relative).read_text(encoding="utf-8", errors="replace")
    return parse_help_page(html, relative.removesuffix(".html") + ".xhp", min_chars)


# ---------------------------------------------------------------------------------------------
# Alignment


def choose_locales(trees: Sequence[HelpTree], english: str = ENGLISH_LOCALE) -> dict[str, HelpTree]:
    """One tree per language code, English excluded: the language's only locale, or its largest.

    Locales are normalised with :func:`xling.data.languages.normalise_language`; where two map
    to one code (``pt`` and ``pt-BR``, ``zh-CN`` and ``zh-TW``) the one with more translated
    paragraphs (aligned with English and differing from it) is kept, ties going to the first
    name; mixing them would put two spelling norms, or two scripts, under one label. English
    variants (``en-GB``) are dropped: they duplicate the English side; so are variants
    (``ca-valencia``), as :func:`xling.data.languages.normalise_language` drops ``ca@valencia``.
    """
    by_lang: dict[str, list[HelpTree]] = {}
    for tree in trees:
        lang = help_language(tree.locale)
        if lang is None or lang == "en" or tree.locale == english:
            continue
        by_lang.setdefault(lang, []).append(tree)
    pivot = _english_tree(trees, english)
    chosen = {}
    for lang, candidates in sorted(by_lang.items()):
        if len(candidates) == 1:
            chosen[lang] = candidates[0]
        else:
            sizes = _translated_counts(pivot, candidates)
            chosen[lang] = max(sorted(candidates, key=lambda t: t.locale), key=lambda t: sizes[t.locale])
    return chosen


def _english_tree(trees: Sequence[HelpTree], english: str) -> HelpTree:
    for tree in trees:
        if tree.locale == english:
            return tree
    raise DataError(f"no {english} help among the locales {sorted(t.locale for t in trees)}")


def _translated_counts(pivot: HelpTree, candidates: Sequence[HelpTree]) -> Counter:
    counts: Counter = Counter()
    for relative in help_pages(pivot.root):
        source = {(p.par_id): p.text for p in read_help_page(pivot.root, relative)}
        for tree in candidates:
            if (tree.root / relative).is_file():
                counts[tree.locale] += sum(
                    1 for p in read_help_page(tree.root, relative) if source.get(p.par_id, p.text) != p.text
                )
    return counts


def _as_trees(trees: Mapping[str, Path] | Sequence[HelpTree]) -> list[HelpTree]:
    if isinstance(trees, Mapping):
        return [HelpTree(locale, Path(root)) for locale, root in trees.items()]
    return list(trees)


def aligned_paragraphs(
    trees: Mapping[str, Path] | Sequence[HelpTree],
    english: str = ENGLISH_LOCALE,
    min_chars: int = MIN_CHARS,
) -> Iterator[ProseGroup]:
    """Translation groups: each English paragraph with the paragraphs of its (page, id) elsewhere.

    Pages are read one at a time in every language, so memory stays small. A translation
    identical to English (after cleaning) is untranslated and dropped, as is a group left with
    no translation. Locales are normalised and deduplicated by :func:`choose_locales`.

    Args:
        trees: the helps, as :class:`HelpTree` records (carrying package and version) or a
            mapping of locale name to its ``help/<locale>`` folder.
        english: the locale that is the English side.
        min_chars: shorter paragraphs are dropped.

    Example:
        >>> groups = aligned_paragraphs({"en-US": Path("help/en-US"), "de": Path("help/de")})  # doctest: +SKIP
        >>> next(groups).translations[0].lang  # doctest: +SKIP
        'de'
    """
    trees = _as_trees(trees)
    pivot = _english_tree(trees, english)
    others = choose_locales(trees, english)
    for relative in help_pages(pivot.root):
        translated: dict[str, dict[str, str]] = {}
        for lang, tree in others.items():
            if (tree.root / relative).is_file():
                translated[lang] = {p.par_id: p.text for p in read_help_page(tree.root, relative, min_chars)}
        for paragraph in read_help_page(pivot.root, relative, min_chars):
            group = stable_id("g", SOURCE, paragraph.page, paragraph.par_id)
            translations = tuple(
                _segment(group, paragraph, lang, texts[paragraph.par_id], others[lang])
                for lang, texts in translated.items()
                if texts.get(paragraph.par_id, paragraph.text) != paragraph.text
            )
            if translations:
                yield ProseGroup(group, _segment(group, paragraph, "en", paragraph.text, pivot), translations)


def _segment(group: str, paragraph: HelpParagraph, lang: str, text: str, tree: HelpTree) -> ProseSegment:
    return ProseSegment(
        group, lang, text, SOURCE, paragraph.page, paragraph.par_id, tree.package, tree.version, LICENCE
    )


def filter_by_language(
    groups: Iterable[ProseGroup],
    detect: Callable[[list[str]], Sequence[str | Sequence[str]]],
    supported: Collection[str] | None = None,
    batch_size: int = 256,
) -> Iterator[ProseGroup]:
    """Drop translations a language detector says are not in their package's language.

    Args:
        groups: translation groups.
        detect: language identification for a batch of texts: per text its best codes, best
            first (fastText's top 3 in the harvest), or one code; codes are normalised before
            they are compared.
        supported: the languages ``detect`` can name, or ``None`` for all.
        batch_size: groups whose translations go to ``detect`` in one call.

    A translation in a language ``detect`` names is kept when that language comes first, or
    among its codes behind anything but English: a top-1 rule drops half of the Galician help
    (fastText reads it as Portuguese or Spanish), while English first is what an untranslated
    paragraph left in a help looks like. A translation in a language ``detect`` cannot name
    (fastText's lid.176 has neither Dzongkha nor Oromo) is dropped only when English comes first.
    A group left with no translation is dropped. English is not checked.

    Example:
        >>> kept = filter_by_language(groups, lambda texts: [["de", "nl"]] * len(texts))  # doctest: +SKIP
    """
    batch: list[ProseGroup] = []
    for group in groups:
        batch.append(group)
        if len(batch) >= batch_size:
            yield from _filter_batch(batch, detect, supported)
            batch = []
    if batch:
        yield from _filter_batch(batch, detect, supported)


def _agrees(lang: str, codes: Sequence[str], supported: Collection[str] | None) -> bool:
    first = codes[0] if codes else ""
    if supported is not None and lang not in supported:
        return first != "en"
    return first == lang or (lang in codes and first != "en")


def _filter_batch(
    batch: list[ProseGroup],
    detect: Callable[[list[str]], Sequence[str | Sequence[str]]],
    supported: Collection[str] | None,
) -> Iterator[ProseGroup]:
    checked = [t for group in batch for t in group.translations]
    answers = detect([t.text for t in checked]) if checked else []
    if len(answers) != len(checked):
        raise ValueError(f"detect returned {len(answers)} codes for {len(checked)} texts")
    wrong = set()
    for t, answer in zip(checked, answers):
        codes = [normalise_language(c or "") or "" for c in ([answer] if isinstance(answer, str) else answer)]
        if not _agrees(t.lang, codes, supported):
            wrong.add(id(t))
    for group in batch:
        kept = tuple(t for t in group.translations if id(t) not in wrong)
        if kept:
            yield replace(group, translations=kept)


def unique_english(groups: Iterable[ProseGroup]) -> Iterator[ProseGroup]:
    """Keep the first group of each English text: the help repeats paragraphs across pages, and
    copies in separate groups could land in different splits (train on the test set)."""
    seen: set[str] = set()
    for group in groups:
        if group.english.text not in seen:
            seen.add(group.english.text)
            yield group


# ---------------------------------------------------------------------------------------------
# The whole harvest


def fetch_help_trees(cache: Path, languages: Sequence[str] | None = None) -> list[HelpTree]:
    """Download (into ``cache``) and extract (into ``cache/trees``) the help packages.

    Args:
        cache: the folder for the ``.deb`` files.
        languages: normalised codes to fetch (English always comes too); ``None`` for all.
    """
    names = libreoffice_help_packages()
    if languages is not None:
        wanted = set(languages) | {"en"}
        names = [n for n in names if help_language(_PACKAGE_NAME.match(n).group(1)) in wanted]
    trees = []
    for deb in download_packages(names, cache):
        package = deb_field(deb, "Package")
        found = help_trees(extract_package(deb, cache / "trees"), package, deb_field(deb, "Version"))
        if not found:
            print(f"libreoffice-help: {package} holds no help pages (skipped)", file=sys.stderr)
        trees.extend(found)
    return trees


def harvest_libreoffice_help(
    cache: Path,
    languages: Sequence[str] | None = None,
    detect: Callable[[list[str]], Sequence[str | Sequence[str]]] | None = None,
    supported: Collection[str] | None = None,
    deduplicate: bool = True,
) -> list[ProseGroup]:
    """LibreOffice's help as translation groups: download, extract, parse, align, filter.

    Args:
        cache: folder for the downloaded ``.deb`` files (``~/.cache/xling/debs``); the extracted
            trees go to ``cache/trees`` (about 30 MB per language).
        languages: normalised codes to harvest besides English; ``None`` for every package.
        detect, supported: optional language identification and the languages it can name
            (see :func:`filter_by_language`).
        deduplicate: keep only the first group of each English text (:func:`unique_english`).

    Raises:
        SourceUnavailable: apt could not fetch the packages.

    Example:
        >>> groups = harvest_libreoffice_help(Path("/tmp/debs"), ["de", "fr"])  # doctest: +SKIP
    """
    groups: Iterable[ProseGroup] = aligned_paragraphs(fetch_help_trees(cache, languages))
    if languages is not None:
        wanted = set(languages)
        groups = _only_languages(groups, wanted)
    return finish_groups(groups, deduplicate, detect, supported)


def finish_groups(
    groups: Iterable[ProseGroup],
    deduplicate: bool,
    detect: Callable[[list[str]], Sequence[str | Sequence[str]]] | None,
    supported: Collection[str] | None,
) -> list[ProseGroup]:
    """The last steps every prose source shares: :func:`unique_english` (if ``deduplicate``), then
    :func:`filter_by_language` (if ``detect``)."""
    if deduplicate:
        groups = unique_english(groups)
    if detect is not None:
        groups = filter_by_language(groups, detect, supported)
    return list(groups)


def _only_languages(groups: Iterable[ProseGroup], wanted: set[str]) -> Iterator[ProseGroup]:
    for group in groups:
        kept = tuple(t for t in group.translations if t.lang in wanted)
        if kept:
            yield replace(group, translations=kept)


def prose_counts(groups: Iterable[ProseGroup]) -> dict[str, ProseCount]:
    """Groups, paragraphs and characters per language (English included), sorted by code."""
    paragraphs: Counter = Counter()
    characters: Counter = Counter()
    for group in groups:
        for segment in group.segments:
            paragraphs[segment.lang] += 1
            characters[segment.lang] += len(segment.text)
    # One paragraph per language and group, so a language's group count is its paragraph count.
    return {lang: ProseCount(paragraphs[lang], paragraphs[lang], characters[lang]) for lang in sorted(paragraphs)}


def render_prose_counts(counts: Mapping[str, ProseCount]) -> str:
    """A Markdown table of :func:`prose_counts`, largest language first."""
    lines = ["| lang | groups | paragraphs | characters |", "|---|---:|---:|---:|"]
    for lang, count in sorted(counts.items(), key=lambda item: (-item[1].characters, item[0])):
        lines.append(f"| {lang} | {count.groups} | {count.paragraphs} | {count.characters} |")
    return "\n".join(lines)


def run_prose_cli(
    argv: list[str] | None,
    prog: str,
    description: str,
    harvest: Callable[[Path, Sequence[str] | None, bool], list[ProseGroup]],
    report: Callable[[], str] | None = None,
) -> int:
    """The command line of a prose source: harvest, print the counts per language (and ``report``'s
    line), optionally write the segments as JSONL. Returns the exit status (2 on a data error)."""
    from xling.config import Paths

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--cache", type=Path, default=Paths.from_env().cache / "debs", help="deb folder (default: %(default)s)"
    )
    parser.add_argument("--languages", nargs="*", default=None, help="codes to harvest besides English (default: all)")
    parser.add_argument("--no-dedupe", action="store_true", help="keep repeated English paragraphs")
    parser.add_argument("--out", type=Path, default=None, help="also write the segments as JSONL here")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        groups = harvest(args.cache, args.languages, not args.no_dedupe)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = prose_counts(groups)
    print(render_prose_counts(counts))
    big = sum(1 for lang, c in counts.items() if lang != "en" and c.characters >= 1_000_000)
    print(f"\n{len(groups)} groups, {len(counts) - 1} languages besides English, {big} with >= 1 M characters; "
          f"{time.monotonic() - start:.0f} s")  # fmt: skip
    if report is not None:
        print(report())
    if args.out is not None:
        rows = write_jsonl(args.out, (segment for group in groups for segment in group.segments))
        print(f"wrote {rows} segments to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m xling.data.prose``: harvest and print the counts per language."""
    return run_prose_cli(
        argv, "python -m xling.data.prose", __doc__.split("\n\n")[0],
        lambda cache, languages, dedupe: harvest_libreoffice_help(cache, languages, deduplicate=dedupe),
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

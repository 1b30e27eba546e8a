"""Real translated prose: GNOME's user help, aligned block by block in up to 39 languages.

Debian's ``gnome-user-docs`` (one package, CC-BY-SA-3.0) holds the help as Mallard ``.page``
XML under ``usr/share/help/<locale>/<document>/``: ``gnome-help`` (293 pages in every
locale) and ``system-admin-guide`` (55 pages, in 14 locales), with ``C`` the English
original. The translated pages are made by itstool from the English ones: the same XML, each
block's text replaced by its translation (or left in English where there is none). So the
text blocks of a page (``<p>``, ``<title>``, ``<desc>``, ``<subtitle>``, wherever they sit in
lists, tables, notes or steps) align by their position on the page: an English block and the
blocks at the same (document, page, position) in other languages form one translation group.

A language's page whose blocks differ from the English page's (in number or kind) is skipped
for that language. In ``gnome-user-docs`` 43.0-2 that happens to no page in any language; the
check guards other versions and hand-made translations. Some locales are pages of English:
itstool keeps the English of every block whose translation is missing or out of date, and
almost all of Hebrew's and Turkish's are (no group for ``he``, 4 for ``tr``).

Kept and dropped:

- inline markup is dropped and its text kept (``<gui>``, ``<link>``, ``<em>``, ``<key>``);
  a block mostly made of menu items, keys, commands, file names or code (``<gui>``, ``<key>``,
  ``<cmd>``, ``<input>``, ``<code>``, ``<file>``, ``<sys>``…) is dropped, as are blocks made
  only of links and blocks with an empty ``<link xref="…"/>`` (the help fills in the target's
  title when it shows the page; the text read here would have a hole);
- code and terminal blocks (``<code>``, ``<screen>``, ``<synopsis>`` outside a paragraph),
  editorial ``<comment>`` elements, block ``<media>`` (images and their captions) and the
  page's ``<info>`` (credits, licence, revisions, keywords) are not read; only its ``<desc>``,
  the page's one-line summary, is;
- blocks shorter than :data:`MIN_CHARS` after cleaning (:func:`xling.data.prose.clean_paragraph`)
  and translations identical to English (untranslated) are dropped.

The records are :mod:`xling.data.prose`'s (:class:`~xling.data.prose.ProseSegment`,
:class:`~xling.data.prose.ProseGroup`), as are the Debian and filtering steps it reuses:

- :func:`parse_mallard_page` turns one page into :class:`MallardBlock` rows;
- :func:`choose_mallard_locales` picks one locale per language; :func:`aligned_mallard` aligns
  an extracted ``usr/share/help`` folder into :class:`~xling.data.prose.ProseGroup` records;
- :func:`harvest_gnome_user_docs` downloads, extracts, aligns and filters;
  ``python -m xling.data.mallard`` prints the counts per language.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from xling.data.corpus import stable_id
from xling.data.languages import normalise_language
from xling.data.debs import deb_field, download_packages, extract_package
from xling.data.help_page import MIN_CHARS, clean_paragraph
from xling.data.prose import ProseGroup, ProseSegment, finish_groups, run_prose_cli
from xling.errors import DataError

SOURCE = "gnome-user-docs"
LICENCE = "CC-BY-SA-3.0"
PACKAGE = "gnome-user-docs"
#: The folder of the English originals.
ENGLISH_LOCALE = "C"
#: Where the package puts the help, below the extracted tree.
HELP_DIR = Path("usr/share/help")

_MALLARD = "{http://projectmallard.org/1.0/}"
#: Mallard's conditionals (``<if:choose>``, ``<if:when>``): containers, read like any other.
_CONDITIONAL = "{http://projectmallard.org/if/1.0/}"
#: Blocks whose text is prose.
_TEXT_BLOCKS = frozenset({"p", "title", "subtitle", "desc"})
#: Blocks that are code or terminal sessions: recorded (so positions stay put), never kept.
_CODE_BLOCKS = frozenset({"code", "screen", "synopsis"})
#: Elements never read, nor anything in them: editorial notes, images with their captions.
_SKIPPED = frozenset({"comment", "media"})
#: Inline elements of menu items, keys, commands and code; a block mostly made of them is dropped.
_MARKED = frozenset(
    {"gui", "guiseq", "key", "keyseq", "cmd", "code", "input", "output", "file", "sys", "var", "media"}
)
#: :func:`xling.data.prose.clean_paragraph`'s marks around such text.
_MARK_OPEN, _MARK_CLOSE = "\x01", "\x02"


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class MallardBlock:
    """One text block of a Mallard page, in page order.

    Args:
        page: the page, as recorded (``gnome-help/power-batterylife.page``).
        par_id: ``b<position>``: the block's position among the page's text blocks, counted
            from 0 over every block, dropped ones included, so the same block has the same id
            in every language.
        tag: the block's element (``p``, ``title``, ``desc``, ``code``…).
        text: the cleaned text, or ``None`` for a block that is dropped (code, too short,
            mostly menu items or keys, links only).
    """

    page: str
    par_id: str
    tag: str
    text: str | None


# ---------------------------------------------------------------------------------------------
# Parsing one page


def parse_mallard_page(xml_text: str, page: str, min_chars: int = MIN_CHARS) -> list[MallardBlock]:
    """The text blocks of one Mallard page, in order, each cleaned or ``None`` if dropped.

    Every block is listed, kept or not, so that blocks align by position across languages;
    what is dropped and why is in the module's docstring.

    Args:
        xml_text: the page's XML. Entity declarations are refused; nothing outside the text
            is read (no DTD, no XInclude).
        page: the name to record (``gnome-help/power-batterylife.page``), also used in errors.
        min_chars: shorter blocks are dropped.

    Raises:
        DataError: the page is not well-formed XML, declares entities, or is not a Mallard page.

    Example:
        >>> xml = ('<page xmlns="http://projectmallard.org/1.0/"><title>Battery</title>'
        ...        '<p>Use the <gui>Power</gui> panel to change your power settings.</p></page>')
        >>> [(b.par_id, b.text) for b in parse_mallard_page(xml, "gnome-help/power.page")]
        [('b0', None), ('b1', 'Use the Power panel to change your power settings.')]
    """
    if "<!ENTITY" in xml_text:
        raise DataError(f"{page}: declares XML entities, which are not read")
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise DataError(f"{page}: not well-formed XML ({exc})") from exc
    if root.tag != _MALLARD + "page":
        raise DataError(f"{page}: not a Mallard page (root element {root.tag})")
    found: list[tuple[str, str | None]] = []
    _collect_blocks(root, found, min_chars, in_info=False)
    return [MallardBlock(page, f"b{index}", tag, text) for index, (tag, text) in enumerate(found)]


def _collect_blocks(element: ET.Element, found: list[tuple[str, str | None]], min_chars: int, in_info: bool) -> None:
    for child in element:
        tag = child.tag
        if tag.startswith(_CONDITIONAL):
            _collect_blocks(child, found, min_chars, in_info)
            continue
        if not tag.startswith(_MALLARD):
            continue  # ITS rules, XInclude, experimental UI elements: no text of the page
        name = tag[len(_MALLARD) :]
        if name in _SKIPPED:
            continue
        if name == "info":
            _collect_blocks(child, found, min_chars, in_info=True)
        elif in_info:
            # Of the page's metadata only the summary is prose; credits and licence are not.
            if name == "desc":
                found.append((name, _block_text(child, min_chars)))
        elif name in _TEXT_BLOCKS:
            found.append((name, _block_text(child, min_chars)))
        elif name in _CODE_BLOCKS:
            found.append((name, None))
        else:
            _collect_blocks(child, found, min_chars, in_info)


def _block_text(block: ET.Element, min_chars: int) -> str | None:
    parts: list[str] = []
    outside_links: list[str] = []
    if not _inline_text(block, parts, outside_links, in_link=False):
        return None
    if not any(ch.isalpha() for ch in "".join(outside_links)):
        return None  # only links: a list of pages, not a sentence
    return clean_paragraph("".join(parts), min_chars)


def _inline_text(element: ET.Element, parts: list[str], outside_links: list[str], in_link: bool) -> bool:
    """Append ``element``'s text (marks around menu items, keys and code) to ``parts``; ``False``
    where an empty ``<link>`` leaves a hole the help would fill with another page's title."""
    nodes: list[str | ET.Element] = [element.text or ""]
    for child in element:
        nodes += [child, child.tail or ""]
    join = _sequence_join(element)
    if join is not None:
        # Key combinations and menu paths: the help shows ``Ctrl+A``, ``Settings ▸ Color``.
        items = [node.strip() if isinstance(node, str) else node for node in nodes]
        nodes = [item for item in items if not isinstance(item, str) or item]
        nodes = [node for item in nodes for node in (join, item)][1:]
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
            if not in_link:
                outside_links.append(node)
            continue
        name = node.tag.rsplit("}", 1)[-1]
        if name == "comment":
            continue
        if name == "link" and not (node.text or "").strip() and len(node) == 0:
            return False
        marked = name in _MARKED
        if marked:
            parts.append(_MARK_OPEN)
        if not _inline_text(node, parts, outside_links, in_link or name == "link"):
            return False
        if marked:
            parts.append(_MARK_CLOSE)
    return True


def _sequence_join(element: ET.Element) -> str | None:
    name = element.tag.rsplit("}", 1)[-1]
    if name == "keyseq":
        return element.get("join", "+")
    return " ▸ " if name == "guiseq" else None


def read_mallard_page(root: Path, locale: str, page: str, min_chars: int = MIN_CHARS) -> list[MallardBlock]:
    """Parse ``root/<locale>/<page>`` (``page`` as ``gnome-help/x.page``)."""
    return parse_mallard_page((root / locale / page).read_text(encoding="utf-8"), page, min_chars)


# ---------------------------------------------------------------------------------------------
# Locales and pages


def mallard_language(locale: str) -> str | None:
    """The language code of a help locale folder; ``None`` for a variant (``sr@latin``).

    ``C``, the English original, is ``en``.

    >>> mallard_language("pt_BR"), mallard_language("zh_CN"), mallard_language("C"), mallard_language("sr@latin")
    ('pt', 'zh', 'en', None)
    """
    return "en" if locale == ENGLISH_LOCALE else normalise_language(locale)


def help_locales(root: Path) -> list[str]:
    """The locale folders of ``root`` (a ``usr/share/help`` folder) holding ``.page`` files."""
    return sorted(path.name for path in root.iterdir() if path.is_dir() and any(path.glob("*/*.page")))


def mallard_pages(root: Path, locale: str = ENGLISH_LOCALE) -> list[str]:
    """A locale's pages as ``<document>/<file>.page`` (``gnome-help/power-batterylife.page``)."""
    return sorted(path.relative_to(root / locale).as_posix() for path in (root / locale).glob("*/*.page"))


def choose_mallard_locales(
    root: Path, languages: Collection[str] | None = None, min_chars: int = MIN_CHARS
) -> dict[str, str]:
    """One locale per language code, English excluded: the language's only locale, or its largest.

    As :func:`xling.data.prose.choose_locales` does for LibreOffice: where two locales map to
    one code (``pt`` and ``pt_BR``, ``zh_CN`` and ``zh_TW``) the one with more translated
    blocks (aligned with English and differing from it) is kept, ties going to the first name;
    English variants (``en_GB``) and ``@`` variants (``sr@latin``) are dropped.

    Args:
        root: a ``usr/share/help`` folder.
        languages: the codes wanted; ``None`` for all.
        min_chars: as in :func:`parse_mallard_page`.
    """
    by_lang: dict[str, list[str]] = {}
    for locale in help_locales(root):
        lang = mallard_language(locale)
        if lang is None or lang == "en" or (languages is not None and lang not in languages):
            continue
        by_lang.setdefault(lang, []).append(locale)
    chosen = {}
    for lang, candidates in sorted(by_lang.items()):
        if len(candidates) == 1:
            chosen[lang] = candidates[0]
        else:
            sizes = _translated_counts(root, candidates, min_chars)
            chosen[lang] = max(candidates, key=lambda locale: sizes[locale])  # candidates are sorted
    return chosen


def _translated_counts(root: Path, candidates: Sequence[str], min_chars: int) -> Counter:
    counts: Counter = Counter()
    for page in mallard_pages(root):
        english = read_mallard_page(root, ENGLISH_LOCALE, page, min_chars)
        for locale in candidates:
            blocks = _aligned_blocks(root, locale, page, english, min_chars)
            if blocks is not None:
                counts[locale] += sum(1 for e, b in zip(english, blocks) if _translated(e, b))
    return counts


def _aligned_blocks(
    root: Path, locale: str, page: str, english: Sequence[MallardBlock], min_chars: int
) -> list[MallardBlock] | None:
    """The locale's blocks of ``page``; ``None`` where it has no such page, or one that is
    unreadable or whose blocks do not match the English ones (number or kind)."""
    if not (root / locale / page).is_file():
        return None
    try:
        blocks = read_mallard_page(root, locale, page, min_chars)
    except DataError:
        return None
    if [b.tag for b in blocks] != [e.tag for e in english]:
        return None
    return blocks


def _translated(english: MallardBlock, block: MallardBlock) -> bool:
    return english.text is not None and block.text is not None and block.text != english.text


# ---------------------------------------------------------------------------------------------
# Alignment


def aligned_mallard(
    root: Path,
    package: str = "",
    version: str = "",
    min_chars: int = MIN_CHARS,
    languages: Collection[str] | None = None,
    skipped: Counter | None = None,
) -> Iterator[ProseGroup]:
    """Translation groups: each kept English block with the blocks at its position elsewhere.

    Pages are read one at a time in every language, so memory stays small. A translation that
    is dropped, or identical to English (untranslated), is left out, as is a group left with no
    translation. Locales are chosen by :func:`choose_mallard_locales`.

    Args:
        root: the ``usr/share/help`` folder of an extracted ``gnome-user-docs``; ``root/C``
            holds the English pages.
        package, version: the Debian package and its version, recorded in every segment.
        min_chars: shorter blocks are dropped.
        languages: the codes to align besides English; ``None`` for all.
        skipped: if given, counts per language the pages left out because they could not be
            read or their blocks do not match the English page's.

    Raises:
        DataError: there are no English pages, or an English page is unreadable.
    """
    pages = mallard_pages(root) if (root / ENGLISH_LOCALE).is_dir() else []
    if not pages:
        raise DataError(f"{root}: no English ({ENGLISH_LOCALE}) Mallard pages")
    locales = choose_mallard_locales(root, languages, min_chars)
    for page in pages:
        english = read_mallard_page(root, ENGLISH_LOCALE, page, min_chars)
        translated: dict[str, list[MallardBlock]] = {}
        for lang, locale in locales.items():
            blocks = _aligned_blocks(root, locale, page, english, min_chars)
            if blocks is not None:
                translated[lang] = blocks
            elif skipped is not None and (root / locale / page).is_file():
                skipped[lang] += 1
        for position, block in enumerate(english):
            if block.text is None:
                continue
            group = stable_id("g", SOURCE, page, block.par_id)
            translations = tuple(
                _segment(group, block, lang, blocks[position].text, package, version)
                for lang, blocks in translated.items()
                if _translated(block, blocks[position])
            )
            if translations:
                yield ProseGroup(group, _segment(group, block, "en", block.text, package, version), translations)


def _segment(group: str, block: MallardBlock, lang: str, text: str, package: str, version: str) -> ProseSegment:
    return ProseSegment(group, lang, text, SOURCE, block.page, block.par_id, package, version, LICENCE)


# ---------------------------------------------------------------------------------------------
# The whole harvest


def fetch_gnome_user_docs(cache: Path) -> tuple[Path, str]:
    """Download ``gnome-user-docs`` (into ``cache``) and extract it (into ``cache/trees``).

    Returns:
        The extracted ``usr/share/help`` folder and the package version.

    Raises:
        SourceUnavailable: apt could not fetch the package.
        DataError: the package holds no help.
    """
    (deb,) = download_packages([PACKAGE], cache)
    root = extract_package(deb, cache / "trees") / HELP_DIR
    if not root.is_dir():
        raise DataError(f"{deb}: holds no {HELP_DIR}")
    return root, deb_field(deb, "Version")


def harvest_gnome_user_docs(
    cache: Path,
    languages: Sequence[str] | None = None,
    detect: Callable[[list[str]], Sequence[str | Sequence[str]]] | None = None,
    supported: Collection[str] | None = None,
    deduplicate: bool = True,
    skipped: Counter | None = None,
) -> list[ProseGroup]:
    """GNOME's user help as translation groups: download, extract, parse, align, filter.

    Args:
        cache: folder for the downloaded ``.deb`` (``~/.cache/xling/debs``, 8.5 MB); the
            extracted tree goes to ``cache/trees`` (about 90 MB, mostly images).
        languages: normalised codes to harvest besides English; ``None`` for all.
        detect, supported: optional language identification and the languages it can name
            (see :func:`xling.data.prose.filter_by_language`).
        deduplicate: keep only the first group of each English text
            (:func:`xling.data.prose.unique_english`): the help repeats blocks across pages.
        skipped: as in :func:`aligned_mallard`.

    Raises:
        SourceUnavailable: apt could not fetch the package.
    """
    root, version = fetch_gnome_user_docs(cache)
    wanted = set(languages) if languages is not None else None
    groups: Iterable[ProseGroup] = aligned_mallard(root, PACKAGE, version, languages=wanted, skipped=skipped)
    return finish_groups(groups, deduplicate, detect, supported)


def main(argv: list[str] | None = None) -> int:
    """``python -m xling.data.mallard``: harvest and print the counts per language."""
    skipped: Counter = Counter()

    def report() -> str:
        mismatched = ", ".join(f"{lang} {n}" for lang, n in sorted(skipped.items())) or "none"
        return f"pages skipped (unreadable, or blocks unlike the English page's): {mismatched}"

    return run_prose_cli(
        argv, "python -m xling.data.mallard", __doc__.split("\n\n")[0],
        lambda cache, languages, dedupe: harvest_gnome_user_docs(cache, languages, deduplicate=dedupe, skipped=skipped),
        report,
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

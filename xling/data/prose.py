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
- :func:`~xling.data.debs.download_packages` fetches them with ``apt-get download`` (nothing is
  installed), :func:`~xling.data.debs.extract_package` unpacks one with ``dpkg-deb -x`` and
  :func:`help_trees` finds its ``help/<locale>`` folders;
- :func:`~xling.data.help_page.parse_help_page` turns one page into
  :class:`~xling.data.help_page.HelpParagraph` rows;
- :func:`aligned_paragraphs` aligns the languages into :class:`ProseGroup` records and
  :func:`filter_by_language` drops translations a language detector disagrees with;
- :func:`harvest_libreoffice_help` does all of it; ``python -m xling.data.prose`` prints the
  counts per language.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from xling.data.corpus import stable_id, write_jsonl
from xling.data.debs import deb_field, download_packages, extract_package
from xling.data.help_page import MIN_CHARS, HelpParagraph, help_pages, read_help_page
from xling.data.languages import normalise_language
from xling.errors import DataError

SOURCE = "libreoffice-help"
LICENCE = "MPL-2.0"
ENGLISH_LOCALE = "en-US"
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


# ---------------------------------------------------------------------------------------------
# Records


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
        >>> def seg(lang, text):
        ...     return ProseSegment("g1", lang, text, "help", "prose", "p1", "libreoffice-help", "7.4", "MPL-2.0")
        >>> group = ProseGroup("g1", seg("en", "Open a file."), (seg("de", "Öffne eine Datei."), seg("nl", "Open a file.")))
        >>> detect = lambda texts: [["de", "nl"] if "Datei" in t else ["en", "nl"] for t in texts]
        >>> [s.lang for g in filter_by_language([group], detect) for s in g.translations]
        ['de']
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

"""One LibreOffice help page to its paragraphs: the compiled ``.xhp`` HTML, cleaned.

Each page of the compiled help (``text/shared/01/01020000.html``) tags its paragraphs with the
upstream id (``<p id="par_id3146137">``, ``<h2 id="hd_id3150420">``). :func:`parse_help_page`
keeps those paragraphs' visible text (page chrome, code, index entries, embedded copies of other
pages and the "To access this command" boxes left out) as :class:`HelpParagraph` rows;
:func:`clean_paragraph` is the cleaning every prose source shares (:mod:`xling.data.mallard` too).
:mod:`xling.data.prose` aligns the pages of all languages.

Example:
    >>> [p.text for p in parse_help_page('<p id="par_id1">Opens a local or remote file.</p>', "open.xhp")]
    ['Opens a local or remote file.']
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

#: Paragraphs shorter than this (after cleaning) are dropped: titles, table cells, key names.
MIN_CHARS = 20

#: The ids upstream gives translatable paragraphs and headings (``par_id3146137``, ``hd_id3150420``).
_PARAGRAPH_ID = re.compile(r"^(?:par|hd)_")


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

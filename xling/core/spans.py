"""Cutting a text into the pieces a language detector reads one by one: sentences, and inside a
sentence the runs of one script (Japanese inside German, Cyrillic inside English). Pure text
processing: no detector, no model (:mod:`xling.core.detection` labels the spans).

Example:
    >>> [(s.text, s.script) for s in split_spans("Das ist gut. これはペンです。")]
    [('Das ist gut.', 'Latin'), ('これはペンです。', 'Han')]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

#: Script runs lighter than this (letters; a Han, kana or Hangul character counts 2) join their
#: neighbour, so a brand name or a loan word inside a sentence does not become its own span.
MIN_RUN_WEIGHT = 8
# A sentence ends after . ! ? … (and the Arabic, Urdu and Devanagari stops) followed by a space, or
# right after the full-width CJK stops, with closing quotes and brackets kept in the sentence.
_SENTENCE_END = re.compile(
    r"[.!?…؟۔।॥]+[\"'»”’)\]]*(?=\s|$)"
    r"|[。！？]+[」』”’）】]*"
)
# Scripts that read as one: Japanese mixes Han and kana in every sentence.
_SCRIPT_GROUPS = {"CJK": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Han", "KATAKANA": "Han",
                  "KATAKANA-HIRAGANA": "Han", "HANGUL": "Hangul"}
_DENSE_SCRIPTS = {"Han", "Hangul"}


@dataclass(frozen=True)
class Span:
    """A piece of a text: ``text == source[start:end]``, no surrounding whitespace.

    Args:
        start: offset of its first character in the source text.
        end: offset just after its last character.
        text: the piece.
        script: the script most of its letters are in (``Latin``, ``Han``, ``Cyrillic``, ...);
            ``None`` when it has no letters (numbers, emoji, punctuation).
    """

    start: int
    end: int
    text: str
    script: str | None


def script_of(char: str) -> str | None:
    """The script of a letter or mark (from its Unicode name), ``None`` for anything else.

    Han and kana are one script (``Han``), since Japanese mixes them in every sentence; combining
    marks return ``"inherited"`` (they take their base letter's script).

    Example:
        >>> [script_of(c) for c in "aЖλ中かカ한ก1 "]
        ['Latin', 'Cyrillic', 'Greek', 'Han', 'Han', 'Han', 'Hangul', 'Thai', None, None]
    """
    category = unicodedata.category(char)
    if category[0] not in "LM":
        return None
    words = unicodedata.name(char, "").split()
    if not words:
        return None
    if words[0] == "COMBINING":
        return "inherited"
    head = words[1] if words[0] in {"FULLWIDTH", "HALFWIDTH"} and len(words) > 1 else words[0]
    return _SCRIPT_GROUPS.get(head, head.capitalize())


def split_spans(text: str, min_run_weight: int = MIN_RUN_WEIGHT) -> list[Span]:
    """Cut text into sentences (at . ! ? … and 。！？ and newlines), and sentences into script runs.

    A run of another script splits a sentence only when it weighs at least ``min_run_weight``
    (letters; Han, kana and Hangul count 2), so ``私はiPhoneを使う`` stays whole while ``Привет,
    как дела, my dear friend`` splits in two. Spaces between runs stay outside both spans.

    Args:
        text: any text.
        min_run_weight: the lightest script run that becomes its own span.

    Returns:
        The spans in order, each without surrounding whitespace; ``[]`` for blank text.

    Example:
        >>> [s.text for s in split_spans("Guten Tag! 今日は暑いです。Привет, как дела")]
        ['Guten Tag!', '今日は暑いです。', 'Привет, как дела']
    """
    spans: list[Span] = []
    for start, end in _sentences(text):
        for run_start, run_end, script in _script_runs(text, start, end, min_run_weight):
            spans.extend(_stripped(text, run_start, run_end, script))
    return spans


def _sentences(text: str) -> list[tuple[int, int]]:
    bounds = []
    for line in re.finditer(r"[^\n\r]+", text):
        start = line.start()
        for stop in _SENTENCE_END.finditer(line.group()):
            after = line.group()[stop.end():].lstrip()[:1]
            if stop.group()[0] == "." and after.islower():
                continue  # "e.g. this", "z.B. das": a lower-case word does not start a sentence
            bounds.append((start, line.start() + stop.end()))
            start = line.start() + stop.end()
        bounds.append((start, line.end()))
    return [(s, e) for s, e in bounds if text[s:e].strip()]


def _script_runs(text: str, start: int, end: int, min_weight: int) -> list[tuple[int, int, str | None]]:
    # [start, end, script, weight] per maximal run of one script's letters.
    runs: list[list[Any]] = []
    for i in range(start, end):
        script = script_of(text[i])
        if script is None or script == "inherited":  # a mark stays with its base letter's run
            continue
        weight = 2 if script in _DENSE_SCRIPTS else 1
        if runs and runs[-1][2] == script:
            runs[-1][1], runs[-1][3] = i + 1, runs[-1][3] + weight
        else:
            runs.append([i, i + 1, script, weight])
    if not runs:
        return [(start, end, None)]
    totals: dict[str, int] = {}
    for run in runs:
        totals[run[2]] = totals.get(run[2], 0) + run[3]
    main = max(totals, key=totals.__getitem__)
    while len(runs) > 1:
        # Fold a too-light run into a neighbour: islands of other scripts first (a brand name in
        # Japanese), into the sentence's main script when it is next to it, else the heavier side.
        light = [j for j in range(len(runs)) if runs[j][3] < min_weight]
        if not light:
            break
        j = min(light, key=lambda i: (runs[i][2] == main, runs[i][3]))
        neighbours = [i for i in (j - 1, j + 1) if 0 <= i < len(runs)]
        into = max(neighbours, key=lambda i: (runs[i][2] == main, runs[i][3]))
        runs[j][2] = runs[into][2]
        merged = [runs[0]]
        for run in runs[1:]:  # same-script neighbours are one run again
            if run[2] == merged[-1][2]:
                merged[-1] = [merged[-1][0], run[1], run[2], merged[-1][3] + run[3]]
            else:
                merged.append(run)
        runs = merged
    # Cut between runs after the last space separating them (an opening quote stays with its word).
    cuts = [start]
    for left, right in zip(runs, runs[1:]):
        gap = text[left[1]:right[0]]
        space = max(gap.rfind(" "), gap.rfind("\t"))
        cuts.append(left[1] + space + 1 if space >= 0 else right[0])
    cuts.append(end)
    return [(cuts[j], cuts[j + 1], run[2]) for j, run in enumerate(runs)]


def _stripped(text: str, start: int, end: int, script: str | None) -> list[Span]:
    piece = text[start:end]
    inner = piece.strip()
    if not inner:
        return []
    offset = start + (len(piece) - len(piece.lstrip()))
    return [Span(offset, offset + len(inner), inner, script)]

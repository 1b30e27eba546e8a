"""``xling detect``: the language of texts, by a model's language-ID head and by fastText lid.176.

Usage::

    xling detect TEXT... | --file F [--model xling-mini] [--spans] [--top-k 5] [--json]

Each TEXT (or each text of the file: .txt one per line, .csv/.tsv/.jsonl with a ``text`` column)
gets the model's top-1, fastText's top-1 and whether they agree; with a ``lang`` column, both
accuracies. ``--spans`` labels each sentence and script run instead. ``--json`` prints one object
with the top ``--top-k`` of each detector. Models resolve as in the app (a ``checkpoints/`` folder
name, a path, a hub id).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from xling.commands.args import add_json_flag, app_services, positive_int
from xling.commands.output import count_progress, format_table, print_json, shorten

#: Characters of a text shown in a table cell.
SHOWN_CHARS = 40


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``detect`` to the ``xling`` sub-commands."""
    parser = commands.add_parser(
        "detect",
        help="language of texts: a model's language-ID head beside fastText lid.176",
        description="Detect the language of each TEXT (or each text of --file) with the model's "
        "language-ID head and with fastText lid.176, and say whether they agree.",
    )
    parser.add_argument("text", nargs="*", metavar="TEXT", help="texts to detect (quote each one)")
    parser.add_argument("--file", metavar="F", help="a .txt (one text per line), .csv, .tsv or .jsonl file "
                        "(a 'text' column; an optional 'lang' column gives accuracy)")
    parser.add_argument("--model", metavar="NAME|PATH", default=None,
                        help="masked LM whose language-ID head answers: a checkpoints/ folder name, a path "
                        "or a hub id (default: the app's default, XLING_MLM or xling-mini)")
    parser.add_argument("--spans", action="store_true",
                        help="label each sentence and script run of mixed-language text")
    parser.add_argument("--top-k", type=positive_int, default=5, metavar="K",
                        help="languages per detector in --json output (default: 5)")
    add_json_flag(parser)
    parser.set_defaults(handler=run_detect)


def run_detect(args: argparse.Namespace, out: TextIO) -> int:
    """Handle ``xling detect``; returns the exit status (user errors raise XlingError)."""
    from xling.core.detection import detect_many, detectors_for, missing_head_message, summarise
    from xling.errors import DataError

    if args.text and args.file:
        raise DataError("give TEXT arguments or --file, not both")
    services = app_services()
    if args.file:
        collection = services.collection(args.file)  # a bad file fails before a model loads
        texts, gold = [t.text for t in collection.texts], [t.lang for t in collection.texts]
    else:
        texts, gold = list(args.text), [None] * len(args.text)
    if not any(t.strip() for t in texts):
        raise DataError("nothing to detect: give a non-empty TEXT or --file F")
    name = args.model or services.config.masked_lm
    head, reference = detectors_for(services, args.model)
    if head is None:
        print(f"note: {missing_head_message(name)}", file=sys.stderr)
    if args.spans:
        return _print_spans(texts, head, reference, name, args, out)

    found = detect_many(texts, head, reference, k=args.top_k, progress=count_progress("texts detected"))
    report = summarise(found, gold)
    if args.json:
        return print_json({"model": name, "has_language_head": head is not None,
                           "results": [r.to_dict() for r in found], "summary": report.to_dict()}, out)
    with_gold = any(gold)
    rows = []
    for result, lang in zip(found, gold):
        row = [_clip(result.text)] + ([lang or ""] if with_gold else [])
        row += ([_cell(result.model_best)] if head else []) + [_cell(result.reference_best)]
        rows.append(row + ([_yes_no(result.agree)] if head else []))
    headers = ["text"] + (["gold"] if with_gold else []) + ([name] if head else []) + ["fastText"] \
        + (["agree"] if head else [])
    print(format_table(headers, rows), file=out)
    if len(found) > 1 and head is not None and report.agreement is not None:
        print(f"agreement: {report.agreement:.1%} of {report.n} texts", file=out)
    if report.n_gold:
        scores = ([f"{name} {report.model_accuracy:.1%}"] if report.model_accuracy is not None else []) \
            + [f"fastText {report.reference_accuracy:.1%}"]
        print(f"accuracy on {report.n_gold} texts with a gold language: {', '.join(scores)}", file=out)
    return 0


def _print_spans(texts: list[str], head: Any, reference: Any, name: str, args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.detection import analyse_text

    analyses = [analyse_text(t, head, reference, k=args.top_k) for t in texts if t.strip()]
    if args.json:
        return print_json({"model": name, "has_language_head": head is not None,
                           "results": [a.to_dict() for a in analyses]}, out)
    rows = []
    for number, analysis in enumerate(analyses, start=1):
        for i, ref in enumerate(analysis.reference_spans):
            model = analysis.model_spans[i] if analysis.model_spans else None
            row = [_clip(ref.span.text), number, ref.span.script or "-"]
            row += ([_cell(model.guess)] if head else []) + [_cell(ref.guess)]
            if head:
                row.append(_yes_no(model.guess.lang == ref.guess.lang if model.guess and ref.guess else None))
            rows.append(row)
    headers = ["span", "text", "script"] + ([name] if head else []) + ["fastText"] + (["agree"] if head else [])
    print(format_table(headers, rows), file=out)
    return 0


def _cell(guess: Any) -> str:
    return "-" if guess is None else f"{guess.label} {guess.prob:.2f}"


def _yes_no(agree: bool | None) -> str:
    return "-" if agree is None else ("yes" if agree else "no")


def _clip(text: str) -> str:
    return shorten(text, SHOWN_CHARS) or "(empty)"

"""``xling fill-mask``: the top-k tokens for each mask of a text (the "Masked prediction" tab).

Example::

    $ python -m xling fill-mask "Paris is the capital of [MASK]." --top-k 3
    $ python -m xling fill-mask "Der [MASK] schläft im [MASK]." --independent --json
    $ python -m xling fill-mask "Le chat dort sur le canapé." --word 5
"""

from __future__ import annotations

import argparse
from typing import TextIO

from xling.commands.args import add_json_flag, app_services, int_in_range
from xling.commands.output import format_table, print_json
from xling.core.fill_mask import AUTO, MAX_MASKS


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``fill-mask`` to the ``xling`` sub-commands."""
    parser = commands.add_parser(
        "fill-mask",
        help="predict the tokens behind [MASK], <mask> or ___ in a text",
        description=f"Top-k tokens for each mask (1 to {MAX_MASKS}) of TEXT. Several masks are filled left "
        "to right, each seeing the earlier choices, unless --independent.",
    )
    parser.add_argument("text", metavar="TEXT", help='a text with [MASK], <mask> or ___ (e.g. "Paris is the capital of [MASK].")')
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="masked LM: a folder of checkpoints/, a path or a hub id (default: XLING_MLM or xling-mini)")
    parser.add_argument("--top-k", type=int_in_range(1, 100), default=5, help="candidates per mask (default: 5)")
    parser.add_argument("--independent", action="store_true",
                        help="predict all masks in one pass, independently (default: left to right)")
    parser.add_argument("--lang", default=AUTO, metavar="CODE",
                        help="condition on this language (models with trained language vectors); default: auto")
    parser.add_argument("--word", type=int_in_range(1, hint="1 = the first word"), default=None, metavar="N",
                        help="also mask the N-th word of TEXT (1 = the first) and show how the model ranks it")
    add_json_flag(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Fill the masks and print the result (a table, or JSON with ``--json``); returns 0."""
    from xling.core.fill_mask import run_fill_mask

    result = run_fill_mask(app_services(), args.text, args.model, args.top_k, sequential=not args.independent,
                           language=args.lang, word=None if args.word is None else args.word - 1)
    if args.json:
        return print_json(result.to_dict(), out)
    print(f"model {result.model}, {result.n_masks} mask(s)"
          + (", left to right" if result.sequential and result.n_masks > 1 else ""), file=out)
    language = result.language_used or "none (unconditioned)"
    if result.detected:
        language += f"; detected {result.detected.code} ({result.detected.probability:.2f}, {result.detected.source})"
    print(f"language: {language}", file=out)
    print(f"filled: {result.filled_text}", file=out)
    rows = [[p.position + 1, rank, c.label, c.piece, f"{c.probability:.4f}"]
            for p in result.masks for rank, c in enumerate(p.candidates, start=1)]
    print(format_table(["mask", "rank", "token", "piece", "probability"], rows), file=out)
    for prediction in result.masks:
        original = prediction.original
        if original is not None:
            pieces = " ".join(original.pieces)
            print(f"masked word {original.word!r} ({pieces}): "
                  + (f"rank {original.rank}, p={original.probability:.4f}" if original.rank
                     else f"{len(original.pieces)} tokens, one mask cannot produce it"), file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    return 0

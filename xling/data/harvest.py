"""Harvest the offline multilingual corpus from real human translations.

``python -m xling harvest`` (alias ``python -m xling.data.harvest``) reads every source in
:mod:`xling.data.sources`, aligns the translations of one English string into a translation
group, keeps one text per (group, language) by vote, adds the translated manuals Debian ships (LibreOffice's help,
:mod:`xling.data.prose`; GNOME's user help, :mod:`xling.data.mallard`) as paragraph-aligned
groups, splits by group, writes the full corpus to the cache and small demo subsets to
``demo/corpus``. Missing sources are reported, not fatal (``--strict`` makes them fatal).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from xling.config import Paths
from xling.data.corpus import (
    MONO_FILE,
    PARALLEL_FILE,
    PROSE,
    SPLITS,
    LabelledText,
    MonoDocument,
    Segment,
    split_of,
    stable_id,
    text_domain,
    write_jsonl,
)
from xling.data.languages import REQUIRED_EXTRA_LANGUAGES, USEM3_LANGUAGES
from xling.data.mallard import harvest_gnome_user_docs
from xling.data.prose import ProseGroup, harvest_libreoffice_help
from xling.data.sources import (
    DEBIAN_LOCALE_ROOT,
    FORTUNE_PACKAGES,
    DebianLicences,
    Document,
    SourceUnavailable,
    Translation,
    iter_cldr,
    iter_django,
    iter_fortunes,
    iter_gettext,
    iter_pycountry,
)
from xling.data.tasks import TASKS, label_group
from xling.errors import DataError

#: Translated manuals, aligned paragraph by paragraph (each a ``harvest_*`` of the same signature).
PROSE_HARVESTERS: dict[str, Callable[..., list[ProseGroup]]] = {
    "libreoffice-help": harvest_libreoffice_help,
    "gnome-user-docs": harvest_gnome_user_docs,
}
ALL_SOURCES = ("debian-gettext", "django", "pycountry", "cldr", "fortunes", *PROSE_HARVESTERS)
#: Language identification for the prose filter: per text its best codes, best first.
Detect = Callable[[list[str]], Sequence[Sequence[str]]]
# When translations of one group disagree with equal votes, the curated sources win.
_SOURCE_RANK = {"cldr": 0, "pycountry": 1, "django": 2, "debian-gettext": 3}


@dataclass(frozen=True)
class HarvestConfig:
    """What to harvest and where to write it.

    Args:
        out: folder for the full corpus (outside the repo; the cache by default).
        demo: folder for the committed demo subsets, or ``None`` to skip them.
        locale_root: where the Debian gettext catalogs are.
        sources: which sources to read.
        min_segments: a language with fewer parallel segments is left out (it would be noise
            for training and too small to evaluate); the required languages are always kept.
        dev_fraction, test_fraction: share of translation groups in dev and test.
        fortune_packages: the Debian fortune packages to read.
        deb_cache: where the manuals' ``.deb`` files are downloaded and unpacked (``None``: the
            cache's ``debs`` folder).
    """

    out: Path
    demo: Path | None = None
    locale_root: Path = DEBIAN_LOCALE_ROOT
    sources: tuple[str, ...] = ALL_SOURCES
    min_segments: int = 5000
    dev_fraction: float = 0.05
    test_fraction: float = 0.05
    fortune_packages: tuple[str, ...] = FORTUNE_PACKAGES
    deb_cache: Path | None = None

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sources) - set(ALL_SOURCES))
        if unknown:
            raise ValueError(f"sources: unknown {unknown}; choose from {list(ALL_SOURCES)}")
        if not (0 <= self.dev_fraction < 1 and 0 <= self.test_fraction < 1):
            raise ValueError("dev_fraction and test_fraction must lie in [0, 1)")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("dev_fraction + test_fraction must leave some training data")
        if self.min_segments < 0:
            raise ValueError("min_segments must be >= 0")


@dataclass
class Corpus:
    """A harvested corpus in memory."""

    languages: list[str]
    segments: list[Segment]
    documents: list[MonoDocument]
    tasks: dict[str, list[LabelledText]]
    problems: list[str] = field(default_factory=list)


class _Groups:
    """Votes for each (group, language) text and the origins of every group."""

    def __init__(self) -> None:
        self.votes: dict[tuple[str, str], dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
        self.first: dict[tuple[tuple[str, str], str, str], Translation] = {}
        self.origins: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)

    def add(self, item: Translation) -> None:
        key = (item.context, item.english)
        self.origins[key].add((item.source, item.domain))
        for lang, text in ((item.lang, item.text), ("en", item.english)):
            self.votes[key][lang][text] += 1 if lang != "en" else 0
            seen = self.first.get((key, lang, text))
            if seen is None or _SOURCE_RANK[item.source] < _SOURCE_RANK[seen.source]:
                self.first[(key, lang, text)] = item

    def choose(self, key: tuple[str, str], lang: str) -> tuple[str, Translation]:
        def rank(text: str) -> tuple:
            return (-self.votes[key][lang][text], _SOURCE_RANK[self.first[(key, lang, text)].source], text)

        text = min(self.votes[key][lang], key=rank)
        return text, self.first[(key, lang, text)]


def harvest(config: HarvestConfig, detect: Detect | None = None, supported: Collection[str] | None = None) -> Corpus:
    """Read the sources and build the corpus (nothing is written; see :func:`write_corpus`).

    Args:
        config: what to read.
        detect, supported: language identification for the manuals' translations and the
            languages it can name (:func:`xling.data.prose.filter_by_language`); ``None``
            keeps every translation that differs from English.
    """
    problems: list[str] = []
    groups = _Groups()
    licences = DebianLicences()

    readers = {
        "debian-gettext": lambda: iter_gettext(config.locale_root, licences),
        "django": iter_django,
        "pycountry": iter_pycountry,
    }
    for name, reader in readers.items():
        if name in config.sources:
            _consume(name, reader, groups.add, problems)
    if "cldr" in config.sources:
        seen = {lang for votes in groups.votes.values() for lang in votes}
        wanted = sorted(seen | set(USEM3_LANGUAGES) | set(REQUIRED_EXTRA_LANGUAGES))
        _consume("cldr", lambda: iter_cldr(wanted), groups.add, problems)

    prose: list[ProseGroup] = []
    cache = config.deb_cache if config.deb_cache is not None else Paths.from_env().cache / "debs"
    for name, harvester in PROSE_HARVESTERS.items():
        if name in config.sources:
            _consume(name, lambda h=harvester: h(cache, detect=detect, supported=supported), prose.append, problems)

    per_lang = Counter(lang for votes in groups.votes.values() for lang in votes)
    per_lang.update(segment.lang for group in prose for segment in group.segments)
    required = set(USEM3_LANGUAGES) | set(REQUIRED_EXTRA_LANGUAGES)
    languages = sorted(
        lang for lang, n in per_lang.items() if n >= config.min_segments or lang in required
    )
    for lang in sorted(required - set(per_lang)):
        problems.append(f"required language {lang!r} has no segments")

    segments, tasks = _build_segments(groups, set(languages), config)
    segments += _prose_segments(prose, set(languages), config)
    documents: list[MonoDocument] = []
    if "fortunes" in config.sources:
        docs: list[Document] = []
        _consume("fortunes", lambda: iter_fortunes(config.fortune_packages, licences), docs.append, problems)
        documents = _build_documents(docs, config)
    return Corpus(sorted(set(s.lang for s in segments)), segments, documents, tasks, problems)


def _consume(name: str, reader, sink, problems: list[str]) -> None:
    count = 0
    try:
        for item in reader():
            sink(item)
            count += 1
    except SourceUnavailable as exc:
        problems.append(f"{name}: {exc}")
    print(f"harvest: {name}: {count} records", file=sys.stderr)


def _build_segments(
    groups: _Groups, languages: set[str], config: HarvestConfig
) -> tuple[list[Segment], dict[str, list[LabelledText]]]:
    segments: list[Segment] = []
    tasks: dict[str, list[LabelledText]] = {task: [] for task in TASKS}
    for key in sorted(groups.votes):
        context, english = key
        group = stable_id("g", context, english)
        split = split_of(group, config.dev_fraction, config.test_fraction)
        labels = {task: label_group(task, groups.origins[key]) for task in TASKS}
        members = [lang for lang in sorted(groups.votes[key]) if lang in languages]
        if len(members) < 2:  # an English string nobody translated is not parallel data
            continue
        for lang in members:
            text, origin = groups.choose(key, lang)
            segments.append(
                Segment(group, lang, text, origin.source, origin.domain, origin.licence, split)
            )
            for task, label in labels.items():
                if label is not None:
                    tasks[task].append(LabelledText(group, lang, text, label, split))
    return segments, tasks


def _prose_segments(groups: Iterable[ProseGroup], languages: set[str], config: HarvestConfig) -> list[Segment]:
    """The manuals' groups as segments: already aligned and one text per language, so no vote;
    split by group id like every other group. A group left with English alone is dropped."""
    out = []
    for group in groups:
        members = [s for s in group.segments if s.lang in languages]
        if len(members) < 2 or members[0].lang != "en":
            continue
        split = split_of(group.group, config.dev_fraction, config.test_fraction)
        out += [
            Segment(group.group, s.lang, s.text, s.source, s.domain, s.licence, split, s.package, s.version)
            for s in members
        ]
    return out


def _build_documents(docs: Iterable[Document], config: HarvestConfig) -> list[MonoDocument]:
    out, seen = [], set()
    for doc in docs:
        if (doc.lang, doc.text) in seen:
            continue
        seen.add((doc.lang, doc.text))
        doc_id = stable_id("d", doc.lang, doc.text)
        split = split_of(doc_id, config.dev_fraction, config.test_fraction)
        out.append(MonoDocument(doc_id, doc.lang, doc.text, doc.source, doc.domain, doc.licence, split))
    return out


def corpus_stats(corpus: Corpus) -> dict:
    """Counts per language and split, for ``stats.json`` and ``demo/DATA.md``."""

    def table(rows) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
        for row in rows:
            counts[row.lang][row.split] += 1
        return {lang: counts[lang] for lang in sorted(counts)}

    return {
        "languages": corpus.languages,
        "groups": dict(Counter(s.split for s in {(s.group, s.split): s for s in corpus.segments}.values())),
        "parallel": table(corpus.segments),
        "prose": table(s for s in corpus.segments if text_domain(s.source) == PROSE),
        "prose_by_source": _prose_by_source(corpus.segments),
        "parallel_by_source": dict(Counter(s.source for s in corpus.segments)),
        "mono": table(corpus.documents),
        "tasks": {
            name: {"labels": dict(Counter(r.label for r in rows)), "per_lang": table(rows)}
            for name, rows in corpus.tasks.items()
        },
        "problems": corpus.problems,
    }


def _prose_by_source(segments: Iterable[Segment]) -> dict[str, dict[str, dict[str, int]]]:
    """Paragraphs and characters per prose source and language, all splits."""
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: {"paragraphs": 0, "characters": 0}))
    for seg in segments:
        if text_domain(seg.source) == PROSE:
            row = out[seg.source][seg.lang]
            row["paragraphs"] += 1
            row["characters"] += len(seg.text)
    return {source: dict(sorted(langs.items())) for source, langs in sorted(out.items())}


def eval_pairs(segments: Iterable[Segment], pivot: str = "en") -> list[dict]:
    """Retrieval pairs (each language -> the pivot) for ``xling eval retrieval``, each with its
    ``domain`` (``prose`` or ``ui``, :func:`~xling.data.corpus.text_domain`)."""
    by_group: dict[str, dict[str, Segment]] = defaultdict(dict)
    for seg in segments:
        by_group[seg.group][seg.lang] = seg
    pairs = []
    for group in sorted(by_group):
        texts = by_group[group]
        if pivot not in texts:
            continue
        for lang in sorted(texts):
            if lang != pivot:
                pairs.append({"source_lang": lang, "source": texts[lang].text, "target_lang": pivot,
                              "target": texts[pivot].text, "domain": text_domain(texts[lang].source)})
    return pairs


@dataclass(frozen=True)
class DemoLimits:
    """How much of each split the committed demo keeps (it must stay under ~30 MB in all).

    Groups and documents are taken in order of their ids, which are hashes: a stable sample
    that a re-harvest repeats. UI-string groups and prose groups are sampled apart, so adding a
    manual to the harvest leaves the UI sample as it was.

    Args:
        parallel_groups: UI-string groups per split.
        prose_groups: prose groups per split, among those whose English paragraph has at least
            ``prose_min_chars`` characters and that are translated into at least
            ``prose_min_languages`` languages besides English (so the sample is long prose in
            many languages at once, not short headings in a few).
        task_groups_per_label, docs_per_lang: labelled-task groups and monolingual documents.
        eval_splits: the splits whose eval files the demo carries.
    """

    parallel_groups: dict[str, int] = field(default_factory=lambda: {"train": 1000, "dev": 200, "test": 800})
    prose_groups: dict[str, int] = field(default_factory=lambda: {"train": 200, "dev": 40, "test": 250})
    prose_min_chars: int = 60
    prose_min_languages: int = 25
    task_groups_per_label: dict[str, int] = field(default_factory=lambda: {"train": 60, "dev": 10, "test": 30})
    docs_per_lang: dict[str, int] = field(default_factory=lambda: {"train": 1000, "dev": 150, "test": 300})
    eval_splits: tuple[str, ...] = ("test",)


def subset_corpus(corpus: Corpus, limits: DemoLimits) -> Corpus:
    """The demo sample of a corpus: capped groups per split, per task label, docs per language."""
    by_split: dict[str, set[str]] = defaultdict(set)
    prose_by_split: dict[str, set[str]] = defaultdict(set)
    members: Counter = Counter()
    long_english: set[str] = set()
    for seg in corpus.segments:
        if text_domain(seg.source) != PROSE:
            by_split[seg.split].add(seg.group)
            continue
        prose_by_split[seg.split].add(seg.group)
        members[seg.group] += 1
        if seg.lang == "en" and len(seg.text) >= limits.prose_min_chars:
            long_english.add(seg.group)
    keep = {g for split, groups in by_split.items() for g in sorted(groups)[: limits.parallel_groups.get(split, 0)]}
    for split, groups in prose_by_split.items():
        wanted = [g for g in sorted(groups) if g in long_english and members[g] > limits.prose_min_languages]
        keep.update(wanted[: limits.prose_groups.get(split, 0)])
    segments = [s for s in corpus.segments if s.group in keep]

    tasks = {}
    for name, rows in corpus.tasks.items():
        groups_by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in rows:
            groups_by_key[(row.label, row.split)].add(row.group)
        chosen = {
            g
            for (label, split), groups in groups_by_key.items()
            for g in sorted(groups)[: limits.task_groups_per_label.get(split, 0)]
        }
        tasks[name] = [r for r in rows if r.group in chosen]

    taken: Counter = Counter()
    documents = []
    for doc in sorted(corpus.documents, key=lambda d: d.doc):
        if taken[(doc.lang, doc.split)] < limits.docs_per_lang.get(doc.split, 0):
            documents.append(doc)
            taken[(doc.lang, doc.split)] += 1
    return Corpus(corpus.languages, segments, documents, tasks, corpus.problems)


def write_corpus(corpus: Corpus, folder: Path, eval_splits: Iterable[str] = ("dev", "test")) -> dict:
    """Write a corpus folder (see :mod:`xling.data.corpus`) and return its statistics."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / PARALLEL_FILE, corpus.segments)
    write_jsonl(folder / MONO_FILE, corpus.documents)
    for name, rows in corpus.tasks.items():
        write_jsonl(folder / "tasks" / f"{name}.jsonl", rows)
    for split in eval_splits:
        in_split = [s for s in corpus.segments if s.split == split]
        write_jsonl(folder / "eval" / f"{split}_pairs.jsonl", eval_pairs(in_split))
        write_jsonl(
            folder / "eval" / f"{split}_texts.jsonl",
            ({"text": s.text, "lang": s.lang, "domain": text_domain(s.source)} for s in in_split),
        )
    stats = corpus_stats(corpus)
    (folder / "stats.json").write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n")
    return stats


def render_counts(full: dict, demo: dict | None) -> str:
    """Markdown tables of the counts, for the generated part of ``demo/DATA.md``."""
    lines = [
        f"Languages: {len(full['languages'])} ({', '.join(full['languages'])}).",
        f"Translation groups: {', '.join(f'{k} {v}' for k, v in sorted(full['groups'].items()))}.",
        "Parallel segments by source: "
        + ", ".join(f"{k} {v}" for k, v in sorted(full["parallel_by_source"].items())) + ".",
        "",
        "Prose segments (paragraphs of the manuals) are part of the parallel ones and counted again on their own.",
        "",
        (
            "| lang | parallel train | dev | test | of which prose train | dev | test | demo parallel | demo prose "
            "| mono train | dev | test |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    zero = dict.fromkeys(SPLITS, 0)
    for lang in full["languages"]:
        p, m = full["parallel"].get(lang, zero), full["mono"].get(lang, zero)
        q = full.get("prose", {}).get(lang, zero)
        d = sum(demo["parallel"].get(lang, {}).values()) if demo else 0
        dq = sum(demo.get("prose", {}).get(lang, {}).values()) if demo else 0
        lines.append(
            f"| {lang} | {p['train']} | {p['dev']} | {p['test']} | {q['train']} | {q['dev']} | {q['test']} | {d} | {dq} "
            f"| {m['train']} | {m['dev']} | {m['test']} |"
        )
    by_source = full.get("prose_by_source", {})
    if by_source:
        sources = sorted(by_source)
        chars = Counter()
        for source in sources:
            for lang, row in by_source[source].items():
                chars[lang] += row["characters"]
        big = sorted(lang for lang, n in chars.items() if lang != "en" and n >= 1_000_000)
        lines += [
            "",
            f"Prose by source (all splits): {len(chars)} languages ({len(chars) - ('en' in chars)} besides English), "
            f"{len(big)} with at least 1 M characters ({', '.join(big)}).",
            "",
            "| lang | " + " | ".join(f"{s} paragraphs | characters" for s in sources) + " | characters in all |",
            "|---|" + "---:|---:|" * len(sources) + "---:|",
        ]
        for lang in sorted(chars, key=lambda code: (-chars[code], code)):
            cells = []
            for source in sources:
                row = by_source[source].get(lang, {"paragraphs": 0, "characters": 0})
                cells += [str(row["paragraphs"]), str(row["characters"])]
            lines.append(f"| {lang} | " + " | ".join(cells) + f" | {chars[lang]} |")
    for name, info in full["tasks"].items():
        labels = ", ".join(f"{k} {v}" for k, v in sorted(info["labels"].items()))
        lines += ["", f"Task `{name}` (rows per label, all languages): {labels}."]
    if full["problems"]:
        lines += ["", "Problems reported by the harvest: " + "; ".join(full["problems"])]
    return "\n".join(lines)


COUNTS_START, COUNTS_END = "<!-- counts:start -->", "<!-- counts:end -->"


def update_data_card(card: Path, counts: str) -> None:
    """Replace the generated counts between the markers of ``DATA.md``, keeping the prose."""
    if not card.exists():
        return
    text = card.read_text(encoding="utf-8")
    if COUNTS_START not in text or COUNTS_END not in text:
        return
    head, rest = text.split(COUNTS_START, 1)
    _, tail = rest.split(COUNTS_END, 1)
    card.write_text(f"{head}{COUNTS_START}\n{counts}\n{COUNTS_END}{tail}", encoding="utf-8")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the harvest's options (``--out``, ``--demo``, ``--sources``, ``--strict``, ...) to ``parser``;
    the folders default to where :class:`~xling.config.Paths` (``XLING_CACHE``, ``XLING_DEMO``) puts them."""
    paths = Paths.from_env()
    parser.add_argument("--out", type=Path, default=paths.corpus_cache, help="full corpus folder (default: %(default)s)")
    parser.add_argument("--demo", type=Path, default=paths.demo_corpus, help="demo subset folder (default: %(default)s)")
    parser.add_argument("--no-demo", action="store_true", help="do not write the demo subsets")
    parser.add_argument("--locale-root", type=Path, default=DEBIAN_LOCALE_ROOT, help="gettext catalogs root")
    parser.add_argument("--sources", default=",".join(ALL_SOURCES), help="comma-separated sources to read")
    parser.add_argument("--min-segments", type=int, default=HarvestConfig.min_segments)
    parser.add_argument("--deb-cache", type=Path, default=paths.cache / "debs",
                        help="where the manuals' .deb files go (default: %(default)s)")  # fmt: skip
    parser.add_argument("--no-language-filter", action="store_true",
                        help="keep the manuals' translations fastText disagrees with")  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="fail if any source is missing")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Harvest as ``args`` (parsed by :func:`add_arguments`'s options) say and write the corpus.

    Args:
        args: the parsed arguments.
        out: where the summary lines go (``None``: standard output); warnings go to stderr.

    Returns:
        The exit status: 0, or 2 for a bad option, no segment at all, or (``--strict``) a missing source.
    """
    try:
        config = HarvestConfig(
            out=args.out,
            demo=None if args.no_demo else args.demo,
            locale_root=args.locale_root,
            sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
            min_segments=args.min_segments,
            deb_cache=args.deb_cache,
        )
        reads_prose = bool(set(config.sources) & set(PROSE_HARVESTERS))
        detect, supported = _fasttext_filter() if reads_prose and not args.no_language_filter else (None, None)
        corpus = harvest(config, detect, supported)
        if not corpus.segments:
            raise DataError("the harvest found no parallel segments: " + "; ".join(corpus.problems))
    except (ValueError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for problem in corpus.problems:
        print(f"warning: {problem}", file=sys.stderr)
    full = write_corpus(corpus, config.out)
    print(f"harvest: wrote {len(corpus.segments)} segments in {len(corpus.languages)} languages to {config.out}",
          file=out)
    if config.demo is not None:
        limits = DemoLimits()
        demo = write_corpus(subset_corpus(corpus, limits), config.demo, limits.eval_splits)
        update_data_card(config.demo.parent / "DATA.md", render_counts(full, demo))
        print(f"harvest: wrote the demo subset to {config.demo}", file=out)
    if args.strict and corpus.problems:
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m xling.data.harvest``, an alias of ``python -m xling harvest``: parse ``argv``
    (``None``: ``sys.argv[1:]``) and :func:`run`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m xling.data.harvest", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _fasttext_filter() -> tuple[Detect, frozenset[str]]:
    """fastText lid.176's top 3 per text, and the languages it names, for the prose filter."""
    from xling.core.detectors import FASTTEXT, load_detector

    detector = load_detector(FASTTEXT)

    def detect(texts: list[str]) -> list[list[str]]:
        return [[code for code, _ in hits] for hits in detector.predict(texts, k=3)]

    return detect, detector.languages()


if __name__ == "__main__":
    raise SystemExit(main())

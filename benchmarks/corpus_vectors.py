"""Real sentence vectors for the search benchmark: the harvested corpus through an encoder, cached.

    OMP_NUM_THREADS=1 python -m benchmarks.corpus_vectors [--rows 1000000] [--encoder xling-encoder] [--workers 2]

Random 512-d vectors are the worst case for approximate search; what the search tab indexes are
sentence vectors, which cluster by meaning. This module gives ``rows`` of them: the distinct texts
of the harvested corpus (``python -m xling.data.harvest``, ~1.1M texts in 61 languages, in
``~/.cache/xling/corpus``), shuffled with a fixed seed, the first ``rows`` to index and the next
``QUERIES`` as held-out queries, encoded with the app's default encoder. Encoding is the cost
(xling-encoder: ~450 sentences a second a thread, so 1M rows take ~35 min on one thread, ~18 on
two workers); the vectors are saved under ``~/.cache/xling/bench/`` (2 GB for 1M rows) and reused.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

QUERIES = 1_000
CHUNK = 20_000
SEED = 0


def cache_dir() -> Path:
    from xling.config import Paths

    return Paths.from_env().cache / "bench"


def corpus_texts(corpus: Path | None = None) -> list[str]:
    """The corpus's distinct texts in a fixed shuffled order."""
    from xling.config import Paths

    folder = corpus or Paths.from_env().corpus_cache
    seen: dict[str, None] = {}
    for name in ("parallel.jsonl", "mono.jsonl"):
        path = folder / name
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                text = json.loads(line)["text"]
                if text.strip():
                    seen.setdefault(text, None)
    if not seen:
        raise FileNotFoundError(f"no harvested corpus in {folder}: run `python -m xling.data.harvest` first")
    texts = list(seen)
    np.random.default_rng(SEED).shuffle(texts)
    return texts


_ENCODER = None


def _start_worker(encoder_name: str) -> None:
    """A worker loads the encoder once, on one thread."""
    global _ENCODER
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from xling.config import Paths
    from xling.core.encoders import load_encoder, quiet_model_loading

    with quiet_model_loading():
        _ENCODER = load_encoder(encoder_name, Paths.from_env())


def _encode_chunk(args: tuple[list[str], str]) -> str:
    """Encode ``texts`` into ``path`` (float32 .npy, written atomically)."""
    texts, path = args
    vectors = _ENCODER.encode(texts).astype(np.float32)
    tmp = f"{path}.tmp.npy"
    np.save(tmp, vectors)
    os.replace(tmp, path)
    return path


def load(rows: int, encoder: str = "xling-encoder", workers: int = 1, encode: bool = True
         ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(rows x dim index vectors, QUERIES x dim held-out query vectors)``, unit rows, float32;
    ``None`` when they are not cached and ``encode`` is false."""
    texts = corpus_texts()
    if rows + QUERIES > len(texts):
        raise ValueError(f"the corpus has {len(texts):,} distinct texts; {rows:,} rows + {QUERIES:,} queries asked")
    folder = cache_dir() / f"{encoder}-seed{SEED}"
    folder.mkdir(parents=True, exist_ok=True)
    # Queries are the texts at the end of the shuffled list, rows the ones from the start: the
    # same chunks serve every size.
    needed = -(-rows // CHUNK)
    query_path = folder / f"queries-{QUERIES}.npy"
    chunk_paths = [folder / f"chunk-{i:03d}.npy" for i in range(needed)]
    jobs = [(texts[i * CHUNK : (i + 1) * CHUNK], str(p)) for i, p in enumerate(chunk_paths) if not p.is_file()]
    if not query_path.is_file():
        jobs.insert(0, (texts[-QUERIES:], str(query_path)))
    if jobs and not encode:
        return None
    if jobs:
        total = sum(len(job[0]) for job in jobs)
        print(f"corpus_vectors: encoding {total:,} texts with {encoder} on {workers} worker(s)", file=sys.stderr, flush=True)
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _start_worker, (encoder,)) as pool:
            for done, path in enumerate(pool.imap_unordered(_encode_chunk, jobs), 1):
                print(f"corpus_vectors: {done}/{len(jobs)} chunks ({Path(path).name}), "
                      f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    parts = [np.load(path, mmap_mode="r") for path in chunk_paths]
    dim = parts[0].shape[1]
    vectors = np.empty((rows, dim), dtype=np.float32)
    filled = 0
    for part in parts:
        take = min(len(part), rows - filled)
        vectors[filled : filled + take] = part[:take]
        filled += take
    return vectors, np.load(query_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--encoder", default="xling-encoder")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    try:
        vectors, queries = load(args.rows, args.encoder, args.workers)
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f"corpus_vectors: {exc}")
    print(f"{len(vectors):,} x {vectors.shape[1]} vectors and {len(queries):,} queries in {cache_dir()}")


if __name__ == "__main__":
    main()

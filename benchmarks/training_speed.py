"""Training: xling's runner against a Hugging Face ``Trainer`` loop, masked LM only, on one CPU thread.

    OMP_NUM_THREADS=1 python -m benchmarks.training_speed [--quick] [--markdown]

Both sides train the same model from the same initial weights: ``configs/smoke.yaml``'s tiny BERT
(hidden 64, 2 layers, 2 heads, a 2,000-piece tokenizer trained on its 8 languages of the demo
corpus), batch 16 x 64 tokens, AdamW (lr 0.002, weight decay 0.01 except biases and LayerNorms),
linear warm-up (5 steps) and decay, gradient clipping at 1.0, fp32, CPU, fixed steps. Each side runs
in its own process, so its peak resident memory (``ru_maxrss``) is its own.

- xling: ``xling.training.runner.train(TrainConfig)``: the MLM objective only (``lid_weight`` 0,
  ``contrastive_weight`` 0), from the initial checkpoint; per step it draws 16 rows of packed
  same-language texts (``TrainingData.mlm_batch``: languages by temperature, texts joined by
  ``[SEP]`` until 64 pieces, 15 % masked), runs the encoder, the LM head on the masked positions
  only, the loss, backward, clipping, AdamW and the schedule, and every 5 steps appends a line to
  ``progress.jsonl``. Its tokens are its own count (the attention mask's sum, from its log lines).
- Trainer, same packed batches: ``transformers.Trainer`` on a ``BertForMaskedLM`` loaded from the
  same initial checkpoint, fed the very batches xling draws (the runner's seed), made before the
  run (so their making is not in its time), labels -100 except at the masked positions; the
  model's LM head runs on every position, as ``BertForMaskedLM`` does.
- Trainer + collator: the conventional pipeline: the same training texts, each its own row
  (truncated to 64 pieces), ``DataCollatorForLanguageModeling`` (15 %) padding each batch to its
  longest row; random order. Real tokens only: ``include_num_input_tokens_seen="non_padding"``.

tokens/s counts the steps after a warm-up (5 steps in --quick, 10 in full) up to the last, each
side timed by its own step hooks (xling's callbacks, the Trainer's ``on_step_end``); medians over
repeats (interleaved). Quick: 30 steps, 2 repeats; full: 200 steps, 3 repeats. Target: xling /
Trainer >= 1.0 on tokens/s.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Result, cli, median

REPO = Path(__file__).resolve().parent.parent
BENCHMARK = "training"
CONFIG = REPO / "configs" / "smoke.yaml"
BATCH = 16
LENGTH = 64
LOG_EVERY = 5
SEED = 0
SIDES = ("xling", "trainer-packed", "trainer-collator")


def log(message: str) -> None:
    print(f"[training] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def bench_config(work: Path, steps: int):
    """``configs/smoke.yaml`` turned into the MLM-only comparison run."""
    from xling.training.config import TrainConfig

    values = TrainConfig.from_file(CONFIG).to_dict()
    values.update(run_name="bench-training", output_dir=str(work / "xling-run"))
    values["init"]["from_checkpoint"] = str(work / "init")
    values["data"]["corpus"] = str(REPO / "demo" / "corpus")
    values["data"]["eval_texts_per_lang"] = 0  # the final evaluation is not training
    values["objectives"].update(mlm=True, lid_weight=0.0, contrastive_weight=0.0, teacher=None, lang_embedding=False)
    values["train"].update(steps=steps, batch_size=BATCH, max_length=LENGTH, log_every=LOG_EVERY, save_every=0,
                           device="cpu", precision="fp32", threads=1, seed=SEED)
    return TrainConfig.from_dict(values)


# --------------------------------------------------------------------------- preparation


def prepare(work: Path, steps: int) -> dict:
    """The shared initial checkpoint, xling's packed batches for the Trainer, and the texts."""
    import numpy as np
    import torch

    from xling.core.encoders import quiet_model_loading
    from xling.core.model import XlingModel, new_backbone
    from xling.training.data import TrainingData, read_training_texts
    from xling.training.engine import TOKENIZER_TEXTS_PER_LANG
    from xling.training.tokenizer import train_tokenizer

    config = bench_config(work, steps)
    corpus = Path(config.data.corpus)
    texts, groups, languages = read_training_texts(corpus, config.data.languages, config.data.use_mono,
                                                   config.data.max_texts_per_lang)
    sample = [t for lang in languages for t in texts[lang][:TOKENIZER_TEXTS_PER_LANG]]
    tokenizer = train_tokenizer(sample, vocab_size=config.init.vocab_size, max_length=config.init.model.max_length)
    torch.manual_seed(SEED)
    model = XlingModel(new_backbone(config.init.model, tokenizer), tokenizer, languages)
    model.save(work / "init")
    # The runner's batches: same tokenizer (as saved), same languages, same generator seed.
    with quiet_model_loading():
        loaded = XlingModel.load(work / "init")
    data = TrainingData(loaded.languages, texts, groups, loaded.tokenizer, config.objectives.sampling_alpha)
    rng = np.random.default_rng([SEED, 0, 0])
    start = time.perf_counter()
    batches = [data.mlm_batch(rng, BATCH, LENGTH, config.objectives.mask_prob) for _ in range(steps)]
    making = (time.perf_counter() - start) / steps
    labels = []
    for batch in batches:
        row = torch.full_like(batch.input_ids, -100)
        row[batch.mlm_positions] = batch.targets
        labels.append(row)
    torch.save({"input_ids": torch.stack([b.input_ids for b in batches]),
                "attention_mask": torch.stack([b.attention_mask for b in batches]),
                "labels": torch.stack(labels)}, work / "packed.pt")
    flat = [t for lang in languages for t in texts[lang]]
    (work / "texts.json").write_text(json.dumps(flat, ensure_ascii=False), encoding="utf-8")
    return {"batch_ms": 1000 * making, "n_texts": len(flat), "languages": len(languages),
            "parameters": sum(p.numel() for p in model.backbone.parameters())}


# --------------------------------------------------------------------------- the sides (child processes)


def window_rate(stamps: list[tuple[float, int, float]], warmup: int) -> tuple[float, float]:
    """``(tokens, seconds)`` after step ``warmup`` from ``(time, step, tokens so far)`` stamps."""
    before = [s for s in stamps if s[1] <= warmup][-1]
    last = stamps[-1]
    return last[2] - before[2], last[0] - before[0]


def xling_child(work: str, steps: int, warmup: int) -> dict:
    from xling.config import Paths
    from xling.training.callbacks import Callback
    from xling.training.runner import train

    class Stamps(Callback):
        """Times each log line; a line's tokens are its window's rate x the window's length."""

        def __init__(self) -> None:
            self.stamps: list[tuple[float, int, float]] = []
            self.losses: list[float] = []

        def on_start(self, info):
            self.stamps.append((time.perf_counter(), info["step"], 0.0))

        def on_log(self, logs):
            now = time.perf_counter()
            previous = self.stamps[-1]
            self.stamps.append((now, logs["step"], previous[2] + logs["tokens_per_s"] * (now - previous[0])))
            self.losses.append(logs["mlm"])

    config = bench_config(Path(work), steps)
    paths = Paths.from_env()
    shutil.rmtree(config.run_dir_in(paths.checkpoints), ignore_errors=True)
    stamps = Stamps()
    start = time.perf_counter()
    result = train(config, callbacks=[stamps], paths=paths)
    total = time.perf_counter() - start
    tokens, seconds = window_rate(stamps.stamps, warmup)
    return {"tokens": tokens, "seconds": seconds, "all_tokens": result.metrics["training"]["tokens"],
            "total_s": total, "final_loss": stamps.losses[-1], "losses": stamps.losses, "rss_mb": peak_rss_mb()}


def trainer_child(work: str, steps: int, warmup: int, packed: bool) -> dict:
    import torch
    from transformers import (AutoTokenizer, BertForMaskedLM, DataCollatorForLanguageModeling, Trainer,
                              TrainerCallback, TrainingArguments, default_data_collator)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    work_dir = Path(work)
    config = bench_config(work_dir, steps)
    loop = config.train
    model = BertForMaskedLM.from_pretrained(work_dir / "init")
    tokenizer = AutoTokenizer.from_pretrained(work_dir / "init")
    if packed:
        tensors = torch.load(work_dir / "packed.pt")
        rows = [{name: tensors[name][step, i] for name in tensors}
                for step in range(tensors["input_ids"].shape[0]) for i in range(BATCH)]

        class InOrder(torch.utils.data.IterableDataset):
            """xling's batches in xling's order (an iterable dataset: the Trainer draws no sampler)."""

            def __iter__(self):
                return iter(rows)

        dataset, collator = InOrder(), default_data_collator
    else:
        texts = json.loads((work_dir / "texts.json").read_text(encoding="utf-8"))
        encoded = tokenizer(texts, truncation=True, max_length=LENGTH)["input_ids"]
        dataset = [{"input_ids": ids} for ids in encoded]
        collator = DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=config.objectives.mask_prob)

    class Stamps(TrainerCallback):
        def __init__(self) -> None:
            self.stamps: list[tuple[float, int, float]] = []
            self.losses: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.stamps.append((time.perf_counter(), 0, 0.0))

        def on_step_end(self, args, state, control, **kwargs):
            self.stamps.append((time.perf_counter(), state.global_step, float(state.num_input_tokens_seen)))

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(logs["loss"])

    args = TrainingArguments(
        output_dir=str(work_dir / "trainer-out"), max_steps=steps, per_device_train_batch_size=BATCH,
        learning_rate=loop.lr, weight_decay=loop.weight_decay, warmup_steps=loop.warmup_steps,
        lr_scheduler_type="linear", max_grad_norm=1.0, seed=SEED, use_cpu=True, save_strategy="no",
        logging_strategy="steps", logging_steps=LOG_EVERY, report_to="none", disable_tqdm=True,
        dataloader_num_workers=0, include_num_input_tokens_seen="non_padding",
    )
    stamps = Stamps()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator, callbacks=[stamps])
    start = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - start
    tokens, seconds = window_rate(stamps.stamps, warmup)
    return {"tokens": tokens, "seconds": seconds, "all_tokens": stamps.stamps[-1][2], "total_s": total,
            "final_loss": stamps.losses[-1] if stamps.losses else float("nan"), "losses": stamps.losses,
            "rss_mb": peak_rss_mb(),
            "optimizer": type(trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer")
                              else trainer.optimizer).__name__}


def child(side: str, work: str, steps: int, warmup: int) -> None:
    """Entry point of one side's process: its figures as one JSON line on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    if side == "xling":
        out = xling_child(work, steps, warmup)
    else:
        out = trainer_child(work, steps, warmup, packed=side == "trainer-packed")
    print(json.dumps(out))


def run_side(side: str, work: Path, steps: int, warmup: int) -> dict:
    code = f"from benchmarks.training_speed import child; child({side!r}, {str(work)!r}, {steps}, {warmup})"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"{side} failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"{side}: {out['tokens'] / out['seconds']:,.0f} tokens/s, {out['rss_mb']:.0f} MB, "
        f"loss {out['final_loss']:.3f}, run {out['total_s']:.1f} s")
    return out


# --------------------------------------------------------------------------- results


def run(quick: bool) -> list[Result]:
    steps, warmup, repeats = (30, 5, 2) if quick else (200, 10, 3)
    work = Path(tempfile.mkdtemp(prefix="xling-bench-training-"))
    try:
        info = prepare(work, steps)
        log(f"prepared {info}")
        runs: dict[str, list[dict]] = {side: [] for side in SIDES}
        for _ in range(repeats):
            for side in SIDES:
                runs[side].append(run_side(side, work, steps, warmup))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def rate(side: str) -> float:
        return median([r["tokens"] / r["seconds"] for r in runs[side]])

    def rss(side: str) -> float:
        return median([r["rss_mb"] for r in runs[side]])

    def loss(side: str) -> float:
        return median([r["final_loss"] for r in runs[side]])

    timed = steps - warmup
    params = info["parameters"] / 1e6
    shape = f"smoke BERT ({params:.2f} M params), batch {BATCH} x {LENGTH}, steps {warmup + 1}-{steps}"
    xling_note = (f"{shape}; xling makes its batches inside the loop ({info['batch_ms']:.1f} ms/step); "
                  f"MLM loss at the end: xling {loss('xling'):.2f} (last step)")
    optimiser = runs["trainer-packed"][0]["optimizer"]
    packed_note = (f"{xling_note}, Trainer {loss('trainer-packed'):.2f} (mean of its last {LOG_EVERY} steps; "
                   f"same batches, its optimiser {optimiser}); median of {repeats}")
    collator_real = median([r["tokens"] / timed for r in runs["trainer-collator"]])
    collator_note = (f"{shape}; Trainer rows are single texts, padded to each batch's longest: {collator_real:,.0f} "
                     f"real tokens a step (xling: {BATCH * LENGTH:,}, packed); median of {repeats}")
    memory_note = ("peak RSS of each side's own process (ru_maxrss), imports included; xling's includes its data "
                   f"set-up ({info['n_texts']:,} texts, {info['languages']} languages, tokenised) and final save; "
                   f"median of {repeats}")
    return [
        Result(BENCHMARK, "MLM, same packed batches", "tokens/s", rate("xling"), rate("trainer-packed"),
               "HF Trainer, same batches", lower_is_better=False, target=1.0, note=packed_note),
        Result(BENCHMARK, "MLM, Trainer + DataCollatorForLanguageModeling", "real tokens/s", rate("xling"),
               rate("trainer-collator"), "HF Trainer + collator", lower_is_better=False, target=1.0,
               note=collator_note),
        Result(BENCHMARK, "MLM, peak memory (vs Trainer, same batches)", "MB RSS", rss("xling"),
               rss("trainer-packed"), "HF Trainer, same batches", note=memory_note),
        Result(BENCHMARK, "MLM, peak memory (vs Trainer + collator)", "MB RSS", rss("xling"),
               rss("trainer-collator"), "HF Trainer + collator", note=memory_note),
    ]


def main() -> None:
    cli(run, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()

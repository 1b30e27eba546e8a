"""The engine end to end on the smoke preset (a few seconds a run on one CPU thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xling.config import REPO_ROOT, Paths
from xling.training.callbacks import Callback
from xling.training.config import TrainConfig
from xling.training.run_folder import STOP_FILE, latest_checkpoint
from xling.training.runner import train

SMOKE = REPO_ROOT / "configs" / "smoke.yaml"


def _config(tmp_path: Path, **train_overrides) -> TrainConfig:
    values = TrainConfig.from_file(SMOKE).to_dict()
    values["output_dir"] = str(tmp_path / "run")
    values["data"]["corpus"] = str(REPO_ROOT / "demo" / "corpus")
    values["train"].update(train_overrides)
    return TrainConfig.from_dict(values)


def _run_dir(config: TrainConfig) -> Path:
    return config.run_dir_in(Paths.from_env().checkpoints)


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "progress.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    result = train(_config(tmp_path_factory.mktemp("smoke")), paths=Paths.from_env())
    assert result.state == "finished" and result.step == 30
    return result.run_dir


def test_progress_log(finished_run):
    events = _events(finished_run)
    assert events[0]["event"] == "start" and events[0]["max_steps"] == 30
    logs = [e for e in events if "event" not in e]
    assert [e["step"] for e in logs] == [5, 10, 15, 20, 25, 30]
    for key in ("loss", "mlm", "lid", "cl", "lr", "tokens_per_s", "eta_s"):
        assert key in logs[-1]
    assert logs[-1]["mlm"] < logs[0]["mlm"]  # it learns something even in 30 steps
    assert [e["step"] for e in events if e.get("event") == "checkpoint"] == [10, 20, 30]
    assert events[-2]["event"] == "metrics" and events[-1]["event"] == "finished"


def test_checkpoints_are_pruned_and_final_model_published(finished_run):
    kept = sorted(p.name for p in (finished_run / "checkpoints").iterdir())
    assert kept == ["step-0000020", "step-0000030"]  # keep_last: 2, no .partial left
    metrics = json.loads((finished_run / "metrics.json").read_text())
    assert {"langid", "mlm", "retrieval", "training"} <= set(metrics)
    assert 0 <= metrics["langid"]["mean_accuracy"] <= 1 and metrics["mlm"]["top5"] >= metrics["mlm"]["top1"]
    assert set(metrics["langid"]["per_lang"]) <= {"en", "de", "fr", "es", "ru", "zh", "ja", "ar"}


def test_the_run_folder_is_a_model_for_every_loader(finished_run):
    from transformers import pipeline

    from xling.core.detectors import load_detector
    from xling.config import Paths
    from xling.core.encoders import load_encoder
    from xling.core.masked_lm import load_masked_lm

    assert load_encoder(str(finished_run), Paths.from_env()).encode(["Hallo"]).shape[0] == 1
    assert load_detector(str(finished_run)).detect(["Guten Morgen"])[0] in {"en", "de", "fr", "es", "ru", "zh", "ja", "ar"}
    load_masked_lm(str(finished_run))
    assert len(pipeline("fill-mask", model=str(finished_run))("Guten [MASK].", top_k=2)) == 2


class StopAt(Callback):
    """Plays the user who asks for a stop (the UI writes the same file)."""

    def __init__(self, run_dir: Path, step: int):
        self.run_dir, self.step = run_dir, step

    def on_log(self, logs):
        if logs["step"] == self.step:
            (self.run_dir / STOP_FILE).touch()


def test_stop_file_saves_and_resume_continues(tmp_path):
    config = _config(tmp_path, save_every=0)
    stopped = train(config, [StopAt(_run_dir(config), 15)], paths=Paths.from_env())
    assert stopped.state == "stopped" and stopped.step == 15
    assert latest_checkpoint(_run_dir(config)).name == "step-0000015"
    assert not (_run_dir(config) / "xling.json").exists()  # nothing published for a stopped run

    resumed = train(config, paths=Paths.from_env())
    assert resumed.state == "finished" and resumed.step == 30
    starts = [e for e in _events(_run_dir(config)) if e.get("event") == "start"]
    assert starts[-1]["step"] == 15 and starts[-1]["resumed_from"].endswith("step-0000015")
    assert (_run_dir(config) / "xling.json").exists()


def test_sequential_pretraining_continues_from_a_checkpoint_on_new_languages(finished_run, tmp_path):
    values = _config(tmp_path, steps=5, save_every=0).to_dict()
    values["init"]["from_checkpoint"] = str(finished_run)
    values["data"]["languages"] = ["en", "sv", "uk"]
    values["objectives"]["lang_embedding"] = True
    result = train(TrainConfig.from_dict(values), paths=Paths.from_env())
    from xling.core.model import XlingModel

    assert XlingModel.load(finished_run).lang_embedding_trained is False
    model = XlingModel.load(result.run_dir)
    assert model.languages[:8] == ["ar", "de", "en", "es", "fr", "ja", "ru", "zh"]
    assert set(model.languages[8:]) == {"sv", "uk"}
    assert model.lang_embedding_trained  # this run trained the language vectors: the app may condition on them


def test_cli_rejects_a_bad_config_before_any_work(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_name: x\ntrain: {lr: -1}\n")
    done = subprocess.run([sys.executable, "-m", "xling.training", "--config", str(bad)],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 2
    assert "train.lr" in done.stderr and "Traceback" not in done.stderr
    assert not (REPO_ROOT / "checkpoints" / "x").exists()


def test_sigterm_stops_cleanly(tmp_path):
    config = _config(tmp_path, steps=100000, save_every=0, log_every=1)
    path = tmp_path / "long.yaml"
    path.write_text(config.to_yaml())
    process = subprocess.Popen([sys.executable, "-m", "xling.training", "--config", str(path), "--no-progress-bar"],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = _run_dir(config) / "progress.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (progress.exists() and '"step": 2,' in progress.read_text()):
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "stopped" in out
    assert _events(_run_dir(config))[-1]["event"] == "stopped"
    assert latest_checkpoint(_run_dir(config)) is not None


def test_per_language_adapters_train_on_a_frozen_shared_backbone(finished_run, tmp_path):
    import torch

    from xling.core.adapters import use_adapter
    from xling.core.model import XlingModel

    values = _config(tmp_path, steps=6, save_every=3).to_dict()
    values["init"]["from_checkpoint"] = str(finished_run)
    values["data"]["languages"] = ["en", "de", "fr"]
    values["objectives"].update(lid_weight=0.0, contrastive_weight=0.5)
    values["adapters"] = {"enabled": True, "rank": 4}
    result = train(TrainConfig.from_dict(values), paths=Paths.from_env())
    assert result.state == "finished"

    shared = XlingModel.load(finished_run)
    tuned = XlingModel.load(result.run_dir)
    assert tuned.adapter_languages == ["de", "en", "fr"]
    assert sorted(p.name for p in (result.run_dir / "adapters").iterdir()) == [
        "adapters.json", "de.safetensors", "en.safetensors", "fr.safetensors"]
    from xling.core.adapters import backbone_state_without_adapters

    after = backbone_state_without_adapters(tuned.backbone)
    before = shared.backbone.state_dict()
    assert set(after) == set(before)
    assert all(torch.equal(before[name], after[name]) for name in before)  # the shared backbone did not move
    plain = tuned.embed(["Guten Morgen"])
    use_adapter(tuned, "de")
    assert not torch.allclose(torch.from_numpy(plain), torch.from_numpy(tuned.embed(["Guten Morgen"])))
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert set(metrics["adapters"]["per_lang"]) == {"de", "en", "fr"}
    assert {"shared_top5", "adapter_top5"} <= set(metrics["adapters"]["per_lang"]["de"])


def test_adapters_refuse_a_language_id_loss():
    with pytest.raises(Exception, match="objectives.lid_weight"):
        TrainConfig.from_dict({"adapters": {"enabled": True}, "objectives": {"lid_weight": 0.3}})


def test_data_parallel_run_with_two_processes(tmp_path):
    """`accelerate launch` starts processes through torch's launcher; torchrun runs the same code
    path on CPU (gloo), two processes, one of which reports and saves."""
    config = _config(tmp_path, steps=10, save_every=5, log_every=5)
    path = tmp_path / "ddp.yaml"
    path.write_text(config.to_yaml())
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29561",
         "-m", "xling.training", "--config", str(path), "--no-progress-bar"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = _events(_run_dir(config))
    assert [e["event"] for e in events if "event" in e] == ["start", "checkpoint", "checkpoint", "metrics", "finished"]
    assert events[0]["processes"] == 2
    assert (_run_dir(config) / "xling.json").exists() and not (_run_dir(config) / ".tokenizer").exists()


def test_the_seeds_model_on_a_pretrained_backbone_e5_small(tmp_path, e5_cache, monkeypatch):
    """init.pretrained: e5-small puts the seed's heads on multilingual-e5-small (a new MLM head tied
    to its input embeddings); two steps of MLM + language ID train and the run folder loads back as
    an xling model with an XLM-R backbone, and as a plain masked LM."""
    import torch

    from xling.core.e5 import e5_masked_lm
    from xling.core.model import XlingModel

    monkeypatch.setenv("XLING_CACHE", str(e5_cache))
    backbone, tokenizer = e5_masked_lm()
    assert backbone.lm_head.decoder.weight is backbone.roberta.embeddings.word_embeddings.weight
    assert torch.count_nonzero(backbone.lm_head.bias) == 0 and tokenizer.mask_token == "<mask>"
    assert backbone.lm_head.decoder.out_features == 250_037 > len(tokenizer)  # the file's rows, XLM-R's pieces
    del backbone
    values = _config(tmp_path, steps=2, save_every=0, batch_size=2, pair_batch_size=4, max_length=24,
                     warmup_steps=1, log_every=1).to_dict()
    values["init"]["pretrained"] = "e5-small"
    values["data"].update(languages=["en", "de"], max_texts_per_lang=50, eval_texts_per_lang=5)
    values["objectives"].update(contrastive_weight=0.0)
    result = train(TrainConfig.from_dict(values), paths=Paths.from_env())
    assert result.state == "finished" and result.step == 2
    model = XlingModel.load(result.run_dir)
    assert type(model.backbone).__name__ == "XLMRobertaForMaskedLM" and model.languages == ["de", "en"]
    assert model.predict_languages(["Das ist ein Haus."], k=2)[0][0][0] in {"de", "en"}
    rows = [e for e in _events(result.run_dir) if "step" in e and e.get("event") is None]
    assert {"mlm", "lid"} <= set(rows[-1])
    import shutil

    shutil.rmtree(result.run_dir)  # ~470 MB of weights: not left in pytest's kept temp folders


def test_a_cut_e5_backbone_prunes_keeps_the_first_layers_and_trains_only_the_top(tmp_path, e5_cache, monkeypatch):
    """xling-base's recipe at toy size: the vocabulary pruned to the training texts' pieces, the first
    two layers kept, only the top one (and the heads) trained, whole-word masking; a stopped run
    resumes with the lower layers still frozen, and the run folder is a plain masked LM."""
    import shutil

    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM

    from xling.core.e5 import e5_masked_lm

    monkeypatch.setenv("XLING_CACHE", str(e5_cache))
    values = _config(tmp_path, steps=4, save_every=0, batch_size=2, pair_batch_size=4, max_length=24,
                     warmup_steps=1, log_every=1).to_dict()
    values["init"].update(pretrained="e5-small", prune_min_count=1, keep_layers=2, trainable_layers=1,
                          train_embeddings=False)  # fmt: skip
    values["data"].update(languages=["en", "de"], max_texts_per_lang=50, eval_texts_per_lang=5)
    values["objectives"].update(contrastive_weight=0.0, whole_word_masking=True)
    config = TrainConfig.from_dict(values)
    stopped = train(config, [StopAt(_run_dir(config), 2)], paths=Paths.from_env())
    assert stopped.state == "stopped" and stopped.step == 2
    start = next(e for e in _events(_run_dir(config)) if e.get("event") == "start")
    assert start["layers"] == 2 and 100 < start["vocabulary"] < 5000

    original, _ = e5_masked_lm()
    at_2 = load_file(str(latest_checkpoint(_run_dir(config)) / "model.safetensors"))
    first = "roberta.encoder.layer.0.attention.self.query.weight"
    top = "roberta.encoder.layer.1.attention.self.query.weight"
    assert torch.equal(at_2[first], original.state_dict()[first])  # frozen: e5's own weights
    assert not torch.equal(at_2[top], original.state_dict()[top])  # trained
    del original

    resumed = train(config, paths=Paths.from_env())
    assert resumed.state == "finished" and resumed.step == 4
    final = load_file(str(resumed.run_dir / "model.safetensors"))
    assert torch.equal(final[first], at_2[first]) and not torch.equal(final[top], at_2[top])
    plain = AutoModelForMaskedLM.from_pretrained(resumed.run_dir, trust_remote_code=False, use_safetensors=True)
    assert plain.config.num_hidden_layers == 2 and plain.config.vocab_size == start["vocabulary"]
    shutil.rmtree(resumed.run_dir)

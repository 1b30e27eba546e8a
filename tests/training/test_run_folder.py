"""The run folder's layout: checkpoints found by step, config written atomically."""

from __future__ import annotations

from xling.training import run_folder
from xling.training.config import TrainConfig


def test_the_latest_checkpoint_is_the_newest_complete_one(tmp_path):
    for name, complete in (("step-0000005", True), ("step-0000020", True), ("step-0000030", False),
                           ("step-0000040.partial", True)):
        folder = tmp_path / run_folder.CHECKPOINTS / name
        folder.mkdir(parents=True)
        if complete:
            (folder / run_folder.TRAINER_STATE).write_bytes(b"")
    latest = run_folder.latest_checkpoint(tmp_path)
    assert latest.name == run_folder.checkpoint_name(20) and run_folder.checkpoint_step(latest) == 20
    assert [p.name for p in run_folder.checkpoint_folders(tmp_path)] == ["step-0000005", "step-0000020", "step-0000030"]
    assert run_folder.latest_checkpoint(tmp_path / "none") is None


def test_a_config_is_written_atomically_and_read_back(tmp_path):
    config = TrainConfig.from_dict({"run_name": "r", "output_dir": str(tmp_path)})
    path = run_folder.write_config(tmp_path, config)
    assert path == tmp_path / run_folder.CONFIG_FILE
    assert not (tmp_path / run_folder.temporary_name(run_folder.CONFIG_FILE)).exists()
    assert run_folder.read_config(tmp_path) == config
    path.write_text("train: [")
    assert run_folder.read_config(tmp_path) is None


def test_training_figures_round_trip_through_the_metrics():
    figures = run_folder.TrainingFigures.measured(10, 4.04, 2000, "cpu", "fp32")
    assert figures.to_dict() == {"steps": 10, "seconds": 4.0, "tokens": 2000, "tokens_per_s": 495.0, "device": "cpu",
                                 "precision": "fp32"}
    assert run_folder.TrainingFigures.of({"training": figures.to_dict()}) == figures
    assert run_folder.TrainingFigures.of({"langid": {}}) is None and run_folder.TrainingFigures.of(None) is None

"""Temperature scaling of a language-ID head: the fit recovers a known temperature, lowers the
calibration error of over-confident logits, keeps every ranking, and travels in xling.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xling.core.calibration import expected_calibration_error, fit_temperature, nll, softmax, write_temperature


def sampled(scale: float, n: int = 4000, classes: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``scale`` times too sharp: labels are drawn from softmax(true logits)."""
    rng = np.random.default_rng(seed)
    true = rng.normal(0, 2.0, size=(n, classes))
    p = softmax(true)
    labels = np.array([rng.choice(classes, p=row) for row in p])
    return true * scale, labels


def test_the_fit_recovers_the_temperature_that_made_logits_over_confident() -> None:
    logits, labels = sampled(scale=3.0)
    t = fit_temperature(logits, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    assert nll(logits, labels, t) < nll(logits, labels) and nll(logits, labels, t) <= nll(logits, labels, 3.0) + 1e-3
    before, after = expected_calibration_error(softmax(logits), labels), expected_calibration_error(softmax(logits, t), labels)
    assert after < 0.03 < before
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()  # rankings unchanged


def test_calibrated_logits_keep_a_temperature_near_one() -> None:
    logits, labels = sampled(scale=1.0, seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ValueError):
        fit_temperature(np.zeros((2, 3)), np.array([0]))


def test_the_temperature_is_written_to_the_manifest_and_read_by_the_model(tmp_path) -> None:
    (tmp_path / "xling.json").write_text(json.dumps({"languages": ["de", "en"]}))
    write_temperature(tmp_path, 2.345678, {"ece_after": 0.01})
    manifest = json.loads((tmp_path / "xling.json").read_text())
    assert manifest["lid_temperature"] == 2.3457 and manifest["lid_calibration"] == {"ece_after": 0.01}
    assert manifest["languages"] == ["de", "en"]

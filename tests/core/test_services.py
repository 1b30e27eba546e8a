"""Services: name resolution, pickers that see new checkpoints, one load per model, LRU bound."""

from __future__ import annotations

import shutil
import threading

import pytest

from xling.config import REPO_ROOT, AppConfig, Paths
from xling.core.services import Services
from xling.errors import ModelLoadError


@pytest.fixture
def services(app_checkpoints, tmp_path):
    paths = Paths(cache=tmp_path / "cache", demo=tmp_path / "demo", checkpoints=app_checkpoints)
    return Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths))


def test_names_resolve_to_checkpoint_folders_or_pass_through(services, app_checkpoints):
    assert services.resolve("tiny-xling") == str(app_checkpoints / "tiny-xling")
    assert services.resolve(None, "tiny-mlm") == str(app_checkpoints / "tiny-mlm")
    assert services.resolve("usem3") == "usem3"
    assert services.resolve("org/some-model") == "org/some-model"
    with pytest.raises(ModelLoadError, match="no model chosen"):
        services.resolve("  ")


def test_pickers_list_default_first_and_see_new_checkpoints(services, app_checkpoints, tiny_xling_dir):
    assert services.masked_lm_choices()[0] == "tiny-xling"
    assert set(services.masked_lm_choices()) == {"tiny-xling", "tiny-mlm"}
    assert services.encoder_choices()[:2] == ["tiny-xling", "usem3"]
    assert "tiny-mlm" not in services.encoder_choices()          # no sentence-transformers config
    assert "mlm:tiny-mlm" in services.encoder_choices(with_mlm_pools=True)
    assert services.detector_choices() == ["tiny-xling"]
    shutil.copytree(tiny_xling_dir, app_checkpoints / "fresh-run")
    (app_checkpoints / ".partial-write").mkdir()
    delta = app_checkpoints / "delta-run"  # a delta of e5-small (checkpoints/xling-base): no model.safetensors
    delta.mkdir()
    (delta / "config.json").write_text("{}")
    (delta / "xling-delta.json").write_text("{}")
    try:
        assert "fresh-run" in services.masked_lm_choices() and "fresh-run" in services.encoder_choices()
        assert ".partial-write" not in services.masked_lm_choices()
        assert "delta-run" in services.masked_lm_choices()
    finally:
        shutil.rmtree(app_checkpoints / "fresh-run")
        shutil.rmtree(delta)
        (app_checkpoints / ".partial-write").rmdir()


def test_models_load_once_and_are_shared(services):
    bundle = services.masked_lm()
    assert services.masked_lm("tiny-xling") is bundle and bundle.has_language_head
    assert services.detector().model is bundle.xling                  # the head reuses the loaded model
    assert services.encoder().encode(["Hallo Welt"]).shape == (1, 24)
    pooled = services.encoder("mlm:tiny-mlm").encode(["Hallo Welt", "Hello"])
    assert pooled.shape == (2, 32) and abs(float((pooled[0] ** 2).sum()) - 1) < 1e-5
    plain = services.masked_lm("tiny-mlm")
    assert not plain.has_language_head and not plain.has_language_embedding and plain.languages == []


def test_encoder_labels_name_what_encoder_would_load_without_loading_it(services):
    names = ["tiny-xling", "mlm:tiny-mlm", "mlm:tiny-xling", "usem3", None]
    labels = [services.encoder_label(name) for name in names]
    assert services.loaded() == []
    assert labels == [services.encoder(name).name for name in names]
    with pytest.raises(ModelLoadError, match="name the masked LM"):
        services.encoder_label("mlm: ")


def test_concurrent_requests_load_once(services):
    calls = []

    def slow_load():
        calls.append(1)
        threading.Event().wait(0.2)
        return object()

    results = []
    threads = [threading.Thread(target=lambda: results.append(services._get("thing", "x", slow_load))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1


def test_different_models_loading_at_once_all_get_real_weights(app_checkpoints, tmp_path):
    """A cold app's first detect and first search load two models in two threads; transformers builds
    each under a process-wide meta-device patch, so without one load at a time one of them came out
    with empty meta tensors ("Cannot copy out of meta tensor")."""
    for attempt in range(3):
        paths = Paths(cache=tmp_path / f"cache{attempt}", demo=tmp_path / "demo", checkpoints=app_checkpoints)
        services = Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths))
        loads = [lambda: services.masked_lm("tiny-xling"), lambda: services.encoder("tiny-xling"),
                 lambda: services.masked_lm("tiny-mlm"), lambda: services.detector("tiny-xling")]
        errors, barrier = [], threading.Barrier(len(loads))

        def run(load):
            barrier.wait()
            try:
                load()
            except Exception as exc:  # what the test looks for
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(load,)) for load in loads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        for bundle in (services.masked_lm("tiny-xling"), services.masked_lm("tiny-mlm")):
            assert not any(parameter.is_meta for parameter in bundle.model.parameters())
        assert services.encoder("tiny-xling").encode(["Hallo Welt"]).shape[0] == 1


def test_least_recently_used_models_are_dropped(app_checkpoints, tmp_path):
    paths = Paths(cache=tmp_path, demo=tmp_path, checkpoints=app_checkpoints)
    services = Services(AppConfig(masked_lm="tiny-xling", paths=paths, max_models=2))
    for name in ("a", "b", "c"):
        services._get("encoder", name, object)
    assert [name for _, name in services.loaded()] == ["b", "c"]


def test_unknown_model_is_a_clear_error(services):
    with pytest.raises(ModelLoadError):
        services.masked_lm("/no/such/folder")


def test_shared_objects_do_not_push_models_out(app_checkpoints, tmp_path):
    paths = Paths(cache=tmp_path, demo=tmp_path, checkpoints=app_checkpoints)
    services = Services(AppConfig(masked_lm="tiny-xling", paths=paths, max_models=1))
    services._get("encoder", "a", object)
    engine = services.shared("search", "engine", object)
    assert services.shared("search", "engine", object) is engine
    assert [kind for kind, _ in services.loaded()] == ["encoder", "search"]
    with pytest.raises(ValueError):
        services.shared("encoder", "b", object)


def test_warm_up_loads_the_defaults_once_in_the_background(app_checkpoints, tmp_path, monkeypatch):
    from xling.core import projection

    compiled = []
    monkeypatch.setattr(projection, "warm_up_umap", lambda: compiled.append(True))
    paths = Paths(cache=tmp_path, demo=REPO_ROOT / "demo", checkpoints=app_checkpoints)
    services = Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths))
    assert services.warm_up_in_background() is True
    assert services.warm_up_in_background() is False               # once per process
    services._warming.join(timeout=120)
    kinds = {kind for kind, _ in services.loaded()}
    assert {"masked_lm", "detector"} <= kinds and compiled == [True]
    off = Services(AppConfig(masked_lm="tiny-xling", paths=paths, warm_up=False))
    assert off.warm_up_in_background() is False and off.loaded() == []


@pytest.mark.parametrize("public", [False, True])
def test_warm_up_and_detector_work_on_a_public_deployment(app_checkpoints, tmp_path, monkeypatch, public):
    """A listed name resolves to a folder once; loading that folder is not refused as a 'path'."""
    from xling.core import projection

    monkeypatch.setattr(projection, "warm_up_umap", lambda: None)
    paths = Paths(cache=tmp_path, demo=REPO_ROOT / "demo", checkpoints=app_checkpoints)
    services = Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths, public=public))
    assert services.warm_up() == ["masked LM", "language detector", "fastText", "UMAP"]
    assert services.detector("tiny-xling").detect(["Das ist ein Haus."])[0]
    if public:
        with pytest.raises(ModelLoadError, match="not by path"):
            services.detector(str(app_checkpoints / "tiny-xling"))


def test_a_failed_warm_up_step_is_logged_and_the_rest_still_runs(tmp_path, monkeypatch, caplog):
    from xling.core import projection

    monkeypatch.setattr(projection, "warm_up_umap", lambda: None)
    paths = Paths(cache=tmp_path, demo=REPO_ROOT / "demo", checkpoints=tmp_path / "none")
    services = Services(AppConfig(masked_lm="missing-model", paths=paths))
    assert services.warm_up() == ["fastText", "UMAP"]
    assert "warm-up of the masked LM failed" in caplog.text


def test_umap_warm_up_compiles_on_a_tiny_sample():
    from xling.core.projection import warm_up_umap

    warm_up_umap()  # no error; the first real map then skips numba's compilation


def test_embedded_encoders_are_listed_and_named_in_public_too(app_checkpoints, tmp_path):
    paths = Paths(cache=tmp_path, demo=REPO_ROOT / "demo", checkpoints=app_checkpoints)
    services = Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths, public=True))
    assert services.encoder_choices()[:3] == ["tiny-xling", "usem3", "e5-small"]
    assert services.resolve("e5-small") == "e5-small"

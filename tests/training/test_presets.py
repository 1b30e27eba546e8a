"""Objective presets and the data checks before a run: a request in, a checked TrainConfig or a message out.

Nothing here trains: the configs are built and checked, uploads are written as corpus folders and
read back the way the engine reads them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import PARALLEL
from xling.config import REPO_ROOT, Paths
from xling.errors import DataError, XlingError
from xling.data import intake
from xling.training import presets
from xling.training.config import ConfigError, TrainConfig
from xling.training.presets import PRESETS, PresetError, RunRequest, RunPlan, default_request

DEMO = REPO_ROOT / "demo" / "corpus"
LANGS = ("de", "en", "fr")
#: The folders the default corpus comes from: the test run's environment, as the CLI reads it.
PATHS = Paths.from_env()


def plan_run(request: RunRequest, root: Path, **options) -> RunPlan:
    return presets.plan_run(request, root, paths=PATHS, **options)


def _request(preset: str = "mlm_lid", **values) -> RunRequest:
    values = {"run_name": "r1", "languages": LANGS, "data": str(DEMO), "max_texts_per_lang": 100, **values}
    return default_request(preset, **values)


@pytest.fixture
def root(tmp_path, tiny_xling_dir) -> Path:
    """A checkpoints folder holding one xling checkpoint (``base``) and one plain folder."""
    folder = tmp_path / "checkpoints"
    shutil.copytree(tiny_xling_dir, folder / "base")
    (folder / "plain").mkdir()
    return folder


def test_the_seed_strategies_and_the_encoder_extension_are_presets():
    assert list(PRESETS) == ["mlm_lid", "lang_embedding", "sequential", "contrastive", "teacher", "zero_shot",
                             "adapters", "encoder"]
    for preset in PRESETS.values():
        assert preset.label and preset.summary and set(preset.uses) <= set(preset.defaults)


@pytest.mark.parametrize("key", list(PRESETS))
def test_every_preset_builds_a_valid_config_on_the_demo_corpus(key, root):
    base = "base" if PRESETS[key].needs_base else ""
    plan = plan_run(_request(key, base_model=base, steps=40, batch_size=8), root)
    config = plan.config
    assert isinstance(config, TrainConfig) and config.run_name == "r1"
    assert config.run_dir_in(PATHS.checkpoints) == root.absolute() / "r1"
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config  # what config.yaml holds
    assert Path(config.data.corpus) == DEMO
    if key == "zero_shot":
        assert config.task == "zero_shot" and config.transfer.epochs == 40 and config.transfer.encoder == "usem3"
        assert config.transfer.train_lang == "en" and plan.data.labelled >= intake.MIN_LABELLED
    else:
        assert config.task == PRESETS[key].task and config.train.steps == 40 and config.train.batch_size == 8
        assert config.train.pair_batch_size == 16 and config.data.languages == LANGS
        assert config.data.max_texts_per_lang == 100 and set(plan.data.languages) == set(LANGS)
        assert config.train.log_every >= 1 and 1 <= config.train.warmup_steps < 40
    if PRESETS[key].needs_base:
        assert config.init.from_checkpoint == str((root / "base").absolute())


def test_each_preset_sets_its_objectives(root):
    def objectives(key, **values):
        values.setdefault("base_model", "base" if PRESETS[key].needs_base else "")
        return plan_run(_request(key, **values), root).config

    joint = objectives("mlm_lid", lid_weight=0.4).objectives
    assert joint.mlm and joint.lid_weight == 0.4 and joint.contrastive_weight == 0 and not joint.lang_embedding
    assert objectives("lang_embedding").objectives.lang_embedding
    contrastive = objectives("contrastive", contrastive_weight=0.7, temperature=0.1).objectives
    assert contrastive.contrastive_weight == 0.7 and contrastive.contrastive_temperature == 0.1
    teacher = objectives("teacher").objectives
    assert teacher.teacher == "usem3" and teacher.teacher_weight == 1.0
    adapters = objectives("adapters", lid_weight=0.5)  # λ has no meaning for adapters: it stays 0
    assert adapters.adapters.enabled and adapters.objectives.lid_weight == 0
    zero_shot = objectives("zero_shot", base_model="base")
    assert zero_shot.transfer.encoder == str((root / "base").absolute()) and zero_shot.init.from_checkpoint is None
    sequential = objectives("sequential", sampling_alpha=0.5)
    assert sequential.init.from_checkpoint and sequential.objectives.sampling_alpha == 0.5


def test_a_new_model_takes_the_chosen_size(root):
    tiny = plan_run(_request(model_size="tiny"), root).config
    small = plan_run(_request(model_size="small"), root).config
    assert tiny.init.model.hidden_size == 64 and small.init.model.hidden_size == 256
    assert tiny.init.from_checkpoint is None and small.init.vocab_size == 16000


def test_demo_counts_match_what_the_engine_reads():
    from xling.training.data import read_training_texts

    report = presets.inspect_data(_request("contrastive", languages=("de", "en", "fr", "ja")), Path("unused"),
                                  paths=PATHS)
    texts, groups, found = read_training_texts(DEMO, ("de", "en", "fr", "ja"), True, 100)
    assert report.languages == tuple(found)
    assert report.texts_per_lang == {lang: len(texts[lang]) for lang in found}
    assert report.pairs == sum(1 for group in groups if len(group) >= 2)
    assert report.summary.startswith("demo corpus: 4 languages")
    assert f"{report.pairs:,} translation groups" in report.summary


def test_preview_writes_nothing_and_start_writes_an_upload_once(root, corpus_csv):
    request = _request("contrastive", data_source="upload", data=str(corpus_csv), languages=())
    request = presets.dataclasses.replace(request, contrastive_weight=1.0)
    with pytest.raises(DataError, match=r"too few translation pairs: \d groups with training texts in two languages"):
        plan_run(request, root)  # six sentences in seven languages: below the minimum
    plan = plan_run(presets.dataclasses.replace(request, preset="mlm_lid", contrastive_weight=0.0), root)
    assert not (root / ".data").exists() and plan.data.languages == tuple(sorted(PARALLEL[0]))
    written = plan_run(presets.dataclasses.replace(request, preset="mlm_lid", contrastive_weight=0.0), root, write=True)
    folder = Path(written.config.data.corpus)
    assert folder.parent == root.absolute() / ".data" and folder.name.startswith("upload-")
    rows = [json.loads(line) for line in (folder / "parallel.jsonl").read_text().splitlines()]
    assert len(rows) == 42 and {row["split"] for row in rows} <= {"train", "test"}
    assert {row["group"] for row in rows} == {f"g{n}" for n in range(6)}  # the file's groups are kept
    again = plan_run(presets.dataclasses.replace(request, preset="mlm_lid", contrastive_weight=0.0, run_name="r2"),
                     root, write=True)
    assert again.config.data.corpus == written.config.data.corpus  # same content, same folder
    # The model pickers never list it (hidden folder), and the engine reads it like any corpus.
    from xling.training.data import read_training_texts

    texts, _, found = read_training_texts(folder, (), True)
    assert set(found) <= set(PARALLEL[0]) and sum(map(len, texts.values())) == plan.data.n_texts


def test_an_upload_with_groups_trains_contrastive(tmp_path, write_jsonl, root):
    rows = [{"text": f"{text} ({n})", "lang": lang, "group": f"g{n}-{i}"}
            for n in range(4) for i, row in enumerate(PARALLEL) for lang, text in row.items()]
    path = write_jsonl("pairs.jsonl", rows)
    plan = plan_run(_request("contrastive", data_source="upload", data=str(path), languages=()), root)
    assert plan.data.pairs >= intake.MIN_PAIRS and plan.config.objectives.contrastive_weight == 1.0


@pytest.mark.parametrize(("name", "content", "message"), [
    ("extra.csv", "text,lang,notes\nHallo,de,x\n", "unknown column 'notes'"),
    ("two.csv", "sentence,lang,foo,bar\nHallo,de,1,2\n", "unknown columns 'foo', 'bar'"),
    ("empty.csv", "text,lang\n", "no rows (the data is empty)"),
    ("blank.jsonl", "\n\n", "no rows (the data is empty)"),
    ("cells.csv", "text,lang\n ,de\n", "no texts (every text cell is empty)"),
    ("nolang.csv", "text,group\nHallo,g1\n", "no language column"),
    ("notext.csv", "lang,group\nde,g1\n", "no text column"),
    ("badlang.csv", "text,lang\nHallo,German!\n", "row 1 has 'German!', not a language code"),
    ("missing.csv", "text,lang\nHallo,de\nHello,\n", "row 2 has no language"),
    ("split.csv", "text,lang,split\nHallo,de,validation\n", "split 'validation'"),
    ("lines.txt", "Hallo\nHello\n", "needs a language per text"),
    ("data.xlsx", "x", "unsupported file type .xlsx"),
    ("bad.jsonl", '{"text": "Hallo", "lang": "de"}\n{oops\n', "bad.jsonl:2: not valid JSON"),
])
def test_bad_uploads_are_named(tmp_path, root, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        plan_run(_request(data_source="upload", data=str(path), languages=()), root)
    assert message in str(info.value) and name in str(info.value)


def test_data_problems_name_the_problem(root, write_csv):
    with pytest.raises(DataError, match=r"no training texts in xx, yy \(its languages: .*de"):
        plan_run(_request(languages=("de", "xx", "yy")), root)
    with pytest.raises(DataError, match="language ID needs two or more languages, the data has only de"):
        plan_run(_request(languages=("de",)), root)
    assert plan_run(_request(languages=("de",), lid_weight=0.0), root).data.languages == ("de",)
    one_lang = write_csv("de.csv", ["text", "lang"], [("Hallo", "de"), ("Welt", "de")])
    with pytest.raises(DataError, match="language ID needs two or more"):
        plan_run(_request(data_source="upload", data=str(one_lang), languages=()), root)
    with pytest.raises(DataError, match="upload a file first"):
        plan_run(_request(data_source="upload", data=None), root)
    with pytest.raises(DataError, match="not a corpus folder"):
        plan_run(_request(data=str(root)), root)
    with pytest.raises(DataError, match="data source 'ftp'"):
        plan_run(_request(data_source="ftp"), root)


def test_too_few_pairs_for_a_contrastive_run(root):
    with pytest.raises(DataError) as info:
        plan_run(_request("contrastive", max_texts_per_lang=5), root)
    text = str(info.value)
    assert "too few translation pairs" in text and f"at least {intake.MIN_PAIRS}" in text and "β to 0" in text


def test_zero_shot_needs_labelled_examples(root, write_jsonl):
    rows = [{"text": f"text {n}", "lang": "en" if n % 2 else "de", "label": "a" if n % 3 else "b"} for n in range(60)]
    good = write_jsonl("labels.jsonl", rows)
    plan = plan_run(_request("zero_shot", data_source="upload", data=str(good), languages=()), root, write=True)
    folder = Path(plan.config.data.corpus)
    assert (folder / "tasks" / "uidomain.jsonl").is_file() and (folder / "parallel.jsonl").is_file()
    assert plan.data.labelled >= intake.MIN_LABELLED
    unlabelled = write_jsonl("plain.jsonl", [{"text": "x", "lang": "en"}])
    with pytest.raises(DataError, match="no label column"):
        plan_run(_request("zero_shot", data_source="upload", data=str(unlabelled), languages=()), root)
    as_csv = good.with_suffix(".csv")
    as_csv.write_text("text,lang,label\nHello,en,a\n")
    with pytest.raises(DataError, match="labelled JSONL"):
        plan_run(_request("zero_shot", data_source="upload", data=str(as_csv), languages=()), root)
    few = write_jsonl("few.jsonl", rows[:6])
    with pytest.raises(DataError, match=r"labelled training examples in 'en'; zero-shot transfer needs at least 10"):
        plan_run(_request("zero_shot", data_source="upload", data=str(few), languages=()), root)
    with pytest.raises(DataError, match="training examples in 'xx'"):
        plan_run(_request("zero_shot", train_lang="xx"), root)


def test_large_corpora_are_checked_from_their_stats(tmp_path, root, monkeypatch):
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "parallel.jsonl").write_text("{}\n")
    stats = {"languages": ["de", "en"], "parallel": {"de": {"train": 500}, "en": {"train": 800}},
             "mono": {"de": {"train": 1000}}}
    (folder / "stats.json").write_text(json.dumps(stats))
    monkeypatch.setattr(intake, "SCAN_LIMIT_BYTES", 0)
    report = plan_run(_request(data=str(folder), languages=("de", "en"), max_texts_per_lang=100), root).data
    assert report.texts_per_lang == {"de": 200, "en": 100} and report.pairs is None  # documents up to twice the cap
    assert intake.corpus_languages(folder) == ["de", "en"]


def test_request_problems(root):
    with pytest.raises(PresetError, match="choose a base model"):
        plan_run(_request("adapters"), root)
    with pytest.raises(PresetError, match="not an xling checkpoint"):
        plan_run(_request("sequential", base_model="plain"), root)
    with pytest.raises(PresetError, match="usem3: not an xling checkpoint"):
        plan_run(_request("mlm_lid", base_model="usem3"), root)
    with pytest.raises(PresetError, match="no such folder"):
        plan_run(_request("sequential", base_model="./nowhere"), root)
    with pytest.raises(PresetError, match="hub is offline"):  # the tests run with HF_HUB_OFFLINE=1
        plan_run(_request("sequential", base_model="someone/xling-model"), root)
    with pytest.raises(DataError, match="hub is offline"):
        plan_run(_request(data_source="hub", data="someone/texts"), root)
    with pytest.raises(PresetError, match="unknown; use one of mlm_lid"):
        plan_run(RunRequest(run_name="r1", preset="nope"), root)
    with pytest.raises(PresetError, match="no CUDA device is visible"):
        plan_run(_request(device="cuda"), root, cuda_devices=lambda: 0)
    assert plan_run(_request(device="cuda"), root, cuda_devices=lambda: 1).config.train.device == "cuda"
    with pytest.raises(PresetError, match="steps: give a number"):
        plan_run(_request(steps=None), root)
    with pytest.raises(PresetError, match="batch size: give a whole number, not 2.5"):
        plan_run(_request(batch_size=2.5), root)
    with pytest.raises(XlingError, match="run name"):
        plan_run(_request(run_name="../x"), root)


def test_out_of_range_values_name_the_config_field(root):
    with pytest.raises(ConfigError, match=r"^train.lr:"):
        plan_run(_request(lr=2.0), root)
    with pytest.raises(ConfigError, match=r"^objectives.sampling_alpha:"):
        plan_run(_request(sampling_alpha=1.5), root)
    with pytest.raises(ConfigError, match=r"^train.steps:"):
        plan_run(_request(steps=0), root)


def test_whole_numbers_from_number_widgets_become_ints(root):
    config = plan_run(_request(steps=30.0, batch_size=8.0, max_texts_per_lang=50.0), root).config
    assert (config.train.steps, config.train.batch_size, config.data.max_texts_per_lang) == (30, 8, 50)


def test_run_names_and_defaults():
    assert presets.suggest_run_name("zero_shot") == "zero-shot-1"
    assert presets.suggest_run_name("mlm_lid", ["mlm-lid-1", "mlm-lid-2"]) == "mlm-lid-3"
    assert default_request("contrastive").contrastive_weight == 1.0
    assert default_request("zero_shot", run_name="z").lr == 0.01
    assert presets.resolve_base_model("", "checkpoints") is None


def test_presets_import_neither_gradio_nor_torch():
    import subprocess
    import sys

    code = "import sys, xling.training.presets; print(sorted({'torch', 'gradio'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


class _FakeHubTable:
    """What ``datasets.load_dataset(id, split="train")`` returns, as far as presets read it."""

    def __init__(self, rows):
        self.rows, self.column_names = rows, list(rows[0])

    def __len__(self):
        return len(self.rows)

    def select(self, indices):
        return _FakeHubTable([self.rows[i] for i in indices])

    def to_list(self):
        return list(self.rows)


def test_a_hub_dataset_is_checked_at_start_and_written_once(root, monkeypatch):
    import sys
    import types

    import huggingface_hub

    rows = [{"sentence": text, "language": lang, "id": f"g{n}"} for n, row in enumerate(PARALLEL * 4)
            for lang, text in row.items()]
    calls = []
    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda hub_id, split: calls.append((hub_id, split)) or _FakeHubTable(rows)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    monkeypatch.setattr(huggingface_hub, "is_offline_mode", lambda: False)
    request = _request(data_source="hub", data="someone/texts", languages=())
    preview = plan_run(request, root)
    assert calls == [] and "downloaded and checked at start" in preview.data.summary  # a preview fetches nothing
    started = plan_run(request, root, write=True)
    assert calls == [("someone/texts", "train")] and Path(started.config.data.corpus) == preview.data.corpus
    assert (preview.data.corpus / "parallel.jsonl").is_file() and started.data.languages == tuple(sorted(PARALLEL[0]))
    rows[0]["extra"] = "x"
    with pytest.raises(DataError, match="someone/texts: unknown column 'extra'"):
        plan_run(request, root, write=True)


def test_the_encoder_preset_pairs_every_language_with_english(root):
    plan = plan_run(_request("encoder", languages=("sv", "hi"), steps=40, batch_size=8), root)
    config = plan.config
    assert config.task == "encoder" and config.data.languages == ("en", "hi", "sv")
    assert config.encoder.student == "usem3-torch" and config.objectives.teacher == "usem3"
    assert not config.objectives.mlm and config.objectives.lid_weight == 0
    with pytest.raises(XlingError, match="not an xling checkpoint"):   # an MLM checkpoint is no encoder
        plan_run(_request("encoder", base_model="base", steps=40), root)


@pytest.mark.parametrize("key", list(PRESETS))
def test_e5_small_as_the_base_model(key, root):
    """e5-small as the base: the seed's heads on the pretrained transformer (init.pretrained), the
    frozen encoder of zero-shot transfer, and refused where a preset continues an xling checkpoint."""
    request = _request(key, base_model="e5-small", steps=40, batch_size=8)
    if PRESETS[key].needs_base or PRESETS[key].task == "encoder":
        with pytest.raises(XlingError, match="continues an xling checkpoint"):
            plan_run(request, root)
        return
    config = plan_run(request, root).config
    if key == "zero_shot":
        assert config.transfer.encoder == "e5-small" and config.init.pretrained is None
    else:
        assert config.init.pretrained == "e5-small" and config.init.from_checkpoint is None


def test_the_encoder_preset_takes_more_teachers(root):
    config = plan_run(_request("encoder", languages=("sv", "hi"), steps=40, batch_size=8,
                               teachers=("e5-small", "usem3", "e5-small")), root).config
    assert config.objectives.teacher == "usem3" and config.encoder.teachers == ("e5-small",)  # usem3 is the anchor
    assert config.encoder.teacher_dev_pairs == 20 and config.encoder.teacher_pairs_per_lang == 200
    assert plan_run(_request("encoder", steps=40, batch_size=8), root).config.encoder.teachers == ()


def test_the_teacher_student_preset_takes_its_teacher(root):
    assert plan_run(_request("teacher", steps=40, batch_size=8), root).config.objectives.teacher == "usem3"
    config = plan_run(_request("teacher", steps=40, batch_size=8, teacher="e5-small"), root).config
    assert config.objectives.teacher == "e5-small"

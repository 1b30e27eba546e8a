"""Text collections: the demo corpus and the upload formats, with their error messages."""

from __future__ import annotations

import pytest

from xling.config import REPO_ROOT
from xling.data.texts import CorpusText, load_corpus_collection, make_collection, read_text_file
from xling.errors import DataError


def test_demo_corpus_test_split_has_groups_and_languages():
    collection = load_corpus_collection(REPO_ROOT / "demo" / "corpus", split="test")
    assert len(collection) > 10_000
    assert len(collection.languages()) >= 25 and collection.has_groups()
    first = collection.texts[0]
    assert all(collection.texts[i].group == first.group for i in collection.translations(0))
    assert collection.translations(0), "a demo group has translations"


def test_demo_corpus_carries_long_aligned_prose_in_many_languages():
    from collections import Counter, defaultdict

    from xling.data.corpus import PROSE, load_segments, text_domain

    segments = [s for s in load_segments(REPO_ROOT / "demo" / "corpus") if text_domain(s.source) == PROSE]
    groups: dict[str, dict[str, str]] = defaultdict(dict)
    for s in segments:
        groups[s.group][s.lang] = s.text
    assert all(len(texts["en"]) >= 60 and len(texts) > 25 for texts in groups.values())  # long, many languages
    per_lang = Counter(s.lang for s in segments)
    assert sum(1 for n in per_lang.values() if n >= 200) >= 25
    assert {s.source for s in segments} == {"libreoffice-help", "gnome-user-docs"}
    assert all(s.package and s.version and s.licence for s in segments)

    # The search and map tabs' default collection (the test split) holds the prose too.
    collection = load_corpus_collection(REPO_ROOT / "demo" / "corpus", split="test")
    test_prose = {s.text for s in segments if s.split == "test"}
    assert len(test_prose) > 5000 and test_prose <= {t.text for t in collection.texts}


def test_fingerprint_depends_on_content_not_name():
    a = make_collection("a", [CorpusText("Hallo", "de"), CorpusText("Hello", "en")])
    b = make_collection("b", [CorpusText("Hallo", "de"), CorpusText("Hello", "en")])
    c = make_collection("a", [CorpusText("Hallo", "de"), CorpusText("Hello", "fr")])
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("a.txt", "Hallo Welt\n\n  Hello   world \n", [("Hallo Welt", None), ("Hello world", None)]),
    ("a.csv", "Sentence,Language\n\"Hello, world\",en\nBonjour,fr\n", [("Hello, world", "en"), ("Bonjour", "fr")]),
    ("a.tsv", "text\tlang\tgroup\nHallo\tde\tg1\n", [("Hallo", "de")]),
    ("a.jsonl", '{"text": "Hola", "lang": "es"}\n\n{"text": "Ciao"}\n', [("Hola", "es"), ("Ciao", None)]),
    # JSON may hold U+2028 unescaped (ensure_ascii=False writes it so): it is not a line break here.
    ("a.jsonl", '{"text": "Zeile eins\u2028Zeile zwei", "lang": "de"}\r\n', [("Zeile eins Zeile zwei", "de")]),
])
def test_upload_formats(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    collection = read_text_file(path)
    assert [(t.text, t.lang) for t in collection.texts] == expected


@pytest.mark.parametrize(("name", "content", "message"), [
    ("a.csv", b"title,author\nx,y\n", "no text column"),
    ("a.jsonl", b'{"text": "ok"}\n{broken\n', "a.jsonl:2: not valid JSON"),
    ("a.jsonl", b'["a list"]\n', "a.jsonl:1: expected a JSON object, got an array"),
    ("a.txt", b"", "empty"),
    ("a.txt", "Grüße".encode("latin-1"), "not UTF-8"),
    ("a.txt", b"\x00\x01\x02binary", "binary"),
    ("a.pdf", b"%PDF", "unsupported file type"),
    ("a.csv", b"text,lang\nHallo,Deutsch!!\n", "not a language code"),
])
def test_bad_uploads_are_refused_with_a_message(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text_file(path)


def test_size_and_count_limits(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("line\n" * 3000)
    with pytest.raises(DataError, match="over the 0 MB limit"):
        read_text_file(path, max_bytes=1000)
    with pytest.raises(DataError, match="over the limit of 100"):
        read_text_file(path, max_texts=100)

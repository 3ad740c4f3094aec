"""Corpus building and splitting; the committed held-out split matches its manifest."""
import hashlib
import json
from pathlib import Path

from corpus.build import (DOMAINS, Source, arithmetic_documents, build_corpus, fortune_documents, html_documents,
                          is_eval, roff_to_text, split_documents)

ROOT = Path(__file__).resolve().parents[1]


def test_split_is_disjoint_deduplicated_and_capped():
    docs = [f"document number {i}" for i in range(3000)] * 2  # every document twice
    train, held_out = split_documents(docs, train_cap=40_000, eval_cap=1_000)
    assert not set(train) & set(held_out)
    assert len(train) == len(set(train)) and len(held_out) == len(set(held_out))
    assert all(is_eval(d) for d in held_out) and not any(is_eval(d) for d in train)
    assert sum(len(d) + 2 for d in held_out) <= 1_000 and sum(len(d) + 2 for d in train) <= 40_000
    # the split of a document never depends on the order it comes in
    train2, held2 = split_documents(list(reversed(docs)), 10**9, 10**9)
    full_train, full_held = split_documents(docs, 10**9, 10**9)
    assert set(train2) == set(full_train) and set(held2) == set(full_held)
    assert 0.02 < len(full_held) / 3000 < 0.06  # about EVAL_PERCENT


def test_fortune_files_are_split_on_percent_lines(tmp_path):
    (tmp_path / "cookies").write_text("First one.\n%\nSecond,\ntwo lines.\n%\n%\nThird.\n")
    (tmp_path / "cookies.dat").write_bytes(b"\x00\x01")
    assert fortune_documents(tmp_path) == ["First one.", "Second,\ntwo lines.", "Third."]


def test_arithmetic_documents_are_correct():
    for doc in arithmetic_documents(n_docs=50, seed=3):
        for line in doc.splitlines():
            expression, value = line.split(" = ")
            assert eval(expression) == int(value)  # noqa: S307 - generated digits and operators only
    assert arithmetic_documents(5, seed=1) == arithmetic_documents(5, seed=1)


def test_committed_eval_split_matches_manifest_and_is_small():
    manifest = json.loads((ROOT / "assets/eval/manifest.json").read_text())
    total = 0
    for domain in DOMAINS:
        path = ROOT / f"assets/eval/{domain}.txt"
        info = manifest["domains"][domain]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == info["eval_sha256"]
        assert info["train_sha256"] != info["eval_sha256"] and info["eval_documents"] > 0
        total += path.stat().st_size
    assert total < 1_000_000


def test_roff_man_page_becomes_plain_text():
    page = ('.\\" a comment\n.TH CAT 1 "2022" "GNU"\n.SH ИМЯ\ncat \\- объединяет файлы\n.SH ОПИСАНИЕ\n'
            '.TP\n\\fB\\-n\\fP, \\fB\\-\\-number\\fP\nнумеровать \\fIвсе\\fR строки\n.B "жирный текст"\n.PP\n'
            'конец\\(em всё\n')
    text = roff_to_text(page)
    assert "comment" not in text and ".TH" not in text and "\\" not in text
    assert text.splitlines()[:4] == ["ИМЯ", "cat - объединяет файлы", "", "ОПИСАНИЕ"]
    assert "-n, --number\nнумеровать все строки\nжирный текст" in text
    assert text.endswith("конец— всё")


def test_html_pages_give_their_visible_text(tmp_path):
    (tmp_path / "a.html").write_text("<html><head><title>T</title><style>p{}</style></head><body><h1>Заголовок</h1>"
                                     "<p>Первый&nbsp;абзац <b>с</b> текстом.</p><script>var x;</script>"
                                     "<p>Второй абзац.</p>" + "<p>длинный текст</p>" * 20 + "</body></html>")
    (tmp_path / "skip.html").write_text("<p>" + "x" * 300 + "</p>")
    [doc] = html_documents(tmp_path, skip=("skip.html",))
    assert doc.startswith("Заголовок\n\nПервый абзац с текстом.\n\nВторой абзац.")
    assert "var x" not in doc and "p{}" not in doc and "T" not in doc.split("\n")[0][:1]


def test_added_sources_never_change_the_first_held_out_split(tmp_path):
    first = Source("english", "a", "test", 10**6, lambda _: [f"old {i}" for i in range(400)])
    added = Source("english", "b", "test", 10**6, lambda _: [f"new {i}" for i in range(400)] + ["old 1"], added=True)
    alone = build_corpus(tmp_path / "t1", tmp_path / "e1", tmp_path / "l1.txt", (first,))
    both = build_corpus(tmp_path / "t2", tmp_path / "e2", tmp_path / "l2.txt", (first, added))
    assert (tmp_path / "e1/english.txt").read_bytes() == (tmp_path / "e2/english.txt").read_bytes()
    assert alone["domains"]["english"]["eval_sha256"] == both["domains"]["english"]["eval_sha256"]
    added_eval = (tmp_path / "e2/added/english.txt").read_text().split("\n\n")
    train = (tmp_path / "t2/english.txt").read_text()
    assert added_eval and all(d.strip().startswith("new") for d in added_eval)
    assert not any(d.strip() in train.split("\n\n") for d in added_eval)
    assert train.count("old 1\n") <= 1  # the duplicate in the added source is dropped

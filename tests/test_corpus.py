"""Corpus building and splitting; the committed held-out split matches its manifest."""
import hashlib
import json
from pathlib import Path

from corpus.build import DOMAINS, arithmetic_documents, fortune_documents, is_eval, split_documents

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

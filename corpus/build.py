"""The multi-domain corpus: English prose, Russian prose, Python code, arithmetic.

`python -m corpus.build` rebuilds it from sources a fresh Debian machine can get without general
internet access (Debian's text packages through `apt-get download` + `dpkg -x`, no install; the
running Python's own standard library; a seeded generator) and writes
    data/corpus/train/<domain>.txt   training split (not committed; rebuilt by this command)
    assets/eval/<domain>.txt         held-out split (committed; never trained on)
    assets/eval/manifest.json        sizes and sha256 of both splits, and the sources
    assets/live_sample.txt           the first documents of each domain's training split (~160 KB), for
                                     the page's live mini training run (the page ships no other train text)

Documents (a fortune, a source file, a block of sums) are de-duplicated and then assigned to a split
by a hash of their text, so the two splits never share a document, whatever the order of sources.
Sources and licences are listed in assets/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sysconfig
import tempfile
from pathlib import Path

from paths import EVAL_DIR, LIVE_SAMPLE, TRAIN_DIR
DOMAINS = ("english", "russian", "python", "arithmetic")
DOC_SEPARATOR = "\n\n"
EVAL_PERCENT = 4  # documents whose hash falls in this percentile go to the held-out split
TRAIN_CAP_BYTES = {"english": 2_600_000, "russian": 3_000_000, "python": 2_600_000, "arithmetic": 500_000}
EVAL_CAP_BYTES = 150_000  # per domain: assets/eval stays well under 1 MB
LIVE_SAMPLE_BYTES = 40_000  # per domain: the page's live mini training reads this slice of the train split
DEBIAN_PACKAGES = {"english": "fortunes", "russian": "fortunes-ru"}
PYTHON_EXCLUDE = ("test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__", "turtledemo", "ensurepip")


def fetch_debian_package(name: str, workdir: Path) -> Path:
    """Download a .deb with apt-get (no install, no root) and unpack it; returns the unpacked root."""
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", name], cwd=workdir, check=True, capture_output=True)
    deb = sorted(workdir.glob(f"{name}_*.deb"))[-1]
    target = workdir / name
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    return target


def fortune_documents(directory: Path) -> list[str]:
    """Every fortune of every cookie file under directory (files split on lines holding only '%')."""
    docs = []
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file() or path.suffix in (".dat", ".u8"):
            continue
        text = path.read_text(encoding="utf-8", errors="strict").replace("\r\n", "\n")
        docs += [d.strip("\n") for d in re.split(r"^%$", text, flags=re.MULTILINE)]
    return [d for d in docs if d.strip()]


def python_documents() -> list[str]:
    """The running Python's standard library modules, tests and tools left out."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for path in sorted(stdlib.rglob("*.py")):
        if any(part in PYTHON_EXCLUDE for part in path.relative_to(stdlib).parts):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if 200 < len(text) < 60_000:
            docs.append(text.strip("\n"))
    return docs


def arithmetic_documents(n_docs: int = 6000, seed: int = 0) -> list[str]:
    """Blocks of correct sums, differences and products of random integers."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        lines = []
        for _ in range(rng.randint(3, 8)):
            a, b = rng.randint(0, 10 ** rng.randint(1, 4)), rng.randint(0, 10 ** rng.randint(1, 4))
            op = rng.choice("+-*")
            value = {"+": a + b, "-": a - b, "*": a * b}[op]
            lines.append(f"{a} {op} {b} = {value}")
        docs.append("\n".join(lines))
    return docs


def is_eval(doc: str) -> bool:
    return int(hashlib.sha256(doc.encode()).hexdigest(), 16) % 100 < EVAL_PERCENT


def split_documents(docs: list[str], train_cap: int, eval_cap: int) -> tuple[list[str], list[str]]:
    """De-duplicate, split by hash, cap each split's size (in UTF-8 bytes) keeping source order."""
    seen: set[str] = set()
    train, held_out = [], []
    sizes = {"train": 0, "eval": 0}
    for doc in docs:
        if doc in seen:
            continue
        seen.add(doc)
        name, bucket, cap = ("eval", held_out, eval_cap) if is_eval(doc) else ("train", train, train_cap)
        size = len(doc.encode()) + len(DOC_SEPARATOR)
        if sizes[name] + size <= cap:
            bucket.append(doc)
            sizes[name] += size
    return train, held_out


def domain_documents(domain: str, workdir: Path) -> list[str]:
    if domain == "english":
        return fortune_documents(fetch_debian_package("fortunes", workdir) / "usr/share/games/fortunes")
    if domain == "russian":
        return fortune_documents(fetch_debian_package("fortunes-ru", workdir) / "usr/share/games/fortunes/ru")
    if domain == "python":
        return python_documents()
    return arithmetic_documents()


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def live_sample(train: list[str]) -> str:
    docs, size = [], 0
    for doc in train:
        size += len(doc.encode()) + len(DOC_SEPARATOR)
        if size > LIVE_SAMPLE_BYTES:
            break
        docs.append(doc)
    return DOC_SEPARATOR.join(docs)


def build_corpus(train_dir: Path, eval_dir: Path, live_path: Path) -> dict:
    train_dir.mkdir(parents=True, exist_ok=True)
    eval_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"domains": {}}
    samples, characters = [], set()
    with tempfile.TemporaryDirectory() as tmp:
        for domain in DOMAINS:
            train, held_out = split_documents(domain_documents(domain, Path(tmp)), TRAIN_CAP_BYTES[domain], EVAL_CAP_BYTES)
            samples.append(live_sample(train))
            characters.update(*train)
            for docs, directory in ((train, train_dir), (held_out, eval_dir)):
                (directory / f"{domain}.txt").write_text(DOC_SEPARATOR.join(docs) + "\n", encoding="utf-8")
            manifest["domains"][domain] = {
                "source": DEBIAN_PACKAGES.get(domain, "python stdlib" if domain == "python" else "generated, seed 0"),
                "train_documents": len(train),
                "eval_documents": len(held_out),
                "train_bytes": (train_dir / f"{domain}.txt").stat().st_size,
                "eval_bytes": (eval_dir / f"{domain}.txt").stat().st_size,
                "train_sha256": sha256_file(train_dir / f"{domain}.txt"),
                "eval_sha256": sha256_file(eval_dir / f"{domain}.txt"),
            }
    manifest["train_characters"] = "".join(sorted(characters))  # what the models could ever have seen
    (eval_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    live_path.write_text(DOC_SEPARATOR.join(samples) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the multi-domain training and held-out corpus.")
    parser.add_argument("--train-dir", type=Path, default=TRAIN_DIR)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--live-sample", type=Path, default=LIVE_SAMPLE)
    args = parser.parse_args()
    manifest = build_corpus(args.train_dir, args.eval_dir, args.live_sample)
    for domain, info in manifest["domains"].items():
        print(f"{domain:11s} train {info['train_bytes']:>9,d} B ({info['train_documents']} docs)  "
              f"eval {info['eval_bytes']:>7,d} B ({info['eval_documents']} docs)")


if __name__ == "__main__":
    main()

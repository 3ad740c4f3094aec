"""The multi-domain corpus: English prose, Russian prose, Python code, arithmetic.

`python -m corpus.build` rebuilds it from sources a fresh Debian machine can get without general
internet access (Debian's text packages through `apt-get download` + `dpkg -x`, no install; the
running Python's own standard library; a seeded generator) and writes
    data/corpus/train/<domain>.txt   training split (not committed; rebuilt by this command)
    assets/eval/<domain>.txt         held-out split of the first zoo's sources (committed; never trained
                                     on; kept unchanged so every zoo is scored on the same text)
    assets/eval/added/<domain>.txt   held-out split of the sources added for zoo v2 (committed)
    assets/eval/manifest.json        sizes and sha256 of the splits, and the sources
    assets/live_sample.txt           the first documents of each domain's training split (~160 KB), for
                                     the page's live mini training run (the page ships no other train text)

Documents (a fortune, a source file, a manual page, a chapter of a guide, a block of sums) are
de-duplicated and then assigned to a split by a hash of their text, so the two splits never share a
document, whatever the order of sources. Sources and licences are listed in assets/README.md.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import html.parser
import json
import random
import re
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from paths import EVAL_DIR, LIVE_SAMPLE, TRAIN_DIR
DOMAINS = ("english", "russian", "python", "arithmetic")
DOC_SEPARATOR = "\n\n"
EVAL_PERCENT = 4  # documents whose hash falls in this percentile go to the held-out split
EVAL_CAP_BYTES = 150_000  # per domain and eval set: assets/eval stays well under 1 MB
ADDED_EVAL_DIR = "added"  # the held-out split of the zoo-v2 sources, a subdirectory of assets/eval
LIVE_SAMPLE_BYTES = 40_000  # per domain: the page's live mini training reads this slice of the train split
PYTHON_EXCLUDE = ("test", "tests", "idlelib", "site-packages", "lib2to3", "__pycache__", "turtledemo", "ensurepip")
PYTHON_DOCS = "usr/share/doc/python3.11/html/_sources"
PYTHON_DOCS_EXCLUDE = ("whatsnew",)  # release notes: lists of changelog entries, not prose


@dataclass(frozen=True)
class Source:
    """One source of documents for a domain. `added`: a source added for zoo v2, whose held-out
    documents go to assets/eval/added/ so the first zoo's held-out files stay as they were."""
    domain: str
    name: str
    licence: str
    train_cap: int  # UTF-8 bytes of this source in the training split
    documents: Callable[[Path], list[str]]  # workdir -> documents
    added: bool = False


def fetch_debian_package(name: str, workdir: Path) -> Path:
    """Download a .deb with apt-get (no install, no root) and unpack it; returns the unpacked root."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / name
    if target.is_dir():
        return target
    subprocess.run(["apt-get", "download", name], cwd=workdir, check=True, capture_output=True)
    deb = sorted(workdir.glob(f"{name}_*.deb"))[-1]
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


def rst_documents(directory: Path) -> list[str]:
    """The reStructuredText sources of the Python documentation, one document per page (release notes
    left out); the markup stays, as in the docs' own source view."""
    docs = []
    for path in sorted(directory.rglob("*.rst.txt")):
        if any(part in PYTHON_DOCS_EXCLUDE for part in path.relative_to(directory).parts):
            continue
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n").strip("\n")
        if len(text) > 200:
            docs.append(text)
    return docs


ROFF_ESCAPES = {r"\-": "-", r"\(em": "—", r"\(en": "–", r"\(aq": "'", r"\(lq": "“", r"\(rq": "”", r"\(Fo": "«",
                r"\(Fc": "»", r"\(bu": "•", r"\(co": "©", r"\e": "\\", r"\&": "", r"\ ": " ", r"\~": " ", r"\|": "",
                r"\^": "", r"\%": "", r"\:": "", r"\,": "", r"\/": ""}
ROFF_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")
ROFF_OTHER = re.compile(r"\\(\(..|\*\(..|\*\[[^\]]*\]|\*.|s[-+]?\d)")
ROFF_TEXT_MACROS = {"B", "I", "R", "SM", "SB", "BI", "BR", "IB", "IR", "RB", "RI", "SH", "SS", "UR", "MT", "OP", "IP", "TP"}


def roff_to_text(source: str) -> str:
    """Plain text of a man page: macros dropped (text-carrying ones keep their arguments), escapes
    resolved, fonts removed. Enough for prose; tables and pictures come out as their cells' text."""
    lines = []
    for line in source.replace("\r\n", "\n").split("\n"):
        if line.startswith((".\\\"", "'\\\"", '.\\"')):
            continue
        if line.startswith((".", "'")):
            macro, _, args = line[1:].strip().partition(" ")
            if macro not in ROFF_TEXT_MACROS:
                if macro in ("PP", "LP", "P", "SH", "SS", "sp", "TP", "IP") and lines and lines[-1]:
                    lines.append("")
                continue
            if macro in ("SH", "SS") and lines and lines[-1]:
                lines.append("")
            line = " ".join(re.findall(r'"[^"]*"|\S+', args)).replace('"', "") if macro not in ("IP", "TP") else (
                args.split('"')[1] if args.count('"') >= 2 else "")
            if not line:
                continue
        for escape, value in ROFF_ESCAPES.items():
            line = line.replace(escape, value)
        line = ROFF_OTHER.sub("", ROFF_FONT.sub("", line))
        lines.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def man_page_documents(directory: Path) -> list[str]:
    """Every gzipped man page under directory as plain text, one document per page."""
    docs = []
    for path in sorted(directory.rglob("*.gz")):
        if path.is_symlink():
            continue
        text = roff_to_text(gzip.decompress(path.read_bytes()).decode("utf-8", errors="strict"))
        if len(text) > 200:
            docs.append(text)
    return docs


class _HTMLText(html.parser.HTMLParser):
    """The visible text of an HTML page, paragraphs and headings on their own lines."""
    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "li", "pre", "tr", "dt", "dd", "br", "table", "section"}
    HIDDEN = {"script", "style", "head", "nav", "footer"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)

    def text(self) -> str:
        lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(self.parts).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def html_documents(directory: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """The visible text of every HTML page under directory (pages named in `skip` left out)."""
    docs = []
    for path in sorted(directory.rglob("*.html")):
        if path.name in skip:
            continue
        parser = _HTMLText()
        parser.feed(path.read_text(encoding="utf-8"))
        text = parser.text()
        if len(text) > 200:
            docs.append(text)
    return docs


def _package(name: str, subdir: str, reader: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    return lambda workdir: reader(fetch_debian_package(name, workdir) / subdir)


RUSSIAN_GUIDES = (  # Debian's own documentation in Russian: (package, directory inside it)
    ("debian-faq-ru", "usr/share/doc/debian/FAQ/ru"),
    ("maint-guide-ru", "usr/share/doc/maint-guide-ru/html"),
    ("developers-reference-ru", "usr/share/developers-reference/ru"),
)
GUIDE_SKIP = ("developers-reference.html", "search.html", "genindex.html")  # an all-in-one copy; no prose


def _russian_guides(workdir: Path) -> list[str]:
    return [doc for package, subdir in RUSSIAN_GUIDES
            for doc in html_documents(fetch_debian_package(package, workdir) / subdir, GUIDE_SKIP)]


SOURCES = (  # the first zoo's sources first (their order and caps fix the committed held-out files)
    Source("english", "fortunes", "BSD", 2_600_000, _package("fortunes", "usr/share/games/fortunes", fortune_documents)),
    Source("russian", "fortunes-ru", "GPL-2", 4_000_000, _package("fortunes-ru", "usr/share/games/fortunes/ru", fortune_documents)),
    Source("python", "python stdlib", "PSF-2.0", 7_000_000, lambda workdir: python_documents()),
    Source("arithmetic", "generated, seed 0", "generated by this project", 500_000, lambda workdir: arithmetic_documents()),
    Source("english", "python3.11-doc", "PSF-2.0", 6_000_000, _package("python3.11-doc", PYTHON_DOCS, rst_documents), added=True),
    Source("russian", "manpages-ru", "GPL-3+", 4_000_000, _package("manpages-ru", "usr/share/man/ru", man_page_documents), added=True),
    Source("russian", "debian-faq-ru, maint-guide-ru, developers-reference-ru", "GPL-2+", 2_500_000, _russian_guides, added=True),
)


def is_eval(doc: str) -> bool:
    return int(hashlib.sha256(doc.encode()).hexdigest(), 16) % 100 < EVAL_PERCENT


def split_documents(docs: list[str], train_cap: int, eval_cap: int, seen: set[str] | None = None) -> tuple[list[str], list[str]]:
    """De-duplicate (also against `seen`, which is updated), split by hash, cap each split's size (in
    UTF-8 bytes) keeping source order."""
    seen = set() if seen is None else seen
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


def _write(path: Path, docs: list[str]) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_SEPARATOR.join(docs) + "\n", encoding="utf-8")
    return {"documents": len(docs), "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def build_corpus(train_dir: Path, eval_dir: Path, live_path: Path, sources: tuple[Source, ...] = SOURCES) -> dict:
    manifest: dict = {"domains": {}, "sources": []}
    train: dict[str, list[str]] = {d: [] for d in DOMAINS}
    held_out: dict[tuple[str, bool], list[str]] = {}
    seen: dict[str, set[str]] = {d: set() for d in DOMAINS}
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            eval_key = (source.domain, source.added)
            room = EVAL_CAP_BYTES - sum(len(d.encode()) + len(DOC_SEPARATOR) for d in held_out.get(eval_key, []))
            tr, ev = split_documents(source.documents(Path(tmp)), source.train_cap, room, seen[source.domain])
            train[source.domain] += tr
            held_out.setdefault(eval_key, []).extend(ev)
            manifest["sources"].append({"domain": source.domain, "source": source.name, "licence": source.licence,
                                        "added_for_zoo_v2": source.added, "train_documents": len(tr),
                                        "train_bytes": sum(len(d.encode()) for d in tr), "eval_documents": len(ev)})
    characters: set[str] = set()
    for domain in DOMAINS:
        characters.update(*train[domain])
        info = {"source": ", ".join(s.name for s in sources if s.domain == domain)}
        for split, directory, docs in (("train", train_dir, train[domain]), ("eval", eval_dir, held_out.get((domain, False), [])),
                                       ("added_eval", eval_dir / ADDED_EVAL_DIR, held_out.get((domain, True)))):
            if docs is None:
                continue
            written = _write(directory / f"{domain}.txt", docs)
            info |= {f"{split}_{key}": value for key, value in written.items()}
        manifest["domains"][domain] = info
    manifest["train_characters"] = "".join(sorted(characters))  # what the models could ever have seen
    (eval_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    live_path.write_text(DOC_SEPARATOR.join(live_sample(train[d]) for d in DOMAINS) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the multi-domain training and held-out corpus.")
    parser.add_argument("--train-dir", type=Path, default=TRAIN_DIR)
    parser.add_argument("--eval-dir", type=Path, default=EVAL_DIR)
    parser.add_argument("--live-sample", type=Path, default=LIVE_SAMPLE)
    args = parser.parse_args()
    manifest = build_corpus(args.train_dir, args.eval_dir, args.live_sample)
    for source in manifest["sources"]:
        print(f"{source['domain']:11s} {source['source'][:40]:40s} train {source['train_bytes']:>10,d} B "
              f"({source['train_documents']} docs), held out {source['eval_documents']} docs")


if __name__ == "__main__":
    main()

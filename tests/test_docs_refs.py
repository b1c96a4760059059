"""Every document the repository points a reader to is one they can open: no references to notes that
are not in the repository (section marks of an outside spec, tooling/paper/product notes), and every
`docs/*.md` named in a source file or document exists."""

import os
import re

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SOURCES = ("README.md", "docs", "csrc", "python", "tests", "tools", "egs", "results", "Makefile", "pyproject.toml")
TEXT = (".md", ".py", ".h", ".cc", ".cu", ".cuh", ".sh", ".conf", ".toml", ".txt", "Makefile")
SKIP_DIRS = {"__pycache__", "build", ".venv"}
OUTSIDE = re.compile(r"kaldi-nnet2-spec|tooling\.md|(?<!docs/)paper\.md|product\.md|style\.md|\bspec §")


def _files():
    for top in SOURCES:
        p = os.path.join(REPO, top)
        if os.path.isfile(p):
            yield p
            continue
        for dp, dns, fns in os.walk(p):
            dns[:] = [d for d in dns if d not in SKIP_DIRS and not d.startswith(("exp", "data", "mfcc", "wav"))]
            for f in fns:
                if f.endswith(TEXT) and f != "fsdd_manifest.txt":
                    yield os.path.join(dp, f)


def test_no_references_to_documents_outside_the_repository():
    bad = []
    for path in _files():
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if path.endswith("test_docs_refs.py"):
                    continue
                in_docs = path.startswith(os.path.join(REPO, "docs") + os.sep)
                if OUTSIDE.search(line) or ("§" in line and "docs/" not in line and not in_docs):
                    bad.append(f"{os.path.relpath(path, REPO)}:{n}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_named_docs_exist():
    missing = []
    for path in _files():
        with open(path, encoding="utf-8", errors="replace") as f:
            for m in re.finditer(r"docs/([A-Za-z0-9_.-]+\.md)", f.read()):
                if not os.path.exists(os.path.join(REPO, "docs", m.group(1))):
                    missing.append(f"{os.path.relpath(path, REPO)}: docs/{m.group(1)}")
    assert not missing, "\n".join(missing)

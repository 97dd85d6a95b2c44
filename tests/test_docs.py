"""The docs name code, tests, files and sections that exist: a rename or a move that leaves a doc behind fails here.

Checked in README.md and docs/*.md: dotted names under our packages (``mage.presets.DATASET_DEFAULTS``; a
``mage.<tag>`` whose first part is no module is an MLflow tag and skipped), repository paths of code and config
files, ``tests/<file>.py::<test>`` references, relative links and their ``#anchors``, and the results' contents
list against its sections."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PACKAGES = ("mage", "sweeps", "analysis")
CODE_DIRS = ("mage", "sweeps", "analysis", "bench", "cluster", "tests", "docs", ".ci")
FILE_EXTS = (".py", ".sh", ".yaml", ".yml", ".toml", ".md", ".cfg", ".json")

_PACKAGES_RE = "|".join(PACKAGES)
_CODE_DIRS_RE = "|".join(re.escape(d) for d in CODE_DIRS)
DOTTED_RE = re.compile(rf"`((?:{_PACKAGES_RE})(?:\.[A-Za-z_]\w*)+)")
PATH_RE = re.compile(rf"`((?:{_CODE_DIRS_RE})/[\w./\-]+)")
TEST_REF_RE = re.compile(r"(tests/[\w/]+\.py)::(\w+)")
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
HEADING_RE = re.compile(r"^(#{1,6}) +(.+?) *$")


@functools.cache
def _lines(doc: Path) -> list[tuple[int, str]]:
    """(line number, text) outside fenced code blocks: commands there may name files a run writes."""
    out, fenced = [], False
    for i, line in enumerate(doc.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append((i, line))
    return out


def _found(pattern: re.Pattern[str]) -> Iterator[tuple[Path, str, Any]]:
    """(doc, "file:line", match) for every match of ``pattern`` in the docs' prose."""
    for doc in DOCS:
        for i, line in _lines(doc):
            for m in pattern.findall(line):
                yield doc, f"{doc.relative_to(ROOT)}:{i}", m


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _resolves(name: str) -> bool:
    """``name`` is an importable module, or an attribute chain under the longest importable prefix."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if not _is_module(".".join(parts[:k])):
            continue
        obj = importlib.import_module(".".join(parts[:k]))
        for attr in parts[k:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces as hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def anchors(doc: Path) -> set[str]:
    """The anchors of ``doc``'s headings; a repeated heading gets ``-1``, ``-2``, ... as on GitHub."""
    out: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in _lines(doc):
        if m := HEADING_RE.match(line):
            base = slug(m.group(2))
            n = counts.get(base, 0)
            counts[base] = n + 1
            out.add(f"{base}-{n}" if n else base)
    return out


def test_slug_follows_githubs_rules() -> None:
    assert slug("Hierarchy depth K ∈ {1, 2, 4, 8} on maze2d-large, `demo` budget") == (
        "hierarchy-depth-k--1-2-4-8-on-maze2d-large-demo-budget"
    )
    assert slug("D′ in stage 2: λ_cond") == "d-in-stage-2-λ_cond"


def test_dotted_names_in_the_docs_exist() -> None:
    missing = [
        f"{where}: {name}"
        for _, where, name in _found(DOTTED_RE)
        if _is_module(".".join(name.split(".")[:2])) and not _resolves(name)
    ]
    assert not missing, "docs name code that does not exist:\n" + "\n".join(missing)


def test_code_and_config_paths_in_the_docs_exist() -> None:
    paths = [(where, p.rstrip(".")) for _, where, p in _found(PATH_RE)]
    missing = [f"{w}: {p}" for w, p in paths if p.endswith(FILE_EXTS) and not (ROOT / p).exists()]
    assert not missing, "docs name files that do not exist:\n" + "\n".join(missing)


def test_tests_named_in_the_docs_exist() -> None:
    refs = list(_found(TEST_REF_RE))
    assert refs, "no test references found: the pattern no longer matches the docs"
    missing = [
        f"{where}: {path}::{name}"
        for _, where, (path, name) in refs
        if not (ROOT / path).is_file() or not re.search(rf"^\s*def {name}\(", (ROOT / path).read_text(), re.M)
    ]
    assert not missing, "docs name tests that do not exist:\n" + "\n".join(missing)


def test_relative_links_and_anchors_resolve() -> None:
    broken = []
    for doc, where, target in _found(LINK_RE):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{where}: {target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{where}: {target} (no such section)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_results_contents_list_every_section() -> None:
    """Every ``##`` and ``###`` section of docs/results.md is linked from its contents at the top (the links are
    checked above)."""
    path = ROOT / "docs" / "results.md"
    text = path.read_text()
    contents = text.split("\n## ", 2)[1] if "\n## Contents" in text else ""
    assert contents.startswith("Contents"), "docs/results.md has no '## Contents' as its first section"
    linked = set(re.findall(r"\]\(#([^)]+)\)", contents))
    sections = [
        slug(m.group(2))
        for _, ln in _lines(path)
        if (m := HEADING_RE.match(ln)) and m.group(1) in ("##", "###")
    ]
    unlisted = [s for s in sections if s != "contents" and s not in linked]
    assert not unlisted, f"docs/results.md: sections missing from its contents: {unlisted}"

"""Every relative link in the Markdown files and the notebooks' Markdown cells leads somewhere.

A link is checked the way GitHub and JupyterLab follow it: relative to the file it is in. When
it names a heading of a Markdown file (``cli.md#errors``, ``#lessons``), that heading must exist,
with GitHub's rule for turning a heading into an anchor. Links with a scheme (``https:``) are
not followed: the suite never leaves loopback.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import ROOT

#: Folders that hold no project documents: tools' caches, installs and run outputs.
SKIP = {".git", ".venv", "output", "test-artifacts", "node_modules", "__pycache__"}
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the target ends at whitespace (a "title") or ")".
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+[^)]*)?\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def project_files(suffix: str) -> list[Path]:
    """The project's files with this suffix, outside hidden, tool and output folders."""
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in SKIP and not d.startswith(".")]
        found += [Path(folder, name) for name in names if name.endswith(suffix)]
    return sorted(found)


def prose_lines(markdown: str) -> list[str]:
    """The lines of ``markdown`` outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def links(markdown: str) -> list[str]:
    """Every link target in ``markdown``'s prose, in order."""
    return [m.group(1) for line in prose_lines(markdown) for m in LINK.finditer(line)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = LINK.sub(lambda m: m.group(0)[1 : m.group(0).index("]")], heading)  # link text only
    text = text.replace("`", "").strip().lower()
    kept = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in {"L", "N"})
    return kept.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """The anchors of every heading in ``markdown`` (a repeated heading gets -1, -2, ...)."""
    seen: Counter[str] = Counter()
    found = set()
    for line in prose_lines(markdown.replace("`", "\x00")):  # keep code in headings
        if match := HEADING.match(line.replace("\x00", "`")):
            base = slug(match.group(2))
            found.add(f"{base}-{seen[base]}" if seen[base] else base)
            seen[base] += 1
    return found


def markdown_of(path: Path) -> str:
    """A Markdown file's text, or a notebook's Markdown cells joined."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return "\n\n".join(
            "".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def broken(path: Path) -> list[str]:
    """The relative links in ``path`` whose file or heading does not exist."""
    problems = []
    for target in links(markdown_of(path)):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc:
            continue
        file = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not file.exists():
            problems.append(f"{target}: no such file")
        elif parts.fragment and file.suffix == ".md":
            if unquote(parts.fragment) not in anchors(file.read_text(encoding="utf-8")):
                problems.append(f"{target}: no such heading in {file.name}")
    return problems


DOCUMENTS = project_files(".md") + project_files(".ipynb")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(path):
    assert broken(path) == []


def test_the_documents_are_found():
    """The parametrized test above sees the documents (an empty list would pass silently)."""
    names = {p.relative_to(ROOT).as_posix() for p in DOCUMENTS}
    assert {
        "README.md",
        "CONTRIBUTING.md",
        "docs/cli.md",
        "solutions/01_pipeline_mindset.ipynb",
    } <= names


def test_a_broken_file_or_heading_is_reported(tmp_path):
    """The checker itself: it sees a missing file and a missing heading, and accepts good ones."""
    (tmp_path / "other.md").write_text("# Other page\n\n## The `--db` option\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Two words\n\n"
        "[ok](other.md) [ok](other.md#the---db-option) [ok](#two-words) [web](https://x.org/y)\n"
        "[gone](missing.md) [no heading](other.md#nowhere) [self](#nope)\n"
        "```\n[in code](ignored.md)\n```\n`[inline](ignored.md)`\n",
        encoding="utf-8",
    )
    assert broken(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no such heading in other.md",
        "#nope: no such heading in page.md",
    ]

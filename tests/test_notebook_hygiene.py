"""Every stored notebook is something a student or a grader can trust."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb")
)
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]
LEAKS = {
    "machine path": re.compile(r"(/root/|/tmp/|/work/|/home/\w+|/Users/\w+|[A-Z]:\\\\Users)"),
    "ANSI colour code": re.compile(r"\\u001b\["),
    "memory address": re.compile(r" at 0x[0-9a-fA-F]{6,}"),
    "timestamp": re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d"),
}


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_executed_in_order_from_a_fresh_kernel(path):
    """Counts 1, 2, 3, ...; a student notebook stores none for exercise and check cells."""
    cells = code_cells(load(path))
    counts = [c.get("execution_count") for c in cells]
    if path.parent.name == "notebooks":
        unrun = [
            "".join(c["source"])[:60]
            for c in cells
            if c.get("execution_count") is None
            and "check" not in c.get("metadata", {}).get("tags", [])
            and "# YOUR CODE HERE" not in "".join(c["source"])
        ]
        assert not unrun, f"only exercise and check cells go unrun: {unrun}"
        counts = [n for n, c in enumerate(cells, 1) if c.get("execution_count") is not None]
        assert [c.get("execution_count") for c in cells if c.get("execution_count")] == counts
        return
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_unexpected_errors_or_leaks(path):
    for cell in code_cells(load(path)):
        tags = cell.get("metadata", {}).get("tags", [])
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                assert "raises-exception" in tags, (
                    f"error output in an untagged cell: {cell['source']}"
                )
            text = json.dumps(
                {k: v for k, v in output.items() if k != "data" or "image/png" not in v}
            )
            for what, pattern in LEAKS.items():
                assert not pattern.search(text), (
                    f"{what} in output of: {''.join(cell['source'])[:80]}"
                )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_kernel_size_and_shape(path):
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert path.stat().st_size < 1_000_000
    assert not any("execution" in c.get("metadata", {}) for c in nb["cells"]), (
        "timing metadata stored"
    )
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert markdown.lstrip().startswith("# "), "a lesson opens with a title"
    if path.name == "00_index.ipynb":
        return  # the generated contents page: a title and a table
    for heading in ("Objectives", "Exercises", "Key points", "Further reading"):
        assert f"## {heading}" in markdown, f"missing a '## {heading}' section"

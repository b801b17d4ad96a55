"""The engines' screenshots (``make screenshots``) are committed, small, the same beside the
solutions and the student notebooks, and shown by the lessons they belong to.

Cheap: it reads files only; taking the screenshots is ``make screenshots``, not part of the suite.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
from screenshots import FOLDERS, SHOTS  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_LINK = re.compile(r"!\[[^\]]+\]\((images/[^)\s]+)\)")


def image_links(path) -> set[str]:
    """The ``images/...`` files the Markdown cells of a notebook show (with alt text)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return set(IMAGE_LINK.findall(text))


@pytest.mark.parametrize("name", sorted(SHOTS))
def test_each_screenshot_is_a_small_png_in_both_folders(name):
    copies = [folder / name for folder in FOLDERS]
    for copy in copies:
        assert copy.is_file(), f"{copy} is missing: run make screenshots"
        data = copy.read_bytes()
        assert data.startswith(PNG_SIGNATURE), f"{copy} is not a PNG"
        assert len(data) < 300_000, f"{copy} is {len(data) // 1000} KB"
    assert copies[0].read_bytes() == copies[1].read_bytes(), "run make screenshots to sync them"


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_each_lesson_shows_its_screenshots_and_no_missing_image(folder):
    for lesson in sorted((ROOT / folder).glob("*.ipynb")):
        shown = image_links(lesson)
        wanted = {f"images/{name}" for name, owner in SHOTS.items() if owner == lesson.name}
        assert wanted <= shown, f"{lesson.name} does not show {sorted(wanted - shown)}"
        missing = [link for link in shown if not (lesson.parent / link).is_file()]
        assert not missing, f"{lesson.name} shows images that do not exist: {missing}"


def test_no_stray_images():
    """Every committed image is one the script makes (an old one would never be refreshed)."""
    for folder in FOLDERS:
        assert {p.name for p in folder.iterdir()} == set(SHOTS)

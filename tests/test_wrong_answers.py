"""Wrong answers as test data: every exercise has at least three, and each is well formed.

The mutation and re-run tests themselves run inside nbval's kernel of each solution notebook
(``tests/support/wrong_answers.py``), as items right after the exercise's check cell:
``solutions/01_pipeline_mindset.ipynb::01-ex2 wrong 1`` must see the check FAIL on the wrong
answer and pass again on the solution; ``... ::01-ex2 rerun`` runs the solution and its check a
second time. Run one lesson's with ``pytest solutions/01_pipeline_mindset.ipynb``.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from conftest import ROOT
from exam_pipeline.course.notebooks import exercises, lesson_paths, replace_region
from support.wrong_answers import (
    WRONG_DIR,
    bound_at_top,
    load_wrong_answers,
    wrong_answers_file,
)

SOLUTIONS = lesson_paths(ROOT / "solutions")
IDS = [p.stem for p in SOLUTIONS]
FILES = sorted(WRONG_DIR.glob("[0-9][0-9]_*.py"))
EXERCISE_ID = re.compile(r"^\d\d-ex\d+$")
AT_LEAST = 3


def exercise_cells(path):
    nb = nbformat.read(path, as_version=4)
    return {e.check_id: nb.cells[e.solution].source for e in exercises(nb)}


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_every_exercise_has_three_wrong_answers(path):
    wrong = load_wrong_answers(wrong_answers_file(path))
    short = [
        f"{cid}: {len(wrong.get(cid, []))} wrong answer(s)"
        for cid in exercise_cells(path)
        if EXERCISE_ID.match(cid) and len(wrong.get(cid, [])) < AT_LEAST
    ]
    assert not short, (
        f"at least {AT_LEAST} wrong answers per exercise in "
        f"{wrong_answers_file(path).relative_to(ROOT)}:\n" + "\n".join(short)
    )


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_wrong_answer_file_is_well_formed(path):
    notebook = ROOT / "solutions" / f"{path.stem}.ipynb"
    assert notebook.is_file(), f"{path.name} names no solution notebook"
    cells = exercise_cells(notebook)
    transformer = TransformerManager()
    for cid, answers in load_wrong_answers(path).items():
        assert cid in cells, f"{cid}: no exercise with this check id in {notebook.name}"
        for number, entry in enumerate(answers, 1):
            assert isinstance(entry, tuple) and len(entry) == 2, f"{cid} #{number}: (text, code)"
            description, code = entry
            assert description.strip() and "\n" not in description, f"{cid} #{number}: one line"
            source = replace_region(cells[cid], code)
            compile(transformer.transform_cell(source), f"{cid} wrong {number}", "exec")


def test_replace_region_indents_the_code_and_keeps_the_markers():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    replaced = replace_region(source, "\n        y = x\n        return y\n")
    assert replaced == (
        "def f(x):\n    ### BEGIN SOLUTION\n    y = x\n    return y\n    ### END SOLUTION\n"
    )
    assert replace_region(replaced, "return 2 * x") == source


def test_names_a_wrong_attempt_forgets_are_the_cells_top_level_ones():
    source = (
        "import numpy as np\nfrom a import b as c\ndef f():\n    inner = 1\nx, (y, z) = 1, (2, 3)\n"
    )
    assert bound_at_top(source) == {"np", "c", "f", "x", "y", "z"}

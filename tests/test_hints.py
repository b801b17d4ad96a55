"""Hints in stages: each exercise has them, and no hint gives away a line of its answer."""

from __future__ import annotations

import re

import nbformat
import pytest

from conftest import ROOT
from exam_pipeline.course import hints
from exam_pipeline.course.notebooks import exercises, hint_line, lesson_paths, solution_regions

SOLUTIONS = lesson_paths(ROOT / "solutions")
IDS = [p.stem for p in SOLUTIONS]
#: An answer line shorter than this (whitespace removed) is too common to count as a leak:
#: ``return df``, ``else:``, ``try:``, ``)``.
SHORTEST_LEAK = 10
EXERCISE_ID = re.compile(r"^\d\d-ex\d+$")


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def answer_lines(source: str) -> set[str]:
    """The non-trivial lines of a cell's solution regions, whitespace removed, lower case."""
    lines = set()
    for body in solution_regions(source):
        for line in body.splitlines():
            line = line.strip()
            if line.startswith("#"):
                continue
            squeezed = squeeze(line)
            if len(squeezed) >= SHORTEST_LEAK:
                lines.add(squeezed)
    return lines


def leaks(hint: str, answer: set[str]) -> list[str]:
    squeezed = squeeze(hint)
    return sorted(line for line in answer if line in squeezed)


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_no_hint_contains_a_line_of_its_answer(path):
    nb = nbformat.read(path, as_version=4)
    found = []
    for exercise in exercises(nb):
        source = nb.cells[exercise.solution].source
        answer = answer_lines(source)
        stages = [("### HINT line", hint_line(source) or "")]
        stages += [
            (f"hints.HINTS stage {n}", text)
            for n, text in enumerate(hints.HINTS.get(exercise.check_id, ()), 1)
        ]
        for where, text in stages:
            for line in leaks(text, answer):
                found.append(f"{exercise.check_id} {where} gives away the answer line {line!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", SOLUTIONS, ids=IDS)
def test_every_exercise_has_a_hint_line_and_two_staged_hints(path):
    nb = nbformat.read(path, as_version=4)
    missing = []
    for exercise in exercises(nb):
        if not EXERCISE_ID.match(exercise.check_id):
            continue
        if not hint_line(nb.cells[exercise.solution].source):
            missing.append(f"{exercise.check_id}: no '### HINT:' line above the answer")
        if len(hints.HINTS.get(exercise.check_id, ())) < 2:
            missing.append(f"{exercise.check_id}: fewer than 2 stages in hints.HINTS")
    assert not missing, "\n".join(missing)


def test_hints_name_only_existing_exercises():
    known = set()
    for path in SOLUTIONS:
        known |= {e.check_id for e in exercises(nbformat.read(path, as_version=4))}
    assert not sorted(set(hints.HINTS) - known), "HINTS for check ids no solution has"


def test_leak_detection_ignores_whitespace_and_short_lines():
    answer = answer_lines(
        "def f(a):\n    ### BEGIN SOLUTION\n    va = a.var() / len(a)\n    return va\n"
        "    ### END SOLUTION\n"
    )
    assert answer == {"va=a.var()/len(a)"}
    assert leaks("try va=a.var()/len(a)", answer) == ["va=a.var()/len(a)"]
    assert leaks("divide the sample variance by the size, then return it", answer) == []


def test_hint_prints_the_next_stage_each_call(capsys, monkeypatch):
    monkeypatch.setitem(hints.HINTS, "99-ex1", ("first", "second"))
    monkeypatch.setattr(hints, "_shown", {})
    hints.hint("99-ex1")
    hints.hint("99-ex1")
    hints.hint("99-ex1")
    hints.hint("99-ex1", 1)
    hints.hint("99-ex9")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Hint 1/2 for 99-ex1: first"
    assert out[1] == "Hint 2/2 for 99-ex1: second"
    assert out[2].startswith("No more hints for 99-ex1")
    assert out[3] == "Hint 1/2 for 99-ex1: first"
    assert out[4].startswith("No staged hints for '99-ex9'")

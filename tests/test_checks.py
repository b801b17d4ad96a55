"""The check cells' helpers: sentences instead of bare asserts, portable time limits, quizzes."""

from __future__ import annotations

import threading
import time

import pytest

from exam_pipeline.course import checks
from exam_pipeline.course.checks import CheckFailed


def test_expect_fails_with_the_sentence_and_passes_silently():
    checks.expect(True, "never shown")
    with pytest.raises(CheckFailed, match="^expected 3 rows, got 2$"):
        checks.expect(False, "expected 3 rows, got 2")
    assert issubclass(CheckFailed, AssertionError), "nbval and the grader see a failing check"


def test_expect_equal_names_what_was_expected_and_what_came_back():
    checks.expect_equal([1, 2], [1, 2], "the scores")
    with pytest.raises(CheckFailed, match=r"^the scores: expected \[1, 2\], got \[2, 1\]$"):
        checks.expect_equal([2, 1], [1, 2], "the scores")


def test_within_returns_the_result_and_passes_exceptions_on():
    assert checks.within(5, pow, 2, 10, what="pow") == 1024
    with pytest.raises(ZeroDivisionError):
        checks.within(5, lambda: 1 / 0, what="division")


def test_within_fails_with_a_sentence_at_the_limit():
    start = time.monotonic()
    with pytest.raises(CheckFailed) as info:
        checks.within(0.2, time.sleep, 30, what="scores_of", hint="is it building a list?")
    assert time.monotonic() - start < 5
    assert str(info.value) == "scores_of did not return within 0.2 s: is it building a list?"


def building_a_list(lines):
    """The classic wrong answer: reads everything before the first value."""
    return iter([float(x) for x in lines])


def yielding(lines):
    for line in lines:
        yield float(line)


def test_first_within_catches_a_list_built_from_an_endless_source_and_stops_it():
    before = threading.active_count()
    with pytest.raises(CheckFailed, match=r"^scores_of did not yield a first value within 0.3 s"):
        checks.first_within(lambda: building_a_list(checks.endless(["1"])), 0.3, "scores_of")
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() == before, "the endless source did not stop the thread"


def test_first_and_take_within_on_a_generator():
    assert checks.first_within(lambda: yielding(checks.endless(["1", "2"])), 5, "scores_of") == 1.0
    got = checks.take_within(lambda: yielding(checks.endless(["1", "2"])), 3, 5, "scores_of")
    assert got == [1.0, 2.0, 1.0]
    with pytest.raises(CheckFailed, match="expected at least 2 value"):
        checks.take_within(lambda: yielding(["1"]), 2, 5, "scores_of")


def test_endless_outside_a_time_limit_runs_on():
    assert list(zip(range(5), checks.endless("ab"), strict=False))[-1] == (4, "a")


WHY = {
    "a": "a generator does not keep every value in memory",
    "b": "right: one value at a time, on demand",
    "c": "yield does not start a thread",
    "d": "a generator can be consumed only once",
}
RIGHT = checks.option_hash("01-q1", "b")


@pytest.mark.parametrize("answer", ["b", "B", " (b) ", "b."])
def test_quiz_right_answer_prints_why(answer, capsys):
    checks.quiz("01-q1", answer, RIGHT, WHY)
    assert capsys.readouterr().out == f"right: (b) {WHY['b']}\n"


def test_quiz_wrong_answer_fails_with_its_misconception():
    with pytest.raises(CheckFailed, match=r"^01-q1: \(c\) is not right: yield does not start"):
        checks.quiz("01-q1", "c", RIGHT, WHY)


@pytest.mark.parametrize("answer", ["", "?", None, "  "])
def test_quiz_unanswered_asks_for_an_answer(answer):
    with pytest.raises(CheckFailed, match="answer the question first"):
        checks.quiz("01-q1", answer, RIGHT, WHY)


def test_quiz_other_text_is_not_an_option():
    with pytest.raises(CheckFailed, match="'e' is not one of the options a, b, c, d"):
        checks.quiz("01-q1", "e", RIGHT, WHY)


def test_quiz_hash_is_salted_per_question_and_hides_the_letter():
    assert RIGHT != checks.option_hash("01-q2", "b")
    assert RIGHT == checks.option_hash("01-q1", " (B) ")
    assert len(RIGHT) == 64


def test_quiz_with_a_hash_of_no_option_is_an_authoring_error():
    with pytest.raises(ValueError, match="right_hash matches none"):
        checks.quiz("01-q1", "b", checks.option_hash("01-q1", "e"), WHY)


def test_hash_command(capsys):
    assert checks.main(["hash", "01-q1", "b"]) == 0
    assert capsys.readouterr().out.strip() == RIGHT

"""What check cells use: asserts in words, time limits that work everywhere, quiz answers.

A check cell tells the student, in a sentence, what was expected and what came back::

    from exam_pipeline.course import checks

    got = checks.within(5, lambda: list(itertools.islice(scores_of(lines), 3)),
                        what="scores_of", hint="is it building a list instead of yielding?")
    checks.expect_equal(got, [65.0, 70.0, 72.0], "the first three scores")
    checks.expect(reasons.get("missing group") == 1,
                  f"one row has no class, so 'missing group' should be 1; got {reasons}")

Every failure is a ``CheckFailed`` (an ``AssertionError``), so the grader and nbval count it as
a failing check. Time limits run the student's code in a daemon thread (no ``signal.alarm``:
it works on Windows, macOS and in a Jupyter kernel's worker threads); a thread that overruns is
abandoned, and an ``endless()`` source it reads from stops at once so it does not run on.

Quiz answers are compared through a salted hash, so the right letter is not in plain sight in
the check cell: ``python -m exam_pipeline.course.checks hash 01-q1 b`` prints the hash.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: Mixed into every quiz hash: the hash of "b" alone would be easy to look up.
QUIZ_SALT = "exam-pipeline quiz v1"
#: What a quiz answer that is still the stub looks like after ``normalise_option``.
UNANSWERED = frozenset({"", "?", "...", "none"})

_local = threading.local()


class CheckFailed(AssertionError):
    """A check did not pass; the message says what was expected and what came back."""


def expect(condition: object, message: str) -> None:
    """Fail with ``message`` (what was expected, what came back) unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(message)


def expect_equal(got: object, want: object, what: str) -> None:
    """Fail with "<what>: expected <want>, got <got>" unless ``got == want``."""
    if not bool(got == want):
        raise CheckFailed(f"{what}: expected {want!r}, got {got!r}")


def _sentence(what: str, verb: str, seconds: float, hint: str) -> str:
    message = f"{what} did not {verb} within {seconds:g} s"
    return f"{message}: {hint}" if hint else message


def _run_in_thread(seconds: float, call: Callable[[], T], timeout_message: str) -> T:
    result: list[T] = []
    error: list[BaseException] = []
    cancel = threading.Event()

    def target() -> None:
        _local.cancel = cancel
        try:
            result.append(call())
        except BaseException as exc:  # handed to the caller's thread below
            error.append(exc)

    worker = threading.Thread(target=target, name="exam-pipeline-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        cancel.set()  # an endless() source the code reads from ends now
        raise CheckFailed(timeout_message)
    if error:
        raise error[0]
    return result[0]


def within(seconds: float, fn: Callable[..., T], *args: Any, what: str, hint: str = "") -> T:
    """``fn(*args)``, or a failure "<what> did not return within N s: <hint>" after ``seconds``.

    Exceptions of ``fn`` reach the caller unchanged. An overrunning call is abandoned in its
    daemon thread (Python cannot stop a thread); sources made with ``endless`` stop feeding it.
    """
    return _run_in_thread(seconds, lambda: fn(*args), _sentence(what, "return", seconds, hint))


def first_within(
    iterable_factory: Callable[[], Iterable[T]], seconds: float, what: str, hint: str = ""
) -> T:
    """The first value of ``iterable_factory()``, which must come within ``seconds``.

    For generators: ``first_within(lambda: scores_of(endless(lines)), 5, "scores_of",
    "is it building a list?")`` fails with "scores_of did not yield a first value within 5 s:
    is it building a list?" when the code reads all of its input before yielding.
    """
    return take_within(iterable_factory, 1, seconds, what, hint)[0]


def take_within(
    iterable_factory: Callable[[], Iterable[T]], n: int, seconds: float, what: str, hint: str = ""
) -> list[T]:
    """The first ``n`` values of ``iterable_factory()``, which must come within ``seconds``."""

    def take() -> list[T]:
        values = list(itertools.islice(iter(iterable_factory()), n))
        if len(values) < n:
            raise CheckFailed(f"{what}: expected at least {n} value(s), got {len(values)}")
        return values

    verb = "yield a first value" if n == 1 else f"yield {n} values"
    return _run_in_thread(seconds, take, _sentence(what, verb, seconds, hint))


def endless(values: Iterable[T]) -> Iterator[T]:
    """``values`` over and over, until a time limit of ``within``/``first_within`` runs out.

    Inside those helpers' thread the source stops as soon as the limit is reached, so code
    that wrongly reads all of its input finishes instead of filling the memory.
    """
    cancel: threading.Event | None = getattr(_local, "cancel", None)
    for value in itertools.cycle(values):
        if cancel is not None and cancel.is_set():
            return
        yield value


# --------------------------------------------------------------------------- quiz questions


def normalise_option(answer: object) -> str:
    """``"(B)"``, ``" b. "`` and ``"b"`` all become ``"b"``; ``None`` becomes ``""``."""
    if answer is None:
        return ""
    return str(answer).strip().strip("().").strip().lower()


def option_hash(question_id: str, option: object) -> str:
    """The salted sha256 a quiz check compares with (``hash`` on the command line)."""
    text = f"{QUIZ_SALT}:{question_id.strip()}:{normalise_option(option)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def quiz(question_id: str, answer: object, right_hash: str, why: Mapping[str, str]) -> None:
    """Check a multiple-choice answer; print "right: <why>" or fail with its misconception.

    ``why`` has one sentence per option, the right one included (so the right letter is not
    the one missing): for a wrong option, the misconception that choosing it reveals; for the
    right one, why it is right. ``right_hash`` is ``option_hash(question_id, right_letter)``.
    """
    options = {normalise_option(k): v for k, v in why.items()}
    right = [k for k in options if option_hash(question_id, k) == right_hash]
    if len(right) != 1:
        raise ValueError(
            f"quiz {question_id}: right_hash matches none of the options {sorted(options)}: "
            f"compute it with `python -m exam_pipeline.course.checks hash {question_id} <letter>`"
        )
    letter = normalise_option(answer)
    letters = ", ".join(sorted(options))
    if letter in UNANSWERED:
        raise CheckFailed(
            f"{question_id}: answer the question first (one letter of {letters}), "
            "then run this check again"
        )
    if letter not in options:
        raise CheckFailed(f"{question_id}: {answer!r} is not one of the options {letters}")
    if letter != right[0]:
        raise CheckFailed(f"{question_id}: ({letter}) is not right: {options[letter]}")
    print(f"right: ({letter}) {options[letter]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exam_pipeline.course.checks")
    sub = parser.add_subparsers(dest="command", required=True)
    hashing = sub.add_parser("hash", help="print the right_hash of a quiz answer")
    hashing.add_argument("question_id", help="e.g. 01-q1")
    hashing.add_argument("option", help="the right letter, e.g. b")
    args = parser.parse_args(argv)
    print(option_hash(args.question_id, args.option))
    return 0


if __name__ == "__main__":
    sys.exit(main())

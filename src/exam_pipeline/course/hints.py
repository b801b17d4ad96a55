"""Hints in stages for the exercises: ``hint("01-ex2")`` prints the next one each call.

The ``### HINT:`` line above an answer names the approach; the stages here go further (stage 1
the approach in more words, stage 2 something concrete: which function, which clause), and
only ``solutions/`` has the answer. ``tests/test_hints.py`` checks that no hint holds a line of
its exercise's answer. Each lesson fills in its own check ids.
"""

from __future__ import annotations

#: check_id -> hints, least revealing first. No hint may contain a line of the answer.
HINTS: dict[str, tuple[str, ...]] = {
    "01-ex1": (
        "Clean both columns the way clean() does (strip the text; an empty string counts as "
        "missing), then decide each row's reason by the first rule that applies to it.",
        "Build three boolean masks in order - no class; a class but no score; a class and a "
        "score that to_numeric(errors='coerce') turns into NaN - sum each, and keep only the "
        "reasons whose count is above zero.",
    ),
    "01-ex2": (
        "ELT: the database does the cleaning and the counting. Send one SQL query that keeps "
        "only usable rows and groups them; pandas only receives the small result.",
        "In SQL: TRIM the text columns, filter out empty classes, empty scores and scores that "
        "are not numbers in the WHERE clause, CAST the score to REAL for AVG, and GROUP BY and "
        "ORDER BY the trimmed class. Selecting every row and cleaning in pandas is ETL.",
    ),
    "01-ex3": (
        "Compute each group's variance of the mean (sample variance over its size) first; the "
        "formula then needs only those two numbers and the group sizes.",
        "Use the sample variance (ddof=1, pandas' default for .var()) and n - 1 in each term "
        "of the denominator; compare with scipy.stats.ttest_ind(..., equal_var=False).df.",
    ),
    # lesson 05 (Luigi)
    "05-ex1": (
        "A Luigi task is three answers: what must be done first (the package's cleaning step, "
        "with this task's parameters), what it produces (a file whose name follows those "
        "parameters) and how (read the rejected rows, count them by reason, write JSON).",
        "requires(): the cleaning task built from your own parameters (every ExamTask has a "
        "method that copies them to another class). output(): the base class's stage-file "
        "helper, named 'reasons' with a .json suffix. run(): read the 'rejected' input with "
        "pandas, value_counts() on its reason column, and json.dump the counts as plain ints "
        "inside a `with` on the target's own open('w'), never on open(path).",
    ),
    "05-ex2": (
        "The scheduler disables a task once it has failed retry_count times. The server "
        "refuses `refusals` times, so how many failures must the task be allowed to survive "
        "without being disabled?",
        "With retry_count = n the task gets n attempts in all. It needs refusals failed "
        "attempts plus one that succeeds: count them, and check that one less is not enough.",
    ),
    "05-ex3": (
        "Luigi starts from the task you ask for and asks complete() of it first. It only "
        "looks at a task's requirements when that task is incomplete.",
        "Is Publish complete after the summary stage is deleted? Its own outputs (the copies "
        "in the run folder) are all still there. If it is complete, what does Luigi ask next?",
    ),
}

_shown: dict[str, int] = {}


def hint(check_id: str, stage: int | None = None) -> None:
    """Print the next hint for ``check_id`` (or hint number ``stage``, from 1)."""
    stages = HINTS.get(check_id)
    if not stages:
        print(f"No staged hints for {check_id!r}; the hint line above the exercise is all.")
        return
    if stage is None:
        stage = min(_shown.get(check_id, 0) + 1, len(stages) + 1)
    if stage > len(stages):
        print(
            f"No more hints for {check_id}: {len(stages)} shown. The full answer is in solutions/."
        )
        return
    if stage < 1:
        raise ValueError(f"hint stages start at 1, got {stage}")
    _shown[check_id] = max(_shown.get(check_id, 0), stage)
    print(f"Hint {stage}/{len(stages)} for {check_id}: {stages[stage - 1]}")

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
    "02-ex1": (
        "A generator function: loop over the rows and hand each wanted score to the caller the "
        "moment you have it, instead of collecting them. Let clean_fields judge every row.",
        "clean_fields(group, text) gives back four things; the last is the reason, None for a "
        "kept row, and the first is the stripped class. Use the yield statement inside the loop, "
        "and no list anywhere.",
    ),
    "02-ex2": (
        "Clean the chunk with clean_scores, summarise each class of the chunk, and merge that "
        "summary into the running totals; never overwrite what earlier chunks left there.",
        "groupby on the class with the aggregations count, mean and var; m2 is the variance "
        "times (count - 1), and 0.0 for a class with one score in the chunk (its variance is "
        "NaN). .merge() returns a new RunningStats: store it back in the dict.",
    ),
    "03-ex1": (
        "Give all the names to a pool of worker threads at once; while one fetch sleeps, the "
        "others run. Collect the results in the order of the names, not as they finish.",
        "A ThreadPoolExecutor used in a with block (so it waits for its threads); its map "
        "method returns results in input order, and list() makes the list. Avoid submit "
        "with as_completed here: that gives finishing order.",
    ),
    "03-ex2": (
        "Make one coroutine per name without awaiting any of them, then await them all "
        "together, so their sleeps overlap on the one event loop.",
        "asyncio.gather(*coroutines) runs them at the same time and returns their results in "
        "the order you passed them; await it and turn the result into a list. An await inside "
        "a loop or a comprehension waits for each fetch in turn.",
    ),
    "04-ex1": (
        "Boolean indexing: build a mask that is True where the score reaches the step's own "
        "threshold (set in __init__), and select those rows of the frame, every column kept.",
        "Compare the Score column with self.threshold using 'at least', not 'more than'; index "
        "the frame with the mask. Do not change the frame you were given (no inplace).",
    ),
    "04-ex2": (
        "The hook is called after every step with the step's name and its result; remember one "
        "number per name in self.rows, replacing what a previous call stored.",
        "fw.count_rows(result) already says None for results that are not tables (a dict, a "
        "string); assign it to the step's key in self.rows, without adding or resetting.",
    ),
    "04-ex3": (
        "The framework retries a step for you when you say how many retries it has; the first "
        "try is not a retry.",
        "fw.FunctionStep takes the function, a name keyword and a retries keyword. A fetch that "
        "fails N times succeeds on try N + 1, which is N retries.",
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

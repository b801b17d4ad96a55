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
    # lesson 06 (Prefect basics)
    "06-ex1": (
        "Two decorated functions: a task that handles ONE class (count, divide, log, return) "
        "and a flow that calls that task once for each class and collects the answers in a "
        "dict. 'At or above' includes the threshold itself.",
        "The task: the number of values >= threshold divided by the number of values, logged "
        "through get_run_logger().info(...), with task_run_name='pass-rate-{label}' in @task. "
        "The flow: @flow with name and flow_run_name 'pass-rates', and a dict comprehension "
        "over scores.items() that calls the task (not its .fn) for each class.",
    ),
    "06-ex2": (
        "A flow call can hand back its final state instead of its result or an exception; a "
        "state has a name (Completed, Failed, TimedOut, ...).",
        "Pass return_state=True to exam_analysis(path, out=out) and return the .name of what "
        "comes back: no try/except needed, and not .type (COMPLETED/FAILED is coarser).",
    ),
    # lesson 07 (Prefect resilience)
    "07-ex1": (
        "Two things work together: the decorator lets Prefect run the task again after an "
        "exception (how many extra attempts do two failures need?), and the body asks which "
        "attempt is running, failing while that is too early.",
        "In @task, set retries (the attempts after the first) and a zero delay; in the body, "
        "read run_count from prefect.runtime's task_run, raise any exception while it is "
        "below 3, and return it otherwise. Do not keep a counter of your own: it would go on "
        "counting in the next flow run.",
    ),
    "07-ex2": (
        "A cached result may be reused exactly when the same code would compute it from the "
        "same arguments. Which of the policies in section 4 capture those two, and which one "
        "would tie the entry to a single flow run?",
        "Add the policy that hashes the arguments to the one that hashes the task's source "
        "code, with +. Leave out RUN_ID (one flow run only) and FLOW_PARAMETERS (the flow's "
        "arguments, not the task's).",
    ),
    "07-ex3": (
        "A file's identity and its version can be told without reading it: where it is, how "
        "big it is and when it was last written. Combine those into one string.",
        "Path(...).stat() gives st_size and st_mtime_ns (nanoseconds: a float of seconds or "
        "whole seconds can miss a quick rewrite); add the resolved path so two files never "
        "share a key, and join the three with a separator in an f-string.",
    ),
    # lesson 08 (Dask)
    "08-ex1": (
        "Everything before the last step stays a Dask collection: convert, drop, group and "
        "average lazily, so the workers reduce each partition; only the per-class result (a "
        "few numbers) is computed into pandas.",
        "dd.to_numeric(... .str.strip(), errors='coerce') inside frame.assign(Score=...), then "
        ".dropna(), .groupby('Class')['Score'].mean(), and a single .compute() followed by "
        ".sort_index(). Never call .compute() on the frame itself.",
    ),
    "08-ex2": (
        "Map-reduce: one lazy summary per partition (the partition count follows blocksize), "
        "all of them run by one dask.compute call, then the small Scans merged in the notebook.",
        "dd.read_csv with usecols, dtype=str and blocksize; frame.to_delayed() gives the "
        "partitions; wrap dask_engine.summarize_partition with dask.delayed and call it on each "
        "(with 'Class', 'Score', '.'); unpack the list into dask.compute(*...), and pass the "
        "tuple it returns to merge_scans.",
    ),
    "08-ex3": (
        "A cluster and its client are resources, like files: a with statement closes them when "
        "the block ends, by return or by an exception. Ask the client how many threads each "
        "worker has.",
        "LocalCluster takes processes (False: threads in this process), n_workers (one), "
        "threads_per_worker (the argument) and a dashboard address on 127.0.0.1 port 0; it and "
        "Client(cluster) can share one with statement (parenthesised, comma-separated). "
        "client.nthreads() maps each worker to its threads: add up its values and return from "
        "inside the block.",
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

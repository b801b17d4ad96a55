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
    "09-ex1": (
        "tenacity's retry() takes a stop condition (attempts in all, the first one included), a "
        "wait policy, a test of which exceptions deserve another try, and whether to raise the "
        "last error itself when it gives up.",
        "Stop after 4 attempts; wait exponentially with multiplier 0.01 and max 0.1; retry only "
        "when the exception is a TransientSourceError (a 404 is a SourceError and must go "
        "through at once); reraise=True so the caller sees that error, not RetryError.",
    ),
    "09-ex2": (
        "Read the quarantine file as a table: its number of rows is the number rejected, and its "
        "reason column says why. Compare rejected / rows_read with the threshold: at most the "
        "threshold means no alert.",
        "value_counts() on the reason column gives the counts; sort the reasons by name when "
        "you join them, and format the share with the percent format of f-strings (no "
        "decimals). The header line is not a rejected row.",
    ),
    "10-ex1": (
        "A unit test is input you make by hand, the output you work out by hand, and an assert "
        "that they are equal. Choose the input so that wrong answers differ from the right one.",
        "Use two classes with several scores each (three in one of them), and scores whose "
        "means are not whole numbers and differ from their medians; compare the whole returned "
        "dict, keys and values, with ==.",
    ),
    "10-ex2": (
        "Write the new text somewhere a reader does not look, in the same folder as the target, "
        "and put it in place with one rename when it is complete; if anything fails, remove "
        "what you wrote and let the error go on.",
        "Open a temporary path next to the target (for example a hidden name with .tmp), write "
        "every part into it, then os.replace(temporary, target); a try/finally that unlinks the "
        "temporary path (missing_ok=True) cleans up without swallowing the exception.",
    ),
    "11-ex1": (
        "after_step is called once per step with the step's result: record, under the step's "
        "name, how many rows that result has, in the dict the hook already owns.",
        "The framework's count_rows(result) gives the row count, or None for a result without "
        "rows (a dict of means); store that in the existing dict, one key per step, without "
        "replacing the dict.",
    ),
    "11-ex2": (
        "after_step gets each step's wall time: when it is strictly above the hook's limit, "
        "remember the step and tell the operators through logging, not print.",
        "Compare seconds with self.limit (a step at exactly the limit is not slow), append the "
        "name to self.slow, and call .warning on logging.getLogger('exam_pipeline.alerts') with "
        "the step name, the seconds and the limit, each formatted with two decimals.",
    ),
    "12-ex1": (
        "An asset's parameter names are the assets it needs: take the cleaned rows from the asset "
        "it depends on, never from the file, and give one share per class.",
        "The CleanResult holds the rows kept after cleaning in its frame; group them by the class "
        "column and, in each group, take the mean of the test 'score is at least 70' (a score of "
        "exactly 70 passes), turned into a plain float.",
    ),
    "12-ex2": (
        "A Hamilton function computes only from its parameters: the cleaned node already holds the "
        "rows that survived cleaning; count them per class.",
        "Count the values of the class column in the CleanResult's frame, then build a dict of "
        "the class name (a str) to its count (an int), so it compares equal to plain numbers.",
    ),
    "13-ex1": (
        "The package already has the last three steps of its exam pipeline; build them with "
        "this subject's settings and let the framework run them on the rows you were given.",
        "fw.Clean, fw.Analyze and fw.Report each take the config; put them in that order in a "
        "fw.Pipeline (its name may be the subject folder's name) and return what its run on "
        "the fw.Loaded gives: the Report step's report.",
    ),
    "13-ex2": (
        "Everything is already in the report: the two groups' means and the t-test's t, p and "
        "verdict. Name the mean columns after the classes, whatever they are called.",
        "Use f-strings with the two class names for the mean keys, second mean minus first for "
        "the difference, the report's own 'significant' (do not recompute it), and the class "
        "with the larger mean for 'higher' only when significant, else '-'.",
    ),
    "13-ex3": (
        "Each piece calls what you already have and does one job: the loader reads and splits, "
        "the reporter only works on the rows it receives, the comparer only on the reports. "
        "For WHY, think about what an orchestrator can do with separate subjects.",
        "load_subject: the given LoadSubjects and SplitSubjects, then pick the subject. "
        "report_subject: run_subject with subject_config(subject, out, 'prefect'). "
        "compare_reports: comparison_table. WHY: independence, parallel runs, and a retry or "
        "failure that concerns one subject only.",
    ),
    "13-ex4": (
        "Decorate a small function as a task with retries and a run-name template that uses "
        "its subject parameter; the flow starts one run of it per subject and then compares.",
        "@task(retries=..., retry_delay_seconds=0, task_run_name='report-{subject}') on a "
        "function that calls load_subject and report_subject; @flow on capstone_flow, which "
        "calls .submit once per subject, collects each future's .result() into a dict, and "
        "returns compare_reports of it.",
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

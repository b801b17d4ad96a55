"""Plausible wrong answers to lesson 07's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "07-ex1": [
        (
            "hard-coded: returns 3 at once, without failing",
            """
            @task(retries=2, retry_delay_seconds=0, task_run_name="third-time-lucky")
            def third_time_lucky() -> int:
                return 3
            """,
        ),
        (
            "no retries ever happen: the task fails once and stays failed",
            """
            @task(task_run_name="third-time-lucky")
            def third_time_lucky() -> int:
                attempt = task_run.run_count
                if attempt < 3:
                    raise TimeoutError(f"attempt {attempt}: not yet")
                return attempt
            """,
        ),
        (
            "off by one: fails while the attempt is at most 3, so succeeds on the fourth",
            """
            @task(retries=3, retry_delay_seconds=0, task_run_name="third-time-lucky")
            def third_time_lucky() -> int:
                attempt = task_run.run_count
                if attempt <= 3:
                    raise TimeoutError(f"attempt {attempt}: not yet")
                return attempt
            """,
        ),
        (
            "too few retries: one retry gives two attempts in all",
            """
            @task(retries=1, retry_delay_seconds=0, task_run_name="third-time-lucky")
            def third_time_lucky() -> int:
                attempt = task_run.run_count
                if attempt < 3:
                    raise TimeoutError(f"attempt {attempt}: not yet")
                return attempt
            """,
        ),
        (
            "a counter of its own instead of run_count: right in the first flow run only",
            """
            tries = [0]


            @task(retries=2, retry_delay_seconds=0, task_run_name="third-time-lucky")
            def third_time_lucky() -> int:
                tries[0] += 1
                if tries[0] < 3:
                    raise TimeoutError(f"attempt {tries[0]}: not yet")
                return tries[0]
            """,
        ),
    ],
    "07-ex2": [
        (
            "the wrong cache scope: RUN_ID limits reuse to one flow run",
            """
            from prefect.cache_policies import RUN_ID

            return INPUTS + TASK_SOURCE + RUN_ID
            """,
        ),
        ("only the code: other scores hit the same cache entry", "return TASK_SOURCE"),
        ("only the inputs: another task with the same scores hits the entry", "return INPUTS"),
        (
            "no caching at all",
            """
            from prefect.cache_policies import NO_CACHE

            return NO_CACHE
            """,
        ),
        (
            "the flow's parameters instead of the task's inputs",
            """
            from prefect.cache_policies import FLOW_PARAMETERS

            return FLOW_PARAMETERS + TASK_SOURCE
            """,
        ),
    ],
    "07-ex3": [
        (
            "reads the data: a hash of the file's contents",
            """
            import hashlib

            return hashlib.sha256(Path(parameters["path"]).read_bytes()).hexdigest()
            """,
        ),
        ("hard-coded: one key for every file", 'return "scores"'),
        (
            "the path only: the key never changes with the file",
            'return str(Path(parameters["path"]).resolve())',
        ),
        (
            "boundary slip: the time in whole seconds misses a change within the same second",
            """
            path = Path(parameters["path"])
            stat = path.stat()
            return f"{path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}"
            """,
        ),
        (
            "no path: two files of the same size and time share a key",
            """
            stat = Path(parameters["path"]).stat()
            return f"{stat.st_size}|{stat.st_mtime_ns}"
            """,
        ),
        (
            "size forgotten: a file that grows without a new time stamp keeps its key",
            """
            path = Path(parameters["path"])
            return f"{path.resolve()}|{path.stat().st_mtime_ns}"
            """,
        ),
        (
            "right parts, wrong type: a tuple, not a string",
            """
            path = Path(parameters["path"])
            stat = path.stat()
            return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            """,
        ),
    ],
}

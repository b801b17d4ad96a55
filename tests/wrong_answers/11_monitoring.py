"""Plausible wrong answers to lesson 11's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "11-ex1": [
        (
            "hard-coded: the counts of the lesson's messy file",
            """
            self.rows = {"load": 13, "clean": 9, "mean_per_class": None}
            """,
        ),
        (
            "len() instead of count_rows: a dict of means counts as 2 rows",
            """
            self.rows[step_name] = len(result)
            """,
        ),
        (
            "the dict replaced at every step: only the last step is kept",
            """
            self.rows = {step_name: count_rows(result)}
            """,
        ),
        (
            "steps without rows left out instead of recorded as None",
            """
            if count_rows(result) is not None:
                self.rows[step_name] = count_rows(result)
            """,
        ),
        (
            "right keys, wrong content: the result itself stored, not its row count",
            """
            self.rows[step_name] = result
            """,
        ),
    ],
    "11-ex2": [
        (
            "no logging: the slow step is recorded but nobody is told",
            """
            if seconds > self.limit:
                self.slow.append(step_name)
            """,
        ),
        (
            "boundary slip: a step that takes exactly the limit counts as slow (>=)",
            """
            if seconds >= self.limit:
                self.slow.append(step_name)
                logging.getLogger("exam_pipeline.alerts").warning(
                    "step %s took %.2f s, over the %.2f s limit", step_name, seconds, self.limit
                )
            """,
        ),
        (
            "hard-coded limit: 0.2 s whatever the hook was given",
            """
            if seconds > 0.2:
                self.slow.append(step_name)
                logging.getLogger("exam_pipeline.alerts").warning(
                    "step %s took %.2f s, over the %.2f s limit", step_name, seconds, 0.2
                )
            """,
        ),
        (
            "print instead of a log record: no WARNING reaches the alerts logger",
            """
            if seconds > self.limit:
                self.slow.append(step_name)
                print(f"step {step_name} took {seconds:.2f} s, over the {self.limit:.2f} s limit")
            """,
        ),
        (
            "the wrong logger and level: an INFO on the module's own logger",
            """
            if seconds > self.limit:
                self.slow.append(step_name)
                logging.getLogger(__name__).info(
                    "step %s took %.2f s, over the %.2f s limit", step_name, seconds, self.limit
                )
            """,
        ),
        (
            "right shape, wrong content: every step is logged, slow or not",
            """
            self.slow.append(step_name)
            logging.getLogger("exam_pipeline.alerts").warning(
                "step %s took %.2f s, over the %.2f s limit", step_name, seconds, self.limit
            )
            """,
        ),
    ],
}

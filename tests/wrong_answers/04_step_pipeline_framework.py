"""Plausible wrong answers to lesson 04's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "04-ex1": [
        (
            "boundary: > instead of >=, so a score equal to the threshold is dropped",
            'return data[data["Score"] > self.threshold]',
        ),
        (
            "hard-coded: 70, whatever threshold the step was given",
            'return data[data["Score"] >= 70]',
        ),
        (
            "only the Score column comes back: the other columns are lost",
            'return data[["Score"]][data["Score"] >= self.threshold]',
        ),
        (
            "right shape, wrong content: the failing rows are kept",
            'return data[data["Score"] < self.threshold]',
        ),
        (
            "a list of scores instead of the rows",
            'return data.loc[data["Score"] >= self.threshold, "Score"].tolist()',
        ),
        (
            "changes its input: the failing rows are dropped in place",
            """
            data.drop(data[data["Score"] < self.threshold].index, inplace=True)
            return data
            """,
        ),
    ],
    "04-ex2": [
        (
            "len() instead of count_rows: a report dict or a string gets a number of 'rows'",
            "self.rows[step_name] = len(result)",
        ),
        (
            "the dict is replaced at each step: only the last step is remembered",
            "self.rows = {step_name: fw.count_rows(result)}",
        ),
        (
            "hard-coded: the counts of the exam pipeline on the old check's messy file",
            'self.rows = {"Load": 6, "Clean": 4, "Analyze": None, "Report": None}',
        ),
        (
            "right shape, wrong content: 0 instead of None for a result without rows",
            "self.rows[step_name] = fw.count_rows(result) or 0",
        ),
        (
            "adds up: a second call for the same step is added to the first",
            "self.rows[step_name] = self.rows.get(step_name, 0) + (fw.count_rows(result) or 0)",
        ),
        (
            "columns, not rows: shape[1] of a table",
            'self.rows[step_name] = result.shape[1] if hasattr(result, "shape") else None',
        ),
    ],
    "04-ex3": [
        (
            "hard-coded: the 2 retries of the old exercise, whatever the number of failures",
            'return fw.FunctionStep(fetch, name="Fetch", retries=2)',
        ),
        (
            "off by one: one retry too many",
            'return fw.FunctionStep(fetch, name="Fetch", retries=failures + 1)',
        ),
        (
            "off by one: counting the first attempt as a retry",
            'return fw.FunctionStep(fetch, name="Fetch", retries=max(failures - 1, 0))',
        ),
        (
            "no framework retries: a retry loop hand-written inside the function",
            """
            def patient(data):
                for _ in range(failures):
                    try:
                        return fetch(data)
                    except ConnectionError:
                        pass
                return fetch(data)

            return fw.FunctionStep(patient, name="Fetch")
            """,
        ),
        (
            "the default name: the step is called 'fetch', not 'Fetch'",
            "return fw.FunctionStep(fetch, retries=failures)",
        ),
        (
            "right shape, wrong content: the step never calls fetch",
            'return fw.FunctionStep(lambda data: data, name="Fetch", retries=failures)',
        ),
    ],
}

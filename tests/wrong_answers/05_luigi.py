"""Plausible wrong answers to lesson 05's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "05-ex1": [
        (
            "hard-coded: the counts of the exercise's messy file",
            """
            def requires(self):
                return self.clone(lt.CleanScores)

            def output(self):
                return self.stage_target("reasons", ".json")

            def run(self):
                with self.output().open("w") as handle:
                    json.dump({"missing score": 1, "non-numeric score": 2}, handle)
            """,
        ),
        (
            "a non-atomic write: the JSON goes straight to the target's path",
            """
            def requires(self):
                return self.clone(lt.CleanScores)

            def output(self):
                return self.stage_target("reasons", ".json")

            def run(self):
                rejected = pd.read_csv(self.input()["rejected"].path, dtype=str, keep_default_na=False)
                counts = rejected["reason"].value_counts().sort_index()
                path = Path(self.output().path)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({r: int(n) for r, n in counts.items()}), encoding="utf-8")
            """,
        ),
        (
            "one task doing another task's work: it requires the load step and cleans by itself",
            """
            def requires(self):
                return self.clone(lt.LoadScores)

            def output(self):
                return self.stage_target("reasons", ".json")

            def run(self):
                raw = pd.read_csv(self.input().path, dtype=str, keep_default_na=False)
                reasons = clean_scores(raw).drop_reasons
                with self.output().open("w") as handle:
                    json.dump(dict(sorted(reasons.items())), handle)
            """,
        ),
        (
            "a fixed file name: reasons.json does not change with the input, so it goes stale",
            """
            def requires(self):
                return self.clone(lt.CleanScores)

            def output(self):
                return luigi.LocalTarget(f"{self.out_dir}/stages/reasons-latest.json")

            def run(self):
                rejected = pd.read_csv(self.input()["rejected"].path, dtype=str, keep_default_na=False)
                counts = rejected["reason"].value_counts().sort_index()
                with self.output().open("w") as handle:
                    json.dump({reason: int(n) for reason, n in counts.items()}, handle)
            """,
        ),
        (
            "right shape, wrong content: the rejected rows counted per class, not per reason",
            """
            def requires(self):
                return self.clone(lt.CleanScores)

            def output(self):
                return self.stage_target("reasons", ".json")

            def run(self):
                rejected = pd.read_csv(self.input()["rejected"].path, dtype=str, keep_default_na=False)
                counts = rejected["group"].value_counts().sort_index()
                with self.output().open("w") as handle:
                    json.dump({group: int(n) for group, n in counts.items()}, handle)
            """,
        ),
        (
            "boundary slip: every known reason is written, those with no rows as 0",
            """
            def requires(self):
                return self.clone(lt.CleanScores)

            def output(self):
                return self.stage_target("reasons", ".json")

            def run(self):
                rejected = pd.read_csv(self.input()["rejected"].path, dtype=str, keep_default_na=False)
                counts = rejected["reason"].value_counts()
                every = ["missing group", "missing score", "non-numeric score"]
                with self.output().open("w") as handle:
                    json.dump({reason: int(counts.get(reason, 0)) for reason in every}, handle)
            """,
        ),
    ],
    "05-ex2": [
        ("hard-coded: the answer for 4 refusals", "return 5"),
        ("off by one: as many retries as refusals", "return refusals"),
        ("no retries ever happen: one attempt only", "return 1"),
        ("not the smallest: one to spare", "return refusals + 2"),
        ("right for one refusal only: twice the refusals", "return 2 * refusals"),
    ],
    "05-ex3": [
        (
            "like make: the missing file and everything after it",
            'return {"SummarizeScores", "PlotScores", "BuildReport", "Publish"}',
        ),
        ("only the missing file is rebuilt", 'return {"SummarizeScores"}'),
        ("everything runs again", "return {task.get_task_family() for task in lt.walk(root)}"),
        ("{} is an empty dict, not an empty set", "return {}"),
        ("only the task asked for runs", 'return {"Publish"}'),
    ],
}

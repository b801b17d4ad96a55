"""Plausible wrong answers to lesson 13's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

_PIECES = """
def load_subject(subject):
    return SplitSubjects().run(LoadSubjects().run(DATA))[subject]


def report_subject(subject, loaded, out):
    return run_subject(subject_config(subject, out, "prefect"), loaded)


def compare_reports(reports):
    return comparison_table(reports)
"""
_WHY = """
WHY = "Subjects are independent: they run in parallel, and a retry redoes one subject only."
"""


def _pieces(**replace: str) -> str:
    """The right three pieces and WHY, with some of them replaced by a wrong version."""
    parts = {
        name: "def " + text.strip() + "\n"
        for name, text in zip(
            ("load_subject", "report_subject", "compare_reports"),
            _PIECES.split("def ")[1:],
            strict=True,
        )
    }
    parts["WHY"] = _WHY.strip() + "\n"
    parts.update(replace)
    return "\n\n".join(parts.values())


_TASK = """
@task(retries=2, retry_delay_seconds=0, task_run_name="report-{subject}")
def subject_task(subject, out):
    return report_subject(subject, load_subject(subject), out)
"""
_FLOW = """
@flow(name="capstone")
def capstone_flow(out):
    futures = {subject: subject_task.submit(subject, out) for subject in SUBJECTS}
    return compare_reports({subject: future.result() for subject, future in futures.items()})
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "13-ex1": [
        (
            "skipping the cleaning: Analyze and Report on the raw text",
            """
            steps = [fw.Analyze(config), fw.Report(config)]
            return fw.Pipeline(steps, name=config.out.name).run(loaded)
            """,
        ),
        (
            "the whole file: the package's exam pipeline on the CSV, not the subject's rows",
            """
            return fw.exam_pipeline(config).run(config.source)
            """,
        ),
        (
            "no Report step: the figures are computed but nothing is written",
            """
            steps = [fw.Clean(config), fw.Analyze(config)]
            return fw.Pipeline(steps, name=config.out.name).run(loaded)
            """,
        ),
        (
            "one config for every subject: all reports overwrite each other in one folder",
            """
            shared = RunConfig(input=DATA, out=config.out.parent, engine=config.engine, db="none").checked()
            steps = [fw.Clean(shared), fw.Analyze(shared), fw.Report(shared)]
            return fw.Pipeline(steps, name=config.out.name).run(loaded)
            """,
        ),
    ],
    "13-ex2": [
        (
            "hard-coded column names: mean_A and mean_B whatever the classes are called",
            """
            higher = b if group_b["mean"] > group_a["mean"] else a
            return {
                "mean_A": group_a["mean"],
                "mean_B": group_b["mean"],
                "difference": group_b["mean"] - group_a["mean"],
                "t": report["t"],
                "p": report["p"],
                "significant": report["significant"],
                "higher": higher if report["significant"] else "-",
            }
            """,
        ),
        (
            "difference the wrong way round: first minus second",
            """
            higher = b if group_b["mean"] > group_a["mean"] else a
            return {
                f"mean_{a}": group_a["mean"],
                f"mean_{b}": group_b["mean"],
                "difference": group_a["mean"] - group_b["mean"],
                "t": report["t"],
                "p": report["p"],
                "significant": report["significant"],
                "higher": higher if report["significant"] else "-",
            }
            """,
        ),
        (
            "the higher class named even when the difference is not significant",
            """
            return {
                f"mean_{a}": group_a["mean"],
                f"mean_{b}": group_b["mean"],
                "difference": group_b["mean"] - group_a["mean"],
                "t": report["t"],
                "p": report["p"],
                "significant": report["significant"],
                "higher": b if group_b["mean"] > group_a["mean"] else a,
            }
            """,
        ),
        (
            "significance recomputed as p < 0.05 instead of the report's verdict",
            """
            significant = report["p"] < 0.05
            higher = b if group_b["mean"] > group_a["mean"] else a
            return {
                f"mean_{a}": group_a["mean"],
                f"mean_{b}": group_b["mean"],
                "difference": group_b["mean"] - group_a["mean"],
                "t": report["t"],
                "p": report["p"],
                "significant": significant,
                "higher": higher if significant else "-",
            }
            """,
        ),
    ],
    "13-ex3": [
        (
            "one piece doing another's work: report_subject reads the file again",
            _pieces(
                report_subject="""def report_subject(subject, loaded, out):
    mine = SplitSubjects().run(LoadSubjects().run(DATA))[subject]
    return run_subject(subject_config(subject, out, "prefect"), mine)
"""
            ),
        ),
        (
            "no split: load_subject returns the whole file",
            _pieces(
                load_subject="""def load_subject(subject):
    return LoadSubjects().run(DATA)
"""
            ),
        ),
        (
            "row labels reset: the rejected rows no longer point at their lines",
            _pieces(
                load_subject="""def load_subject(subject):
    part = SplitSubjects().run(LoadSubjects().run(DATA))[subject]
    return fw.Loaded(part.raw.reset_index(drop=True), part.fmt)
"""
            ),
        ),
        (
            "compare_reports runs the analyses again instead of using the reports",
            _pieces(
                compare_reports="""def compare_reports(reports):
    again = {
        s: run_subject(subject_config(s, OUT / "again", "prefect"), loaded_parts[s])
        for s in reports
    }
    return comparison_table(again)
"""
            ),
        ),
        (
            "every subject written into out itself, not out/<subject>",
            _pieces(
                report_subject="""def report_subject(subject, loaded, out):
    config = RunConfig(input=DATA, out=Path(out), engine="prefect", db="none").checked()
    return run_subject(config, loaded)
"""
            ),
        ),
        (
            "WHY without a reason",
            _pieces(WHY='WHY = "Because it looks tidier this way."\n'),
        ),
    ],
    "13-ex4": [
        (
            "no retries ever happen: the task has no retries",
            _TASK.replace("retries=2, retry_delay_seconds=0, ", "") + _FLOW,
        ),
        (
            "no run names: every task run keeps Prefect's generated name",
            _TASK.replace(', task_run_name="report-{subject}"', "") + _FLOW,
        ),
        (
            "one task doing every subject's work",
            """
@task(retries=2, retry_delay_seconds=0, task_run_name="report-all")
def subject_task(subjects, out):
    return {s: report_subject(s, load_subject(s), out) for s in subjects}


@flow(name="capstone")
def capstone_flow(out):
    return compare_reports(subject_task(SUBJECTS, out))
""",
        ),
        (
            "the flow skips the tasks: it calls report_subject itself",
            _TASK
            + """
@flow(name="capstone")
def capstone_flow(out):
    return compare_reports({s: report_subject(s, load_subject(s), out) for s in SUBJECTS})
""",
        ),
        (
            "not a flow: a plain function that calls the tasks",
            _TASK
            + """
def capstone_flow(out):
    return compare_reports({s: subject_task(s, out) for s in SUBJECTS})
""",
        ),
        (
            "the task repeats the work inline, so a flaky source is never met or retried",
            """
@task(retries=2, retry_delay_seconds=0, task_run_name="report-{subject}")
def subject_task(subject, out):
    return run_subject(subject_config(subject, out, "prefect"), load_subject(subject))
"""
            + _FLOW,
        ),
    ],
}

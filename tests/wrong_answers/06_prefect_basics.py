"""Plausible wrong answers to lesson 06's exercises; each must fail its check (test_wrong_answers).

Each value replaces the BEGIN/END SOLUTION region of the exercise's solution cell (written
without indentation: it takes the region's). See docs/instructors.md, "When a student finds a
hole".
"""

_TASK = """
@task(task_run_name="pass-rate-{label}")
def pass_rate(label: str, values: list[int], threshold: int = 70) -> float:
    rate = sum(v >= threshold for v in values) / len(values)
    get_run_logger().info("class %s: %.0f%% passed", label, 100 * rate)
    return rate
"""

_FLOW = """
@flow(name="pass-rates", flow_run_name="pass-rates")
def pass_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    return {label: pass_rate(label, values) for label, values in scores.items()}
"""

WRONG: dict[str, list[tuple[str, str]]] = {
    "06-ex1": [
        (
            "hard-coded: the lesson data's rates",
            _TASK
            + """
@flow(name="pass-rates", flow_run_name="pass-rates")
def pass_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    return {"A": 0.4, "B": 1.0}
""",
        ),
        (
            "one task doing every other task's work: a single run for all classes",
            """
@task(task_run_name="pass-rate-{label}")
def pass_rate(label: str, values: list[int], threshold: int = 70) -> float:
    rate = sum(v >= threshold for v in values) / len(values)
    get_run_logger().info("class %s: %.0f%% passed", label, 100 * rate)
    return rate


@task(task_run_name="all-pass-rates")
def all_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    get_run_logger().info("computing %d classes", len(scores))
    return {label: sum(v >= 70 for v in values) / len(values) for label, values in scores.items()}


@flow(name="pass-rates", flow_run_name="pass-rates")
def pass_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    return all_rates(scores)
""",
        ),
        (
            "off by one: above the threshold (>), not at or above",
            """
@task(task_run_name="pass-rate-{label}")
def pass_rate(label: str, values: list[int], threshold: int = 70) -> float:
    rate = sum(v > threshold for v in values) / len(values)
    get_run_logger().info("class %s: %.0f%% passed", label, 100 * rate)
    return rate
"""
            + _FLOW,
        ),
        (
            "no logging: the rate is returned but never logged",
            """
@task(task_run_name="pass-rate-{label}")
def pass_rate(label: str, values: list[int], threshold: int = 70) -> float:
    return sum(v >= threshold for v in values) / len(values)
"""
            + _FLOW,
        ),
        (
            "no run names: Prefect's random names instead of pass-rate-<label>",
            """
@task
def pass_rate(label: str, values: list[int], threshold: int = 70) -> float:
    rate = sum(v >= threshold for v in values) / len(values)
    get_run_logger().info("class %s: %.0f%% passed", label, 100 * rate)
    return rate


@flow(name="pass-rates")
def pass_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    return {label: pass_rate(label, values) for label, values in scores.items()}
""",
        ),
        (
            "no task runs at all: the flow calls the bare function (.fn)",
            _TASK
            + """
@flow(name="pass-rates", flow_run_name="pass-rates")
def pass_rates(scores: dict[str, list[int]]) -> dict[str, float]:
    with disable_run_logger():
        return {label: pass_rate.fn(label, values) for label, values in scores.items()}
""",
        ),
    ],
    "06-ex2": [
        ("hard-coded: always Completed", 'return "Completed"'),
        (
            "states skipped: try/except around a plain call",
            """
            try:
                exam_analysis(path, out=out)
                return "Completed"
            except Exception:
                return "Failed"
            """,
        ),
        (
            "the state's type, not its name",
            """
            state = exam_analysis(path, out=out, return_state=True)
            return state.type.value.title()
            """,
        ),
        (
            "no return_state: the exception of a failed run escapes",
            """
            exam_analysis(path, out=out)
            return "Completed"
            """,
        ),
        (
            "right type, wrong content: the state's repr, not its name",
            """
            state = exam_analysis(path, out=out, return_state=True)
            return str(state)
            """,
        ),
    ],
}

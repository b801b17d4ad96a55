"""The checks of lesson 11's exercises (monitoring), called from its check cells.

Kept here so that a check cell stays short; each function fails with a sentence
(``checks.CheckFailed``) saying what was expected and what came back, and uses fresh hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exam_pipeline.course import checks
from exam_pipeline.engines.framework import FunctionStep, Pipeline


class Caught(logging.Handler):
    """Keeps the records a logger sends, for the check to read."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _nap(data: Any) -> Any:
    time.sleep(0.15)
    return data


def slow_step_alerts(hook_class: Callable[[float], Any], steps: list[Any], path: Path) -> None:
    """11-ex2: steps over the limit (not at it) are recorded and logged as WARNINGs.

    ``steps`` are a pipeline's load and clean steps; a step that sleeps 0.15 s goes between
    them. The records are caught, not printed: their durations vary.
    """
    caught = Caught()
    alerts = logging.getLogger("exam_pipeline.alerts")
    alerts.addHandler(caught)
    alerts.propagate = False
    try:
        hook = hook_class(0.2)
        for name, seconds in (("fast", 0.05), ("exact", 0.2), ("slow", 0.314)):
            hook.after_step(name, None, seconds)
        checks.expect_equal(hook.slow, ["slow"], "slow steps after 0.05 s, 0.2 s and 0.314 s")
        checks.expect_equal(
            [(r.levelname, r.getMessage()) for r in caught.records],
            [("WARNING", "step slow took 0.31 s, over the 0.20 s limit")],
            "the records logged on exam_pipeline.alerts (limit 0.2 s)",
        )
        caught.records.clear()
        hook = hook_class(0.1)
        napping = FunctionStep(_nap, name="nap")
        Pipeline([steps[0], napping, *steps[1:]], hooks=[hook]).run(path)
        checks.expect_equal(
            hook.slow, ["nap"], "slow steps of a pipeline whose 'nap' sleeps 0.15 s"
        )
        messages = [r.getMessage() for r in caught.records]
        checks.expect(
            len(messages) == 1 and messages[0].startswith("step nap took"),
            f"one warning about 'nap' was expected (limit 0.1 s), got {messages}",
        )
    finally:
        alerts.removeHandler(caught)
        alerts.propagate = True

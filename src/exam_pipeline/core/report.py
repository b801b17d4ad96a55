"""The report: one dict (report.json) that every engine writes the same, and its Markdown."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exam_pipeline.core.analysis import HEDGES_G, GroupSummary, TTestResult
from exam_pipeline.core.validate import PipelineInputError

TEST_NAMES = {
    "welch": "Welch's t-test (unequal variances)",
    "student": "Student's t-test (equal variances)",
}


def build_report(
    engine: str,
    summaries: Mapping[str, GroupSummary],
    result: TTestResult,
    alpha: float,
    rows_read: int,
    rows_dropped: int,
) -> dict[str, Any]:
    """Assemble the report.json structure (its keys are a contract other engines rely on).

    ``difference`` is the first group's mean minus the second's (the sign of ``t``);
    ``ci_low``/``ci_high`` its ``confidence`` interval; ``hedges_g`` the standardised difference.
    """
    low, high = result.interval(alpha)
    report = {
        "engine": engine,
        "test": result.test,
        "alpha": alpha,
        "t": result.t,
        "df": result.df,
        "p": result.p,
        "significant": bool(result.p < alpha),
        "difference": result.difference,
        "confidence": 1 - alpha,
        "ci_low": low,
        "ci_high": high,
        "hedges_g": result.hedges_g,
        "rows_read": int(rows_read),
        "rows_dropped": int(rows_dropped),
        "groups": {label: s.to_report() for label, s in summaries.items()},
    }
    require_finite(report)
    return report


def require_finite(report: Mapping[str, Any], where: str = "report") -> None:
    """Refuse a report with a NaN or infinity in it: JSON has no such numbers (a last guard)."""
    for key, value in report.items():
        if isinstance(value, Mapping):
            require_finite(value, f"{where}.{key}")
        elif isinstance(value, float) and not math.isfinite(value):
            raise PipelineInputError(f"the {where}'s {key!r} came out as {value}: nothing written")


def format_p(p: float) -> str:
    """Write p as a statistician would: ``p < 0.001`` for tiny values, else three decimals."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}"


def conclusion(report: Mapping[str, Any]) -> str:
    """One sentence in words: is the difference between the two means significant?"""
    (a, ga), (b, gb) = report["groups"].items()
    higher, lower = (b, a) if gb["mean"] > ga["mean"] else (a, b)
    if report["significant"]:
        return (
            f"The difference is statistically significant ({format_p(report['p'])}, below "
            f"alpha = {report['alpha']}): class {higher} scored higher on average than class {lower}."
        )
    return (
        f"No statistically significant difference ({format_p(report['p'])}, alpha = "
        f"{report['alpha']}): the data do not show that class {higher} and class {lower} differ."
    )


def to_json(report: Mapping[str, Any]) -> str:
    """report.json text: strict JSON (no NaN or Infinity), stable key order, two-space indent."""
    return json.dumps(report, indent=2, allow_nan=False) + "\n"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def from_json(text: str) -> dict[str, Any]:
    """Parse report.json strictly: ``NaN``/``Infinity`` are refused, as jq or JavaScript would."""
    return json.loads(text, parse_constant=_no_constant)


def read_report(path: str | Path) -> dict[str, Any]:
    """A report.json file, parsed strictly (:func:`from_json`)."""
    return from_json(Path(path).read_text(encoding="utf-8"))


def effect_in_words(report: Mapping[str, Any]) -> str:
    """How big the difference is and how well it is known, e.g. "B scored 11.8 points higher"."""
    (a, _), (b, _) = report["groups"].items()
    diff, low, high = report["difference"], report["ci_low"], report["ci_high"]
    higher, lower = (b, a) if diff < 0 else (a, b)
    if diff < 0:
        diff, low, high = -diff, -high, -low
    level = f"{report['confidence'] * 100:g} %"
    return (
        f"Class {higher} scored {number(diff)} points higher on average than class {lower} "
        f"({level} confidence interval {number(low)} to {number(high)}); Hedges' g = "
        f"{abs(report['hedges_g']):.2f} standard deviations."
    )


def number(x: float) -> str:
    """A score-sized number with one decimal (11.8); a very large or small one in 3 digits."""
    return f"{x:.1f}" if x == 0 or 0.1 <= abs(x) < 1e6 else f"{x:.3g}"


def to_markdown(report: Mapping[str, Any]) -> str:
    """report.md: what a person reads."""
    lines = [
        "# Exam score report",
        "",
        f"Rows read: {report['rows_read']}; rows dropped while cleaning: {report['rows_dropped']}.",
        "",
        "| Class | n | mean | std | median | min | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, g in report["groups"].items():
        lines.append(
            f"| {label} | {g['n']} | {g['mean']:.2f} | {g['std']:.2f} | {g['median']:.2f} "
            f"| {g['min']:g} | {g['max']:g} |"
        )
    lines += [
        "",
        f"Test: {TEST_NAMES[report['test']]}.",
        "",
        f"t = {report['t']:.2f}, df = {report['df']:.2f}, {format_p(report['p'])}.",
        "",
        f"Effect: {effect_in_words(report)}",
        "",
        f"Conclusion: {conclusion(report)}",
        "",
        f"The interval is the mean difference plus or minus the t quantile times its standard "
        f"error; {HEDGES_G}. A small p alone says a difference exists, not that it matters: "
        "with many students almost any difference is significant.",
        "",
        f"Engine: {report['engine']}.",
        "",
    ]
    return "\n".join(lines)

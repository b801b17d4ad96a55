"""The report: one dict (report.json) that every engine writes the same, and its Markdown."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .analysis import GroupSummary, TTestResult

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
    """Assemble the report.json structure (its keys are a contract other engines rely on)."""
    return {
        "engine": engine,
        "test": result.test,
        "alpha": alpha,
        "t": result.t,
        "df": result.df,
        "p": result.p,
        "significant": bool(result.p < alpha),
        "rows_read": int(rows_read),
        "rows_dropped": int(rows_dropped),
        "groups": {label: s.to_report() for label, s in summaries.items()},
    }


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
    """report.json text: stable key order, two-space indent, trailing newline."""
    return json.dumps(report, indent=2) + "\n"


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
        f"Conclusion: {conclusion(report)}",
        "",
        f"Engine: {report['engine']}.",
        "",
    ]
    return "\n".join(lines)

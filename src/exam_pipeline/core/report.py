"""The report: a frozen, typed :class:`Report` that every engine's run ends in, and its texts.

``report.json``, ``report.md`` and the database row (``exam_pipeline.core.sinks``) are all made
from a :class:`Report`. It also reads like the ``report.json`` dict it always was
(``report["t"]``, ``report["groups"]["A"]["mean"]``, ``json.dumps(report)``), read-only, so the
lessons and every caller that indexes it keep working.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, Self

from exam_pipeline.core.analysis import HEDGES_G, Analysis, GroupSummary, TTestResult
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.validate import PipelineInputError

TEST_NAMES = {
    "welch": "Welch's t-test (unequal variances)",
    "student": "Student's t-test (equal variances)",
}


class FrozenDict(dict[str, Any]):
    """A dict that refuses to change: the read-only dict view of a frozen report.

    A subclass of ``dict`` (not just a ``Mapping``) so that ``json.dumps`` and ``==`` with a
    plain dict work on it as on the dict a report used to be.
    """

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only (a frozen report)")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self


def _fill(view: dict[str, Any], items: Iterable[tuple[str, Any]]) -> None:
    dict.update(view, items)


@dataclass(frozen=True, eq=False, repr=False)
class GroupReport(FrozenDict):
    """What report.json keeps of one group."""

    n: int
    mean: float
    std: float
    median: float
    min: float
    max: float

    def __post_init__(self) -> None:
        _fill(self, ((f.name, getattr(self, f.name)) for f in fields(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    @classmethod
    def of(cls, summary: GroupSummary) -> GroupReport:
        return cls(summary.n, summary.mean, summary.std, summary.median, summary.min, summary.max)


@dataclass(frozen=True, eq=False, repr=False)
class Report(FrozenDict):
    """One run's result: the test, the effect, the row counts and the two groups, in label order.

    ``difference`` is the first group's mean minus the second's (the sign of ``t``);
    ``ci_low``/``ci_high`` its ``confidence`` interval; ``hedges_g`` the standardised
    difference. The field order is report.json's key order (a contract other tools rely on).
    """

    engine: str
    test: str
    alpha: float
    t: float
    df: float
    p: float
    significant: bool
    difference: float
    confidence: float
    ci_low: float
    ci_high: float
    hedges_g: float
    rows_read: int
    rows_dropped: int
    groups: Mapping[str, GroupReport]

    def __post_init__(self) -> None:
        groups = FrozenDict()
        _fill(groups, ((str(k), v if isinstance(v, GroupReport) else GroupReport(**v))
                       for k, v in self.groups.items()))  # fmt: skip
        object.__setattr__(self, "groups", groups)
        _fill(self, ((f.name, getattr(self, f.name)) for f in fields(self)))
        require_finite(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), tuple(getattr(self, f.name) for f in fields(self)))

    @classmethod
    def build(
        cls,
        engine: str,
        summaries: Mapping[str, GroupSummary],
        result: TTestResult,
        alpha: float,
        rows_read: int,
        rows_dropped: int,
    ) -> Report:
        """The report of a t-test of the first group against the second."""
        low, high = result.interval(alpha)
        return cls(
            engine=engine,
            test=result.test,
            alpha=alpha,
            t=result.t,
            df=result.df,
            p=result.p,
            significant=bool(result.p < alpha),
            difference=result.difference,
            confidence=1 - alpha,
            ci_low=low,
            ci_high=high,
            hedges_g=result.hedges_g,
            rows_read=int(rows_read),
            rows_dropped=int(rows_dropped),
            groups={label: GroupReport.of(s) for label, s in summaries.items()},
        )

    @classmethod
    def of(cls, config: RunConfig, analysis: Analysis) -> Report:
        """The report of ``analysis`` run with ``config`` (its engine and alpha)."""
        return cls.build(
            config.engine,
            analysis.summaries,
            analysis.ttest,
            config.alpha,
            analysis.rows_read,
            analysis.rows_dropped,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """A Report from report.json's dict; a missing or unknown key is a clear error."""
        names = [f.name for f in fields(cls)]
        if set(data) != set(names):
            missing = sorted(set(names) - set(data))
            extra = sorted(set(data) - set(names))
            raise ValueError(f"not a report: missing keys {missing}, unknown keys {extra}")
        return cls(**{name: data[name] for name in names})

    def to_json(self) -> str:
        """report.json text: strict JSON (no NaN or Infinity), fixed key order, two-space indent."""
        return json.dumps(self, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Parse report.json strictly: ``NaN``/``Infinity`` are refused, as jq or JavaScript would."""
        return cls.from_dict(json.loads(text, parse_constant=_no_constant))

    def to_markdown(self) -> str:
        """report.md: what a person reads."""
        return to_markdown(self)


#: :meth:`Report.build`, by the name lessons call.
build_report = Report.build


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


def conclusion(report: Report) -> str:
    """One sentence in words: is the difference between the two means significant?"""
    (a, ga), (b, gb) = report.groups.items()
    higher, lower = (b, a) if gb.mean > ga.mean else (a, b)
    if report.significant:
        return (
            f"The difference is statistically significant ({format_p(report.p)}, below "
            f"alpha = {report.alpha}): class {higher} scored higher on average than class {lower}."
        )
    return (
        f"No statistically significant difference ({format_p(report.p)}, alpha = "
        f"{report.alpha}): the data do not show that class {higher} and class {lower} differ."
    )


def as_report(report: Mapping[str, Any]) -> Report:
    """``report`` itself if it is a Report; a report.json dict made into one."""
    return report if isinstance(report, Report) else Report.from_dict(report)


def to_json(report: Mapping[str, Any]) -> str:
    """report.json text (:meth:`Report.to_json`); a report.json dict is checked on the way."""
    return as_report(report).to_json()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def from_json(text: str) -> Report:
    """:meth:`Report.from_json`: strict (no ``NaN``/``Infinity``), every key there."""
    return Report.from_json(text)


def read_report(path: str | Path) -> Report:
    """A report.json file, parsed strictly (:func:`from_json`)."""
    return Report.from_json(Path(path).read_text(encoding="utf-8"))


def effect_in_words(report: Report) -> str:
    """How big the difference is and how well it is known, e.g. "B scored 11.8 points higher"."""
    a, b = report.groups
    diff, low, high = report.difference, report.ci_low, report.ci_high
    higher, lower = (b, a) if diff < 0 else (a, b)
    if diff < 0:
        diff, low, high = -diff, -high, -low
    level = f"{report.confidence * 100:g} %"
    return (
        f"Class {higher} scored {number(diff)} points higher on average than class {lower} "
        f"({level} confidence interval {number(low)} to {number(high)}); Hedges' g = "
        f"{abs(report.hedges_g):.2f} standard deviations."
    )


def number(x: float) -> str:
    """A score-sized number with one decimal (11.8); a very large or small one in 3 digits."""
    return f"{x:.1f}" if x == 0 or 0.1 <= abs(x) < 1e6 else f"{x:.3g}"


def to_markdown(report: Mapping[str, Any]) -> str:
    """report.md: what a person reads (a Report, or a report.json dict)."""
    report = as_report(report)
    lines = [
        "# Exam score report",
        "",
        f"Rows read: {report.rows_read}; rows dropped while cleaning: {report.rows_dropped}.",
        "",
        "| Class | n | mean | std | median | min | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, g in report.groups.items():
        lines.append(
            f"| {label} | {g.n} | {g.mean:.2f} | {g.std:.2f} | {g.median:.2f} "
            f"| {g.min:g} | {g.max:g} |"
        )
    lines += [
        "",
        f"Test: {TEST_NAMES[report.test]}.",
        "",
        f"t = {report.t:.2f}, df = {report.df:.2f}, {format_p(report.p)}.",
        "",
        f"Effect: {effect_in_words(report)}",
        "",
        f"Conclusion: {conclusion(report)}",
        "",
        f"The interval is the mean difference plus or minus the t quantile times its standard "
        f"error; {HEDGES_G}. A small p alone says a difference exists, not that it matters: "
        "with many students almost any difference is significant.",
        "",
        f"Engine: {report.engine}.",
        "",
    ]
    return "\n".join(lines)

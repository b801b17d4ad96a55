"""Cleaning: turn raw text into numeric scores, and keep a record of every row dropped and why."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: Why a row can be dropped, in the order the checks run.
REASONS: tuple[str, ...] = ("missing group", "missing score", "non-numeric score")

#: Columns of the quarantine ("dead-letter") table written as ``rejected.csv``.
REJECTED_COLUMNS: tuple[str, ...] = ("line", "group", "score", "reason")


@dataclass
class CleanResult:
    """The rows kept, the rows dropped (with a reason each), and how many rows were read."""

    frame: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int

    @property
    def rows_dropped(self) -> int:
        return len(self.rejected)

    def drop_reasons(self) -> dict[str, int]:
        """How many rows were dropped for each reason (reasons with no rows are left out)."""
        counts = self.rejected["reason"].value_counts()
        return {reason: int(counts[reason]) for reason in REASONS if reason in counts}


def to_scores(values: pd.Series, decimal: str = ".") -> pd.Series:
    """Convert raw score text to floats; anything that is not a number becomes NaN."""
    if decimal != ".":
        values = values.astype("string").str.replace(decimal, ".", regex=False)
    return pd.to_numeric(values, errors="coerce")


def clean_scores(
    raw: pd.DataFrame,
    group_col: str = "Class",
    value_col: str = "Score",
    decimal: str = ".",
    first_line: int = 2,
) -> CleanResult:
    """Coerce scores to numbers and drop rows with no group or no numeric score.

    ``first_line`` is the file line of the first row (2 when a header sits on line 1), so the
    quarantine table can point at the line a person would fix.
    """
    groups = raw[group_col].astype("string").str.strip()
    groups = groups.mask(groups == "")
    text = raw[value_col].astype("string").str.strip()
    scores = to_scores(text, decimal)

    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    reason = reason.mask(scores.isna() & text.notna() & (text != ""), "non-numeric score")
    reason = reason.mask(text.isna() | (text == ""), "missing score")
    reason = reason.mask(groups.isna(), "missing group")
    bad = reason.notna()

    kept = pd.DataFrame(
        {group_col: groups[~bad].astype(str), value_col: scores[~bad].astype(float)}
    )
    rejected = pd.DataFrame(
        {
            "line": (raw.index[bad] + first_line).astype(int),
            "group": groups[bad].fillna(""),
            "score": text[bad].fillna(""),
            "reason": reason[bad],
        },
        columns=list(REJECTED_COLUMNS),
    )
    return CleanResult(
        frame=kept.reset_index(drop=True),
        rejected=rejected.reset_index(drop=True),
        rows_read=len(raw),
    )

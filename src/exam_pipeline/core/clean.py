"""Cleaning: turn raw text into numeric scores, and keep a record of every row dropped and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Why a row can be dropped, in the order the checks run.
REASONS: tuple[str, ...] = (
    "missing group",
    "missing score",
    "non-numeric score",
    "not a finite number",
)

#: Texts that mean "no value here": pandas' own list (``read_csv``'s default ``na_values``). The
#: file is read with that detection off, so these rules decide, the same way in every engine. In
#: the score column "nan" and its variants are not missing but *not a finite number*, like "inf".
NA_TOKENS: frozenset[str] = frozenset(
    {
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    }
)  # fmt: skip

#: A score that spells "not a number" (any case, any sign): rejected as not finite.
NAN_WORD = r"[+-]?nan"

#: Columns of the quarantine ("dead-letter") table written as ``rejected.csv``.
REJECTED_COLUMNS: tuple[str, ...] = ("line", "group", "score", "reason")


@dataclass
class CleanResult:
    """The rows kept, the rows dropped (with a reason each), and how many rows were read.

    ``labels`` are the groups of every row read, kept or not, sorted: a group whose every score
    was junk is still known, so the analysis can say "'B' has 0 valid values" instead of
    "found 1 group".
    """

    frame: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    labels: tuple[str, ...] = ()

    @property
    def rows_dropped(self) -> int:
        return len(self.rejected)

    def drop_reasons(self) -> dict[str, int]:
        """How many rows were dropped for each reason (reasons with no rows are left out)."""
        return drop_reasons(self.rejected)


def drop_reasons(rejected: pd.DataFrame) -> dict[str, int]:
    """How many rows of a quarantine table have each reason, in the order of ``REASONS``."""
    counts = rejected["reason"].value_counts()
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
    """Coerce scores to numbers and drop rows with no group or no finite, numeric score.

    ``first_line`` is the file line of the first row (2 when a header sits on line 1), so the
    quarantine table can point at the line a person would fix. ``inf``, ``-Infinity``,
    ``NaN`` or ``1e999`` parse as numbers but no statistic can use them: they are dropped as
    "not a finite number".
    """
    groups = raw[group_col].astype("string").str.strip()
    groups = groups.mask(groups.isin(NA_TOKENS))
    text = raw[value_col].astype("string").str.strip()
    scores = to_scores(text, decimal)
    unparsed = scores.isna().to_numpy() & text.notna().to_numpy()
    nan_word = np.zeros(len(text), bool)
    if unparsed.any():  # only the few rows that did not parse need the slower text match
        nan_word[unparsed] = text[unparsed].str.fullmatch(NAN_WORD, case=False).to_numpy(bool)
    missing = text.isna().to_numpy() | (text.isin(NA_TOKENS).to_numpy(bool) & ~nan_word)
    infinite = np.isinf(scores.to_numpy(float, na_value=np.nan))

    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    reason = reason.mask(unparsed & ~nan_word & ~missing, "non-numeric score")
    reason = reason.mask(nan_word | infinite, "not a finite number")
    reason = reason.mask(missing, "missing score")
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
        labels=tuple(sorted(groups.dropna().unique())),
    )


def from_tables(
    kept: pd.DataFrame, rejected: pd.DataFrame, group_col: str = "Class"
) -> CleanResult:
    """A CleanResult again, from its two tables as an engine stored them (Luigi's stages).

    Every row with a group is either kept or rejected with it, so the labels seen before
    cleaning are the groups of both tables.
    """
    labels = (set(kept[group_col].astype(str)) | set(rejected["group"].astype(str))) - {""}
    return CleanResult(
        frame=kept,
        rejected=rejected,
        rows_read=len(kept) + len(rejected),
        labels=tuple(sorted(labels)),
    )


def combine_clean_results(parts: Sequence[CleanResult]) -> CleanResult:
    """One CleanResult from the results of consecutive chunks (rows keep their order)."""
    return CleanResult(
        frame=pd.concat([p.frame for p in parts], ignore_index=True),
        rejected=pd.concat([p.rejected for p in parts], ignore_index=True),
        rows_read=sum(p.rows_read for p in parts),
        labels=tuple(sorted({label for p in parts for label in p.labels})),
    )


@dataclass(frozen=True)
class CleanedPart:
    """One part of a file after cleaning, on the worker that holds it (Dask, Spark).

    Its numbers per group stay there for the summary's passes; the rest is small.
    """

    values: dict[str, np.ndarray]
    rejected: pd.DataFrame
    rows_read: int
    labels: tuple[str, ...]


def clean_part(
    raw: pd.DataFrame, group_col: str, value_col: str, decimal: str, first_line: int
) -> CleanedPart:
    """:func:`clean_scores` on one part, its kept scores as arrays per group."""
    cleaned = clean_scores(raw, group_col, value_col, decimal, first_line=first_line)
    values = {
        str(label): group.to_numpy(np.float64)
        for label, group in cleaned.frame.groupby(group_col, sort=False)[value_col]
    }
    return CleanedPart(values, cleaned.rejected, cleaned.rows_read, cleaned.labels)

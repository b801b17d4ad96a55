"""Property-based tests of cleaning: whatever text arrives, cleaning never raises and keeps only numbers."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from exam_pipeline.core.clean import REASONS, REJECTED_COLUMNS, clean_scores

# Cells a messy export can hold: numbers as text, junk words, blanks, odd unicode, or nothing.
NUMBERS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
)
JUNK = st.sampled_from(["", " ", "absent", "n/a", "?", "seventy", "TBD", "nan", "1,5", "--", "1e"])
CELL = st.one_of(st.none(), NUMBERS, JUNK, st.text(max_size=8))
ROWS = st.lists(
    st.tuples(st.one_of(st.none(), st.sampled_from(["A", "B", " ", ""])), CELL), max_size=30
)

FAST = settings(max_examples=30, deadline=None)


def frame(rows: list[tuple[str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["Class", "Score"], dtype="string")


@FAST
@given(ROWS)
def test_cleaning_never_raises_and_keeps_only_numbers(rows):
    result = clean_scores(frame(rows))
    scores = result.frame["Score"]
    assert scores.dtype == float
    assert not scores.isna().any()
    kept_text = frame(rows)["Score"].drop(index=result.rejected["line"] - 2)
    for text, value in zip(kept_text, scores, strict=True):
        assert float(text.strip()) == value  # the number in the file, not a guess


@FAST
@given(ROWS)
def test_every_row_is_kept_or_quarantined_with_a_reason(rows):
    result = clean_scores(frame(rows))
    assert len(result.frame) + len(result.rejected) == result.rows_read == len(rows)
    assert tuple(result.rejected.columns) == REJECTED_COLUMNS
    assert set(result.rejected["reason"]) <= set(REASONS)
    lines = result.rejected["line"].tolist()
    assert lines == sorted(set(lines)) and all(2 <= line < len(rows) + 2 for line in lines)


@FAST
@given(ROWS)
def test_cleaning_is_idempotent(rows):
    once = clean_scores(frame(rows)).frame
    twice = clean_scores(once.astype({"Score": "string"})).frame
    pd.testing.assert_frame_equal(once, twice)


@FAST
@given(st.lists(st.tuples(st.sampled_from(["A", "B"]), NUMBERS), max_size=20))
def test_decimal_comma_files_read_the_same_numbers(rows):
    dotted = clean_scores(frame(rows)).frame
    comma = clean_scores(frame([(g, s.replace(".", ",")) for g, s in rows]), decimal=",").frame
    pd.testing.assert_frame_equal(dotted, comma)

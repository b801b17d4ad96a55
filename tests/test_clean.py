"""Cleaning keeps numeric scores and records every dropped row with its reason and line."""

from __future__ import annotations

import pandas as pd

from exam_pipeline.core.clean import clean_scores


def raw(rows):
    return pd.DataFrame(rows, columns=["Class", "Score"], dtype="string")


def test_coerces_and_drops_with_reasons():
    result = clean_scores(raw([["A", "65"], ["A", "abc"], ["B", ""], [None, "70"], ["B", " 80 "]]))
    assert result.frame.to_dict("list") == {"Class": ["A", "B"], "Score": [65.0, 80.0]}
    assert result.rows_read == 5 and result.rows_dropped == 3
    assert result.drop_reasons() == {"missing group": 1, "missing score": 1, "non-numeric score": 1}
    assert result.rejected.to_dict("records") == [
        {"line": 3, "group": "A", "score": "abc", "reason": "non-numeric score"},
        {"line": 4, "group": "B", "score": "", "reason": "missing score"},
        {"line": 5, "group": "", "score": "70", "reason": "missing group"},
    ]


def test_decimal_comma():
    result = clean_scores(raw([["A", "72,5"], ["B", "80"]]), decimal=",")
    assert result.frame["Score"].tolist() == [72.5, 80.0]


def test_clean_input_drops_nothing():
    result = clean_scores(raw([["A", "1"], ["B", "2.5"]]))
    assert result.rows_dropped == 0 and result.drop_reasons() == {}

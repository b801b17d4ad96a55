"""The capstone's data set and the two package pieces it added: read_scores(extra=...), split_by."""

from __future__ import annotations

import pandas as pd
import pytest

from exam_pipeline.core.analysis import split_groups
from exam_pipeline.core.clean import clean_scores
from exam_pipeline.core.data import dataset_path, read_scores, split_by
from exam_pipeline.core.validate import PipelineInputError

CAPSTONE = dataset_path("capstone_scores.csv")


def test_extra_columns_are_kept_as_text_in_the_files_dialect():
    raw, fmt = read_scores(CAPSTONE, extra=["Subject", "Class"])
    assert (fmt.sep, fmt.decimal) == (";", ",")
    assert sorted(raw.columns) == ["Class", "Score", "Subject"]
    assert raw.shape == (48, 3) and raw.loc[1, "Score"] == "66,5"


def test_a_missing_extra_column_is_named(write_csv):
    path = write_csv("Class,Score\nA,1\n")
    with pytest.raises(PipelineInputError, match="missing column 'Subject'"):
        read_scores(path, extra=["Subject"])


def test_without_extra_the_reader_is_unchanged():
    raw, _ = read_scores(CAPSTONE)
    assert list(raw.columns) == ["Class", "Score"]


def test_split_by_sorts_labels_and_keeps_row_labels():
    raw = pd.DataFrame({"Subject": ["Math", " Art", "Math"], "Score": ["1", "2", "3"]})
    parts = split_by(raw, "Subject")
    assert list(parts) == ["Art", "Math"]
    assert list(parts["Math"].index) == [0, 2] and list(parts["Art"]["Score"]) == ["2"]


@pytest.mark.parametrize("blank", ["", None, "  "])
def test_split_by_refuses_rows_without_a_label(blank):
    raw = pd.DataFrame({"Subject": ["Math", blank], "Score": ["1", "2"]})
    with pytest.raises(
        PipelineInputError, match=r"scores.csv: column 'Subject' is empty on line\(s\) 3"
    ):
        split_by(raw, "Subject", "scores.csv")


def test_each_subject_cleans_to_its_own_file_lines_and_groups():
    raw, fmt = read_scores(CAPSTONE, extra=["Subject"])
    parts = split_by(raw, "Subject")
    assert {s: len(p) for s, p in parts.items()} == {"Literature": 16, "Math": 16, "Physics": 16}
    math = clean_scores(parts["Math"], decimal=fmt.decimal)
    assert list(math.rejected["line"]) == [17, 38]
    assert list(math.rejected["reason"]) == ["missing group", "missing score"]
    groups = split_groups(math.frame)
    assert [round(float(g.mean()), 2) for g in groups.values()] == [64.14, 75.21]
    dropped = {s: clean_scores(p, decimal=",").rows_dropped for s, p in parts.items()}
    assert dropped == {"Literature": 2, "Math": 2, "Physics": 2}

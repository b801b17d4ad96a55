"""Where exam scores come from: the bundled lesson data, CSV files, and a synthetic generator."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .files import atomic_path
from .validate import PipelineInputError, require_columns, require_file

#: The lesson data set: five students per class (also in ``datasets/exam_scores.csv``).
LESSON_SCORES: dict[str, list[int]] = {"A": [65, 70, 68, 72, 66], "B": [78, 82, 80, 79, 81]}

#: Junk that stands where a score should be in generated files (about 1 % of rows).
JUNK_TOKENS: tuple[str, ...] = ("absent", "n/a", "?", "seventy", "TBD")


def dataset_path(name: str = "exam_scores.csv") -> Path:
    """Path of a data set shipped inside the package (works from any working directory)."""
    path = Path(str(resources.files("exam_pipeline") / "datasets" / name))
    if not path.is_file():
        raise PipelineInputError(f"no bundled data set called {name!r}")
    return path


def lesson_frame() -> pd.DataFrame:
    """The lesson data as a DataFrame with columns ``Class`` and ``Score``."""
    rows = [(label, score) for label, scores in LESSON_SCORES.items() for score in scores]
    return pd.DataFrame(rows, columns=["Class", "Score"])


@dataclass(frozen=True)
class CsvFormat:
    """How a CSV file is written: its separator, decimal mark and header."""

    sep: str
    decimal: str
    columns: tuple[str, ...]


def inspect_csv(path: str | Path, columns: tuple[str, ...] = ("Class", "Score")) -> CsvFormat:
    """Check the file and its header; detect ``;``-separated files with decimal commas.

    Spreadsheets set to a European locale save ``Class;Score`` with ``72,5``; we read those too.
    """
    path = require_file(path)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        header = handle.readline().lstrip("\ufeff").rstrip("\r\n")
        has_data = any(line.strip() for line in handle)
    sep = ";" if header.count(";") > header.count(",") else ","
    found = tuple(name.strip() for name in next(csv.reader([header], delimiter=sep), []))
    require_columns(found, columns, path)
    if not has_data:
        raise PipelineInputError(f"{path}: has a header but no data rows")
    return CsvFormat(sep=sep, decimal="," if sep == ";" else ".", columns=found)


def read_csv_options(fmt: CsvFormat, columns: Sequence[str]) -> dict[str, object]:
    """``pandas.read_csv`` arguments that keep ``columns`` as untouched text (cleaning decides)."""
    return {
        "sep": fmt.sep,
        "usecols": list(columns),
        "dtype": str,
        "encoding": "utf-8-sig",  # a spreadsheet's byte-order mark is not part of the first name
        "skipinitialspace": True,
    }


@contextmanager
def csv_errors(
    path: str | Path, bad_offset: Callable[[UnicodeDecodeError], int] | None = None
) -> Iterator[None]:
    """Turn a CSV reader's complaint into one ``PipelineInputError`` line that names the file.

    ``bad_offset`` finds the bad byte's offset in the file when the error only knows its offset
    in a block (Dask reads blocks on its workers).
    """
    try:
        yield
    except UnicodeDecodeError as exc:
        offset = bad_offset(exc) if bad_offset else exc.start
        raise PipelineInputError(
            f"{path}: is not UTF-8 text (bad byte at offset {offset}); save it as UTF-8 CSV"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise PipelineInputError(f"{path}: is not a well-formed CSV file ({exc})") from None


def read_scores(
    path: str | Path,
    group_col: str = "Class",
    value_col: str = "Score",
    extra: Sequence[str] = (),
) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the group and score columns as text, untouched, so cleaning can see the junk.

    ``extra`` names further columns to keep as text, e.g. ``("Subject",)`` to analyse each
    subject on its own (see :func:`split_by`). Returns the frame and the detected format (the
    cleaning step needs the decimal mark).
    """
    columns = [group_col, value_col, *(c for c in extra if c not in (group_col, value_col))]
    fmt = inspect_csv(path, tuple(columns))
    with csv_errors(path):
        frame = pd.read_csv(path, **read_csv_options(fmt, columns))
    return frame, fmt


def split_by(
    raw: pd.DataFrame, column: str, source: str | Path = "input"
) -> dict[str, pd.DataFrame]:
    """The rows of each value of ``column`` (one frame per subject, say), labels sorted.

    Each part keeps ``raw``'s index, so ``clean_scores`` still points a rejected row at its line
    in the file. A row without a label cannot be put anywhere: that is an input error.
    """
    labels = raw[column].astype("string").str.strip()
    blank = labels.isna() | (labels == "")
    if blank.any():
        lines = ", ".join(str(i + 2) for i in raw.index[blank][:5])
        raise PipelineInputError(f"{source}: column {column!r} is empty on line(s) {lines}")
    return {label: raw[labels == label] for label in sorted(set(labels))}


def generate_scores(
    out: str | Path,
    rows: int,
    seed: int = 0,
    effect: float = 2.0,
    chunk_rows: int = 100_000,
) -> Path:
    """Write a reproducible, deliberately messy exam file of ``rows`` rows, in constant memory.

    Class A scores ~ N(70, 10), class B ~ N(70 + effect, 10), rounded and clipped to 0..100.
    About 1 % of scores are junk words and about 1 % are blank. The same arguments give the
    same bytes; the file appears only once it is complete.
    """
    if rows < 0:
        raise PipelineInputError(f"--rows must be 0 or more, got {rows}")
    rng = np.random.default_rng(seed)
    out = Path(out)
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Student,Class,Score\n")
        for start in range(0, rows, chunk_rows):
            n = min(chunk_rows, rows - start)
            classes = rng.choice(np.array(["A", "B"]), size=n)
            means = np.where(classes == "B", 70.0 + effect, 70.0)
            scores = np.clip(np.rint(rng.normal(means, 10.0)), 0, 100).astype(int).astype(str)
            kind = rng.random(n)
            junk = rng.choice(np.array(JUNK_TOKENS), size=n)
            scores = np.where(kind < 0.01, junk, scores)
            scores = np.where((kind >= 0.01) & (kind < 0.02), "", scores)
            ids = np.arange(start + 1, start + n + 1).astype(str)
            lines = np.char.add(
                np.char.add(np.char.add(np.char.add(ids, ","), classes), ","), scores
            )
            handle.write("\n".join(lines.tolist()))
            handle.write("\n")
    return out

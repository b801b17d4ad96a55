"""Where exam scores come from: the bundled lesson data, CSV files, and a synthetic generator."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exam_pipeline.core.files import atomic_path
from exam_pipeline.core.validate import (
    PipelineInputError,
    require_columns,
    require_encoding,
    require_file,
)

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
    """How a CSV file is written: its separator, decimal mark, header and text encoding."""

    sep: str
    decimal: str
    columns: tuple[str, ...]
    encoding: str = "utf-8-sig"


#: Separators we recognise in a header line: a comma, a semicolon (spreadsheets in European
#: locales) and a tab (a spreadsheet's "text" or "Unicode text" export).
SEPARATORS: tuple[str, ...] = (",", ";", "\t")

#: Byte-order marks and the codec that reads each (and drops the mark).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def encoding_name(codec: str | None) -> str:
    """How a person writes an encoding: UTF-8 for Python's utf-8 and utf-8-sig."""
    name = codecs.lookup(codec or "utf-8").name
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16"}.get(name, name)


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The encoding to read ``path`` with: its byte-order mark's, else ``encoding``, else UTF-8.

    Checks the first 64 KiB decode, so a wrong guess fails here with a sentence, not deep in a
    parser. UTF-8 is read as ``utf-8-sig``, which also drops a byte-order mark.
    """
    with path.open("rb") as handle:
        head = handle.read(64 * 1024)
    found = next((codec for bom, codec in BOMS if head.startswith(bom)), None)
    codec = found or encoding or "utf-8-sig"
    if codec != "utf-16" and b"\x00" in head:
        raise PipelineInputError(f"{path}: looks like a binary file, expected CSV text")
    try:
        # A multi-byte character may be cut at the end of the sample: decode it incrementally.
        codecs.getincrementaldecoder(codec)().decode(head, final=False)
    except UnicodeDecodeError as exc:
        hint = f"is not {encoding} text" if encoding else "is not UTF-8 text"
        raise PipelineInputError(
            f"{path}: {hint} (byte 0x{head[exc.start]:02x} at offset {exc.start}); save it as "
            "UTF-8 CSV, or name its encoding, e.g. --encoding cp1252 for a Windows export"
        ) from None
    return codec


def inspect_csv(
    path: str | Path, columns: tuple[str, ...] = ("Class", "Score"), encoding: str | None = None
) -> CsvFormat:
    """Check the file and its header; detect its encoding, separator and decimal mark.

    The separator is whichever of ``,`` ``;`` and tab the header has most of. In a ``;``- or
    tab-separated file a decimal comma (``72,5``) is read as a decimal point, as spreadsheets
    set to a European locale write it. Every engine reads through this one detection.
    """
    path = require_file(path)
    codec = detect_encoding(path, require_encoding(encoding))
    with path.open(encoding=codec, errors="replace", newline="") as handle:
        header = handle.readline().lstrip("\ufeff").rstrip("\r\n")
        has_data = any(line.strip() for line in handle)
    sep = max(SEPARATORS, key=header.count)  # ties go to the comma, listed first
    found = tuple(name.strip() for name in next(csv.reader([header], delimiter=sep), []))
    require_columns(found, columns, path)
    if not has_data:
        raise PipelineInputError(f"{path}: has a header but no data rows")
    return CsvFormat(sep=sep, decimal="." if sep == "," else ",", columns=found, encoding=codec)


def read_csv_options(fmt: CsvFormat, columns: Sequence[str]) -> dict[str, Any]:
    """``pandas.read_csv`` arguments that keep ``columns`` as untouched text (cleaning decides)."""
    return {
        "sep": fmt.sep,
        "usecols": list(columns),
        "dtype": str,
        "encoding": fmt.encoding,
        "skipinitialspace": True,
        # Every field stays text, "NA" and "nan" included: clean.clean_scores decides what is
        # missing, so the stream and the cluster, which read the same text, decide the same.
        "keep_default_na": False,
        "na_filter": False,
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
            f"{path}: is not {encoding_name(exc.encoding)} text (bad byte at offset {offset}); save it as "
            "UTF-8 CSV, or name its encoding, e.g. --encoding cp1252 for a Windows export"
        ) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise PipelineInputError(f"{path}: is not a well-formed CSV file ({exc})") from None


def read_scores(
    path: str | Path,
    group_col: str = "Class",
    value_col: str = "Score",
    extra: Sequence[str] = (),
    encoding: str | None = None,
) -> tuple[pd.DataFrame, CsvFormat]:
    """Read the group and score columns as text, untouched, so cleaning can see the junk.

    ``extra`` names further columns to keep as text, e.g. ``("Subject",)`` to analyse each
    subject on its own (see :func:`split_by`). Returns the frame and the detected format (the
    cleaning step needs the decimal mark).
    """
    columns = [group_col, value_col, *(c for c in extra if c not in (group_col, value_col))]
    fmt = inspect_csv(path, tuple(columns), encoding)
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
    decimals: int = 0,
) -> Path:
    """Write a reproducible, deliberately messy exam file of ``rows`` rows, in constant memory.

    Class A scores ~ N(70, 10), class B ~ N(70 + effect, 10), clipped to 0..100 and rounded to
    ``decimals`` places: 0 gives whole points (few distinct values), 6 gives real-valued scores
    that almost never repeat, the data that shows whether an engine's memory depends on values.
    About 1 % of scores are junk words and about 1 % are blank. The same arguments give the
    same bytes; the file appears only once it is complete.
    """
    if rows < 0:
        raise PipelineInputError(f"--rows must be 0 or more, got {rows}")
    if not 0 <= decimals <= 12:
        raise PipelineInputError(f"--decimals must be between 0 and 12, got {decimals}")
    rng = np.random.default_rng(seed)
    out = Path(out)
    with atomic_path(out) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Student,Class,Score\n")
        for start in range(0, rows, chunk_rows):
            n = min(chunk_rows, rows - start)
            classes = rng.choice(np.array(["A", "B"]), size=n)
            means = np.where(classes == "B", 70.0 + effect, 70.0)
            values = np.clip(rng.normal(means, 10.0), 0, 100)
            if decimals == 0:
                scores = np.rint(values).astype(int).astype(str)
            else:
                spec = f".{decimals}f"
                scores = np.array([format(x, spec) for x in values.tolist()])
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

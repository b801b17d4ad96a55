"""Input checks that fail early with a message a student can act on.

Every check raises :class:`PipelineInputError`, whose message names the file, the column
or the row and says what was expected. The CLI prints it on one line and exits with 2.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from pathlib import Path


class PipelineError(Exception):
    """A run that cannot finish, said in one sentence: the CLI prints it on one line, exit 2."""


class PipelineInputError(PipelineError, ValueError):
    """A problem with what the user gave the pipeline (file, column, option), not a bug."""


class EngineFailed(PipelineError, RuntimeError):
    """The engine could not finish: a server that does not answer, a task that failed.

    ``engines.run`` raises it for any failure that is not the input's fault, with the original
    error as its ``__cause__``.
    """


def require_file(path: str | Path) -> Path:
    """Return ``path`` as a Path if it is an existing, non-empty file; raise otherwise.

    Whether its bytes are text in the expected encoding is :func:`exam_pipeline.core.data.inspect_csv`'s
    business: it knows the encoding.
    """
    path = Path(path)
    if not path.exists():
        raise PipelineInputError(f"{path}: no such file")
    if path.is_dir():
        raise PipelineInputError(f"{path}: is a directory, expected a CSV file")
    if path.stat().st_size == 0:
        raise PipelineInputError(
            f"{path}: the file is empty, expected a CSV header line and data rows"
        )
    return path


def require_encoding(encoding: str | None) -> str | None:
    """Return ``encoding`` if Python knows it (``cp1252``, ``latin-1``, ...); raise otherwise."""
    if encoding is None:
        return None
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise PipelineInputError(
            f"--encoding {encoding}: not an encoding Python knows (try utf-8, cp1252 or latin-1)"
        ) from None
    return encoding


def require_columns(found: Sequence[str], wanted: Iterable[str], source: str | Path) -> None:
    """Raise if any of ``wanted`` is missing from the ``found`` header, listing what was found."""
    missing = [name for name in wanted if name not in found]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        listed = ", ".join(repr(c) for c in found) or "none"
        word = "column" if len(missing) == 1 else "columns"
        raise PipelineInputError(
            f"{source}: missing {word} {names}; the columns found are {listed} "
            "(choose others with --group-col / --value-col)"
        )


def require_two_groups(
    labels: Iterable[str], group_col: str, source: str | Path
) -> tuple[str, str]:
    """Return the two group labels, sorted; raise if there are not exactly two."""
    found = sorted(set(labels))
    if len(found) != 2:
        shown = ", ".join(repr(g) for g in found) or "none"
        raise PipelineInputError(
            f"{source}: column {group_col!r} must hold exactly 2 groups to compare, "
            f"found {len(found)}: {shown}"
        )
    return found[0], found[1]


def require_group_sizes(counts: dict[str, int], value_col: str, source: str | Path) -> None:
    """Raise if any group has fewer than two valid scores (a t-test needs a variance)."""
    if counts and all(n == 0 for n in counts.values()):
        raise PipelineInputError(f"{source}: column {value_col!r} has no numeric value at all")
    small = {label: n for label, n in counts.items() if n < 2}
    if small:
        detail = ", ".join(f"{label!r} has {n}" for label, n in sorted(small.items()))
        raise PipelineInputError(
            f"{source}: each group needs at least 2 valid {value_col!r} values; {detail}"
        )


def require_alpha(alpha: float) -> float:
    """Return ``alpha`` if it is a significance level strictly between 0 and 1."""
    if not 0.0 < alpha < 1.0:
        raise PipelineInputError(f"--alpha must be between 0 and 1 (exclusive), got {alpha}")
    return alpha


def require_test(test: str) -> str:
    """Return ``test`` if it names a t-test we run."""
    if test not in ("welch", "student"):
        raise PipelineInputError(f"--test must be 'welch' or 'student', got {test!r}")
    return test


def require_output_dir(out: str | Path) -> Path:
    """Return ``out`` if it is a folder or can become one (not an existing regular file)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PipelineInputError(f"--out {out}: is an existing file, expected a folder")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise PipelineInputError(f"--out {out}: {parent} is a file, expected a folder")
    return out

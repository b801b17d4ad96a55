"""The checks of lesson 10's exercises (testing pipelines), called from its check cells.

Kept here so that a check cell stays short; each function fails with a sentence
(``checks.CheckFailed``) saying what was expected and what came back, and starts from a fresh
folder so that a re-run gives the same verdict.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from exam_pipeline.course import checks


def right_means(frame: pd.DataFrame) -> dict[Any, float]:
    """A correct class_means of the check's own (editing the notebook's changes nothing)."""
    sums: dict[Any, float] = {}
    counts: dict[Any, int] = {}
    for group, score in zip(frame["Class"], frame["Score"], strict=True):
        sums[group] = sums.get(group, 0.0) + score
        counts[group] = counts.get(group, 0) + 1
    return {group: sums[group] / counts[group] for group in sorted(sums)}


#: Broken class_means a good test must fail on, by the mistake each makes.
BROKEN: dict[str, Callable[[pd.DataFrame], Any]] = {
    "one mean for all classes": lambda f: {k: f["Score"].mean() for k in f["Class"].unique()},
    "the last row ignored": lambda f: right_means(f.iloc[:-1]),
    "the first row ignored": lambda f: right_means(f.iloc[1:]),
    "medians, not means": lambda f: f.groupby("Class")["Score"].median().to_dict(),
    "sums, not means": lambda f: f.groupby("Class")["Score"].sum().to_dict(),
    "means rounded to whole numbers": lambda f: {k: round(v) for k, v in right_means(f).items()},
    "a class missing": lambda f: dict(list(right_means(f).items())[:1]),
}


def unit_test_catches(test: Callable[[Callable[[pd.DataFrame], Any]], Any]) -> int:
    """10-ex1: ``test`` passes a correct function and fails every broken one; their number."""
    try:
        test(right_means)
    except Exception as error:
        raise checks.CheckFailed(
            "your test should pass a correct class_means, but it raised "
            f"{type(error).__name__}: {error}"
        ) from None
    passed = []
    for mistake, wrong in BROKEN.items():
        try:
            test(wrong)
        except Exception:  # pytest counts any exception as a failed test
            continue
        passed.append(mistake)
    checks.expect(
        not passed,
        f"your test should fail on every broken class_means, but it passed these: {passed}",
    )
    return len(BROKEN)


def atomic_writes(write: Callable[[Path, Iterator[str]], Any], folder: Path) -> None:
    """10-ex2: the old file while writing, a temporary file beside it, one rename, no leftovers."""
    shutil.rmtree(folder, ignore_errors=True)  # a fresh folder on every run of the check
    folder.mkdir(parents=True)
    target = folder / "report.md"
    target.write_text("old report\n", encoding="utf-8")
    seen: dict[str, Any] = {}

    def parts(fail: bool) -> Iterator[str]:
        yield "# new report\n"
        seen["target"] = target.read_text(encoding="utf-8")  # what a reader sees mid-write
        seen["others"] = sorted(p.name for p in folder.iterdir() if p != target)
        seen["inodes"] = {p.stat().st_ino for p in folder.iterdir() if p != target}
        if fail:
            raise OSError("disk full (simulated by the check)")
        yield "rows read: 13\n"

    try:
        write(target, parts(fail=True))
    except OSError:
        pass
    else:
        raise checks.CheckFailed(
            "a failure while writing should reach the caller, but write_atomically returned"
        )
    checks.expect_equal(seen.get("target"), "old report\n", "what a reader sees mid-write")
    checks.expect(
        seen["others"],
        "while writing, the new text should go to a temporary file in the target's folder "
        "(a rename is atomic only within one file system); none was there",
    )
    checks.expect_equal(target.read_text(encoding="utf-8"), "old report\n", "after a failure")
    left = sorted(p.name for p in folder.iterdir())
    checks.expect_equal(left, ["report.md"], "the files in the folder after a failed write")
    write(target, parts(fail=False))
    text = target.read_text(encoding="utf-8")
    checks.expect_equal(text, "# new report\nrows read: 13\n", "the target after a write")
    checks.expect(
        target.stat().st_ino in seen["inodes"],
        "the target should BE the temporary file, renamed over the old one (os.replace), "
        "not a copy written into the old file",
    )
    left = sorted(p.name for p in folder.iterdir())
    checks.expect_equal(left, ["report.md"], "the files in the folder after a write")

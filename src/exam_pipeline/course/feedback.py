"""Feedback for each student (``exam-pipeline grade --feedback DIR``): Markdown and HTML.

One pair of files per submission, named after the student (``grading.student_id``): the
score, the status, and each check with its ``check_id``, pass or fail, points, and a message
the student can act on (the assertion's sentence, the last line of the error, "the output
differs", or that the time limit or a dead kernel stopped the run before it). The reference
outputs and the solution's answers are never in it: the messages come from the student's own
run, and a differing output shows only the student's output.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path

from exam_pipeline.core.files import atomic_write_text
from exam_pipeline.course.grading import Grade, student_id

#: What a student is told about the overall status, by its first word.
STATUS_HELP = {
    "ok": "Your notebook ran to the end.",
    "timeout": "Your notebook was stopped at the time limit: look for a loop that never ends "
    "or a step that waits for something forever. Checks after that point did not run.",
    "error": "Your notebook could not be graded completely; the reason is given above.",
}


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def _rows(grade: Grade) -> list[tuple[str, str, str, str]]:
    rows = []
    for check in grade.checks:
        rows.append(
            (
                check.check_id,
                "pass" if check.passed else "fail",
                f"{_points(check.earned)}/{_points(check.points)}",
                "" if check.passed else check.message,
            )
        )
    return rows


def _title(grade: Grade) -> str:
    lesson = f" for {grade.lesson}" if grade.lesson else ""
    return f"Feedback{lesson}: {student_id(grade.submission)}"


def to_markdown(grade: Grade) -> str:
    """The feedback as Markdown."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"# {_title(grade)}",
        "",
        f"Submission: `{Path(grade.submission).name}`",
        "",
        f"**Score: {grade.score:g} / 100** ({_points(grade.points)} of "
        f"{_points(grade.max_points)} points; {grade.passed} of {grade.total} checks passed)",
        "",
        f"Status: {grade.status}. {STATUS_HELP[grade.status.split(':')[0]]}",
        "",
        "| check | result | points | what to look at |",
        "|---|---|---:|---|",
    ]
    lines += [f"| `{c}` | {r} | {p} | {cell(m)} |" for c, r, p, m in _rows(grade)]
    if grade.notes:
        lines += ["", "Cells of yours that raised an error:", ""]
        lines += [f"- {cell(note)}" for note in grade.notes[:10]]
    return "\n".join(lines) + "\n"


def to_html(grade: Grade) -> str:
    """The same feedback as a standalone HTML page."""
    esc = html.escape
    rows = "\n".join(
        f'<tr class="{r}"><td><code>{esc(c)}</code></td><td>{r}</td><td>{esc(p)}</td>'
        f"<td>{esc(m)}</td></tr>"
        for c, r, p, m in _rows(grade)
    )
    notes = ""
    if grade.notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in grade.notes[:10])
        notes = f"<p>Cells of yours that raised an error:</p><ul>{items}</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(_title(grade))}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}
tr.pass td:nth-child(2){{color:#070}}tr.fail td:nth-child(2){{color:#a00}}</style></head>
<body><h1>{esc(_title(grade))}</h1>
<p>Submission: <code>{esc(Path(grade.submission).name)}</code></p>
<p><strong>Score: {grade.score:g} / 100</strong> ({_points(grade.points)} of
{_points(grade.max_points)} points; {grade.passed} of {grade.total} checks passed)</p>
<p>Status: {esc(grade.status)}. {esc(STATUS_HELP[grade.status.split(":")[0]])}</p>
<table><tr><th>check</th><th>result</th><th>points</th><th>what to look at</th></tr>
{rows}
</table>
{notes}
</body></html>
"""


def write_all(grades: Iterable[Grade], folder: str | Path) -> list[Path]:
    """``<student>.md`` and ``<student>.html`` per submission (a number added on a clash)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()
    for grade in grades:
        base = student_id(grade.submission) or "submission"
        name, number = base, 2
        while name in used:
            name, number = f"{base}-{number}", number + 1
        used.add(name)
        written.append(atomic_write_text(folder / f"{name}.md", to_markdown(grade)))
        written.append(atomic_write_text(folder / f"{name}.html", to_html(grade)))
    return written

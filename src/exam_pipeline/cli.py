"""The ``exam-pipeline`` command: run the analysis with any engine, or generate test data.

User errors (bad file, bad option, a database or server that does not answer) and an engine's
own failures (a task that failed) print one line on stderr and exit with status 2. ``python -m exam_pipeline`` is the same command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from exam_pipeline import __version__, engines
from exam_pipeline.core.config import RunConfig
from exam_pipeline.core.data import generate_scores
from exam_pipeline.core.outputs import BOXPLOT_PNG, REJECTED_CSV, REPORT_JSON, REPORT_MD
from exam_pipeline.core.validate import EngineFailed, PipelineError, PipelineInputError
from exam_pipeline.engines import monitoring
from exam_pipeline.engines.base import install_hint

PROG = "exam-pipeline"


def _engine_help() -> str:
    lines = [f"  {name:<8} {engines.ENGINES[name].lesson}" for name in engines.available()]
    absent = [
        f"  {name:<8} needs {', '.join(engines.missing(name))}: "
        f"{install_hint(engines.ENGINES[name])}"
        for name in engines.ENGINES
        if engines.missing(name)
    ]
    text = "engines available here:\n" + "\n".join(lines)
    return text + ("\nnot installed here:\n" + "\n".join(absent) if absent else "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Exam-score analysis pipeline: load, clean, describe, boxplot, t-test, report.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="analyse a CSV of exam scores and write the report",
        description="Analyse a CSV of exam scores and write report.json, report.md, "
        "scores_boxplot.png and rejected.csv into --out, and one row into --db.",
        epilog=_engine_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--input", type=Path, help="CSV file (default: the bundled lesson data)")
    run.add_argument(
        "--out", type=Path, default=Path("output"), help="output folder (default: output)"
    )
    run.add_argument(
        "--engine", default="pandas", help="how to run it (default: pandas; see below)"
    )
    run.add_argument("--test", default="welch", help="welch (default) or student")
    run.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    run.add_argument("--group-col", default="Class", help="column with the group (default: Class)")
    run.add_argument("--value-col", default="Score", help="column with the score (default: Score)")
    run.add_argument(
        "--encoding",
        help="the file's text encoding, e.g. cp1252 for a Windows export (default: UTF-8, or "
        "UTF-16 where the file starts with its byte-order mark)",
    )
    run.add_argument(
        "--db",
        help="SQLAlchemy URL to save the run to (default: sqlite:///<out>/results.db; 'none' to skip)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler for --engine dask, e.g. tcp://host:8786 (default: a local cluster); "
        "luigid URL for --engine luigi, e.g. http://127.0.0.1:8082 (default: "
        "$EXAM_PIPELINE_LUIGI_SCHEDULER, else the local scheduler)",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://127.0.0.1:PORT/metrics during the run (0: any free port)",
    )
    run.add_argument(
        "--log-format",
        choices=monitoring.LOG_FORMATS,
        help="log the run's steps on stderr as text or as JSON lines (default: no logs)",
    )
    run.set_defaults(handler=cmd_run)

    gen = sub.add_parser(
        "generate",
        help="write a synthetic, messy exam CSV (reproducible, constant memory)",
        description="Write a synthetic exam CSV: about 1%% junk scores and 1%% blanks.",
    )
    gen.add_argument("--rows", type=int, required=True, help="number of data rows")
    gen.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    gen.add_argument(
        "--effect", type=float, default=2.0, help="mean of B minus mean of A (default: 2)"
    )
    gen.add_argument(
        "--decimals",
        type=int,
        default=0,
        help="decimal places of each score (default: 0, whole points; 6: values that never repeat)",
    )
    gen.add_argument("--out", type=Path, required=True, help="CSV file to write")
    gen.set_defaults(handler=cmd_generate)

    grade = sub.add_parser(
        "grade",
        help="grade student notebooks against a solution (pytest --nbval, one CSV row each)",
        description="Run each submission with the solution's check cells and reference outputs "
        "under pytest --nbval; only check cells count. Without --sandbox student code runs as "
        "you: see docs/grading.md.",
    )
    grade.add_argument("--solution", type=Path, required=True, help="the solved notebook")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION", help="notebooks")
    grade.add_argument(
        "--out", type=Path, default=Path("grades.csv"), help="CSV (default: grades.csv)"
    )
    grade.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per notebook (default: 300)"
    )
    grade.add_argument("--jobs", type=int, default=1, help="notebooks graded at once (default: 1)")
    grade.add_argument("--keep", type=Path, help="keep each graded copy and pytest's output here")
    grade.add_argument(
        "--sandbox",
        action="store_true",
        help="run each submission in bubblewrap: no network, no view of your files, "
        "resource limits (Linux; Debian package bubblewrap)",
    )
    grade.add_argument(
        "--memory",
        type=int,
        metavar="MB",
        help="with --sandbox: memory (address space) per process in MB (default: 4096)",
    )
    grade.add_argument(
        "--feedback",
        type=Path,
        metavar="DIR",
        help="write one Markdown and one HTML feedback file per submission into DIR",
    )
    grade.add_argument(
        "--gradebook",
        action="store_true",
        help="add a student column and one points column per check to --out (Moodle's CSV "
        "grade import)",
    )
    grade.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a Dask cluster, e.g. tcp://host:8786 (each worker needs exam_pipeline "
        "installed; --jobs is then ignored)",
    )
    grade.set_defaults(handler=cmd_grade)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    config = RunConfig(
        input=args.input,
        out=args.out,
        engine=args.engine,
        test=args.test,
        alpha=args.alpha,
        group_col=args.group_col,
        value_col=args.value_col,
        db=args.db,
        scheduler=args.scheduler,
        encoding=args.encoding,
    )
    log_format = args.log_format or ("text" if args.metrics_port is not None else None)
    try:
        result = engines.run(config, log_format=log_format, metrics_port=args.metrics_port)
    except PipelineError:
        raise
    except Exception as exc:  # an engine's own failure: one line too, not a traceback
        raise EngineFailed(f"--engine {config.engine} failed: {type(exc).__name__}: {exc}") from exc
    print(result.to_markdown(), end="")
    names = ", ".join(
        str(Path(args.out) / n) for n in (REPORT_JSON, REPORT_MD, BOXPLOT_PNG, REJECTED_CSV)
    )
    print(f"Wrote {names}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise PipelineInputError(f"--out {args.out}: is a folder, expected a CSV file name")
    path = generate_scores(
        args.out, rows=args.rows, seed=args.seed, effect=args.effect, decimals=args.decimals
    )
    print(f"Wrote {args.rows} rows to {path}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    # imported here: `exam-pipeline run` does not need nbformat
    from exam_pipeline.course import grading, sandbox

    def show(grade: grading.Grade) -> None:
        print(grading.progress_line(grade), flush=True)

    grading.check_out(args.out)
    limits = None
    if args.memory is not None and not args.sandbox:
        raise PipelineInputError("--memory needs --sandbox (limits apply inside the sandbox)")
    if args.sandbox:
        limits = sandbox.Limits() if args.memory is None else sandbox.Limits(memory_mb=args.memory)
    if args.gradebook:
        grading.check_students(args.submissions)
    if args.feedback is not None and args.feedback.exists() and not args.feedback.is_dir():
        raise PipelineInputError(f"--feedback {args.feedback}: is a file, expected a folder")
    if args.scheduler:
        from exam_pipeline.course import grading_cluster

        grades = grading_cluster.grade_on_cluster(
            args.scheduler,
            args.solution,
            args.submissions,
            timeout=args.timeout,
            progress=show,
            sandbox=limits,
        )
    else:
        grades = grading.grade_all(
            args.solution,
            args.submissions,
            timeout=args.timeout,
            jobs=args.jobs,
            progress=show,
            keep=args.keep,
            sandbox=limits,
        )
    grading.write_csv(grades, args.out, gradebook=args.gradebook)
    print(grading.summary(grades), end="")
    written = [str(args.out)]
    if args.feedback is not None:
        from exam_pipeline.course import feedback

        feedback.write_all(grades, args.feedback)
        written.append(f"{len(grades)} feedback files in {args.feedback}")
    print(f"Wrote {', '.join(written)}")
    return 0


def one_line(message: str) -> str:
    """``message`` on one line: its lines joined with "; ".

    Some messages quote a library's own, which may span lines (a database driver's "connection
    refused" adds a hint on a second line); an error is one line on stderr, for a person and for
    a script that reads it.
    """
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except PipelineError as exc:
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Prove that the student install resolves to wheels only, with the pinned versions, on each
Python the course supports (``make check-wheels``, run by CI).

For each version, pip resolves ``pyproject.toml``'s dependencies and its ``course`` extra under ``constraints.txt`` as if
it ran on that Python (``--python-version``), accepting wheels only and installing nothing
(``--dry-run``): it fetches only the packages' metadata, so a run takes seconds once pip's cache
is warm. A pin with no wheel for that Python makes pip fail, and this script with it. Packages
that only that Python needs and constraints.txt does not pin are listed (pip chose them).

Usage: python .ci/check_wheels.py 3.11 3.12 3.13
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def student_install(project: dict) -> list[str]:
    """The base dependencies and the ``course`` extra, its own extras spelt out."""
    extras = project["optional-dependencies"]
    wanted = list(project["dependencies"])
    for req in extras["course"]:
        if req.startswith("exam-pipeline["):
            for extra in req.split("[", 1)[1].rstrip("]").split(","):
                wanted += extras[extra.strip()]
        else:
            wanted.append(req)
    return wanted


def pins() -> dict[str, str]:
    """constraints.txt as {canonical name: version}."""
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            found[canonical(name)] = version.strip()
    return found


def check(version: str, requirements: Path, work: Path) -> list[str]:
    """Resolve for ``version``; return the problems (empty when every pin has a wheel)."""
    report = work / f"report-{version}.json"
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
        "--only-binary=:all:", "--python-version", version, "--target", str(work / "target"),
        "-c", str(ROOT / "constraints.txt"), "-r", str(requirements), "--report", str(report),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [f"Python {version}: pip found no wheel-only install:\n{done.stderr.strip()}"]
    chosen = {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    pinned = pins()
    problems = [
        f"Python {version}: {name} {have} instead of the pinned {pinned[name]}"
        for name, have in chosen.items()
        if name in pinned and pinned[name] != have
    ]
    unpinned = sorted(f"{name}=={have}" for name, have in chosen.items() if name not in pinned)
    extra = f"; not in constraints.txt: {', '.join(unpinned)}" if unpinned else ""
    print(f"Python {version}: {len(chosen)} packages, all wheels{extra}", flush=True)
    return problems


def main(versions: list[str]) -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        requirements = work / "student.txt"
        requirements.write_text("\n".join(student_install(project)) + "\n")
        with ThreadPoolExecutor() as pool:  # pip mostly waits for the index: ask in parallel
            found = list(pool.map(lambda version: check(version, requirements, work), versions))
    problems = [problem for listed in found for problem in listed]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["3.11", "3.12", "3.13"]))

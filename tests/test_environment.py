"""environment.yml (conda) and pyproject.toml (pip) must ask for the same packages."""

from __future__ import annotations

import re

import tomllib
from packaging.requirements import Requirement

from conftest import ROOT

# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "prometheus_client": "prometheus-client"}
NOT_PACKAGES = {"python", "pip"}


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = data["project"]["dependencies"] + data["project"]["optional-dependencies"]["dev"]
    parsed = [Requirement(r) for r in reqs]
    return {r.name.lower(): str(r.specifier) for r in parsed}


def conda_requirements() -> dict[str, str]:
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)(?:\[\w+\])?\s*([<>=!,.0-9]*)\s*(#.*)?$", line)
        if match and match.group(1) not in NOT_PACKAGES and not match.group(1).startswith("-"):
            name = CONDA_TO_PYPI.get(match.group(1), match.group(1)).lower()
            found[name] = str(Requirement(f"x{match.group(2)}").specifier)
    return found


def test_same_packages_and_versions():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert set(pip) == set(conda), (
        f"only pip: {set(pip) - set(conda)}, only conda: {set(conda) - set(pip)}"
    )
    assert {k: v for k, v in pip.items() if conda[k] != v} == {}


def test_lock_pins_what_pyproject_asks_for():
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for name, spec in pyproject_requirements().items():
        assert name in pins, f"{name} is not pinned in constraints.txt (run make lock)"
        assert Requirement(f"x{spec}").specifier.contains(pins[name]), (
            f"{name}=={pins[name]} vs {spec}"
        )

"""environment.yml (conda) and pyproject.toml (pip) must ask for the same packages, and
constraints.txt must pin them all."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement

from conftest import ROOT

# conda-forge names that differ from PyPI names
CONDA_TO_PYPI = {"python-duckdb": "duckdb", "prometheus_client": "prometheus-client"}
NOT_PACKAGES = {"python", "pip"}


def pyproject_requirements(*, dev: bool) -> dict[str, str]:
    """The student install's requirements (dependencies and the ``course`` extra, whose
    ``exam-pipeline[luigi,prefect,dask,landscape]`` brings those extras), with ``dev`` also the
    dev, spark and dagster extras' (make install-dev)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = list(project["dependencies"])
    for req in map(Requirement, extras["course"]):
        if req.name == "exam-pipeline":
            reqs += [r for extra in sorted(req.extras) for r in extras[extra]]
        else:
            reqs.append(str(req))
    if dev:
        reqs = reqs + extras["dev"] + extras["spark"] + extras["dagster"]
    parsed = [Requirement(r) for r in reqs]
    return {r.name.lower(): str(r.specifier) for r in parsed}


def test_base_install_leaves_the_engine_libraries_to_extras():
    """A base ``pip install .`` runs pandas, stream and steps; Luigi, Prefect and Dask are extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {Requirement(r).name for r in project["dependencies"]}
    assert not base & {"luigi", "prefect", "dask", "distributed", "prefect-dask", "bokeh"}
    extras = project["optional-dependencies"]
    assert {Requirement(r).name for r in extras["luigi"]} == {"luigi"}
    assert "prefect" in {Requirement(r).name for r in extras["prefect"]}
    assert "dask" in {Requirement(r).name for r in extras["dask"]}


def conda_requirements() -> dict[str, str]:
    found = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        match = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)(?:\[\w+\])?\s*([<>=!,.0-9]*)\s*(#.*)?$", line)
        if match and match.group(1) not in NOT_PACKAGES and not match.group(1).startswith("-"):
            name = CONDA_TO_PYPI.get(match.group(1), match.group(1)).lower()
            found[name] = str(Requirement(f"x{match.group(2)}").specifier)
    return found


def test_conda_gets_what_a_student_gets_from_pip():
    pip, conda = pyproject_requirements(dev=False), conda_requirements()
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
    for name, spec in pyproject_requirements(dev=True).items():
        assert name in pins, f"{name} is not pinned in constraints.txt (run make lock)"
        assert Requirement(f"x{spec}").specifier.contains(pins[name]), (
            f"{name}=={pins[name]} vs {spec}"
        )


def test_one_range_of_pythons_everywhere():
    """requires-python, the conda file and the versions `make check-wheels` proves agree."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    checked = re.search(r"^SUPPORTED_PYTHONS := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    conda = re.search(r"^\s+- python([<>=!,.0-9]+)", (ROOT / "environment.yml").read_text(), re.M)
    assert checked and conda
    candidates = [f"3.{minor}" for minor in range(8, 20)]
    for spec in (project["requires-python"], conda.group(1)):
        served = [v for v in candidates if Requirement(f"x{spec}").specifier.contains(v)]
        assert served == checked.group(1).split(), spec

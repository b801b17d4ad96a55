# Data Pipelines in Python: every target sets up .venv first if it is missing or stale.
# Windows without make: see README ("Windows and macOS").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What a student gets (the course and its lessons), and on top of it the tools to test, lint and
# benchmark (pyproject's `dev` extra). Each stamp is older than its inputs when they changed.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# ruff reads .ipynb files itself (notebooks get the same rules as the code) and skips .venv
# and whatever .gitignore lists.
LINTED := .
PYTEST_ARGS ?=
# The Pythons the pins serve: pyproject's requires-python says the same.
SUPPORTED_PYTHONS := 3.11 3.12 3.13

.PHONY: install install-dev airflow test-landscape lock-airflow test grade-lessons run lab lock check-wheels test-students notebooks \
	student screenshots lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(BIN)/python -c "" 2>/dev/null || rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[course]"
	touch $(STAMP)

# The dev tools, and PySpark for --engine spark and lesson 12 (about 490 MB; needs a Java runtime).
$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[course,dev,spark]"
	touch $(DEV_STAMP)

# Apache Airflow 3.3 in a venv of its own: it needs fastapi<0.137, and Prefect 3.8 needs >=0.139.
# The package goes in without its dependencies (so without Prefect), plus what the DAG imports.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed
AIRFLOW_REQUIREMENTS := "apache-airflow>=3.3,<3.4" "pandas>=3,<4" "numpy>=2" "scipy>=1.11" \
	"matplotlib>=3.8" "pyarrow>=15"

$(AIRFLOW_STAMP): pyproject.toml constraints-airflow.txt
	rm -rf $(AIRFLOW_VENV)
	$(PY) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -c constraints-airflow.txt $(AIRFLOW_REQUIREMENTS)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(AIRFLOW_STAMP)

## The course and its lessons: what `make lab` needs.
install: $(STAMP)

## The course plus the tools to test, lint and benchmark it.
install-dev: $(DEV_STAMP)

## The whole suite: unit tests, CLI tests, every notebook and solution under nbval.
## Three workers on two cores: a test that waits (for a server, a subprocess, a sleep in a
## lesson) leaves its core to the others. With two, the cores stood idle 50 s of a 155 s run.
## --no-loadscope-reorder: files start in the order tests/support/session.py gives (the
## slowest first).
## Python's bytecode cache stays on even where PYTHONDONTWRITEBYTECODE is set (as on the course
## machines): without it every worker compiles and assertion-rewrites the test files again,
## about 2 s of CPU each. The caches are __pycache__ folders, which git ignores.
## -m "not landscape": lesson 12's notebooks (100-170 s each) and the Spark engine's agreement
## and degenerate-file cases (about 65 s) do not fit the two minutes; `make test-landscape` runs
## them (marker `landscape`: tests/support/landscape.py, and the Spark params in
## tests/test_engines_agree.py and tests/test_statistics.py). tests/test_landscape_split.py,
## part of this run, fails if test-landscape stops collecting them.
test: install-dev
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder -m "not landscape" $(PYTEST_ARGS)

## The student notebooks under nbval (a stub in every exercise, so each check fails as a
## student first sees it; everything else runs as in solutions/). They repeat the lessons'
## runs, about a minute of CPU, so `make test` leaves them here; CI runs this after it.
test-students: install-dev
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder -m "not landscape" notebooks $(PYTEST_ARGS)

## Grade every lesson for real, as an instructor's batch would: its solution scores 100, the
## untouched student version less, a gutted copy 0, a looping copy times out; every solution
## again in the --sandbox (the Prefect lessons with their temporary server inside it); and a
## batch on a real Dask cluster with a worker killed mid-batch. Slow (a few minutes), so not
## part of `make test`; CI runs it after the suite.
GRADING_TESTS := tests/test_grading.py tests/test_grading_sandbox.py tests/test_grading_cluster.py
grade-lessons: install-dev
	env -u PYTHONDONTWRITEBYTECODE EXAM_GRADE_LESSONS=1 $(BIN)/python -m pytest -n 3 $(GRADING_TESTS) -k grades_for_real $(PYTEST_ARGS)

## .venv-airflow (Airflow 3.3 and the package without Prefect), then lesson 12's exam DAG run
## once with dag.test() in it, its state in a temporary AIRFLOW_HOME (about 30 s).
airflow: $(AIRFLOW_STAMP) install
	$(BIN)/python -m exam_pipeline.lessons.airflow_run

## Lesson 12's slow tests, everything marked `landscape` (a few minutes; CI runs it after make
## test, with make airflow first): its notebooks, solution and student (with the exercises'
## wrong answers); the Spark engine against pandas and on degenerate files; Spark on a real
## standalone master and worker; the Airflow DAG in .venv-airflow.
LANDSCAPE_TESTS := solutions/12_landscape.ipynb notebooks/12_landscape.ipynb \
	tests/test_engines_agree.py tests/test_statistics.py tests/test_spark_cluster.py tests/test_airflow.py
test-landscape: install-dev
	env -u PYTHONDONTWRITEBYTECODE EXAM_LANDSCAPE_SLOW=1 $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m landscape $(LANDSCAPE_TESTS) $(PYTEST_ARGS)

## The analysis on the bundled lesson data, written to output/.
run: install
	$(BIN)/exam-pipeline run

## JupyterLab on the lessons, with a local Prefect server (UI on http://127.0.0.1:4200) that the
## kernels use and that stops with JupyterLab (src/exam_pipeline/course/lab.py).
lab: install
	$(BIN)/python -m exam_pipeline.course.lab notebooks

## Re-resolve the pinned versions in constraints.txt (needs the package index): the course and
## the dev tools in one fresh venv, so that one file pins both. Then run check-wheels.
lock:
	rm -rf /tmp/exam-pipeline-lock && $(PY) -m venv /tmp/exam-pipeline-lock
	/tmp/exam-pipeline-lock/bin/python -m pip install --quiet --upgrade pip
	/tmp/exam-pipeline-lock/bin/python -m pip install --quiet -e ".[course,dev,spark]"
	/tmp/exam-pipeline-lock/bin/python -m pip freeze --exclude-editable | grep -v "^-e" > constraints.txt

## Re-resolve constraints-airflow.txt (the Airflow venv's pins; needs the package index).
lock-airflow:
	rm -rf /tmp/exam-pipeline-lock-airflow && $(PY) -m venv /tmp/exam-pipeline-lock-airflow
	/tmp/exam-pipeline-lock-airflow/bin/python -m pip install --quiet --upgrade pip
	/tmp/exam-pipeline-lock-airflow/bin/python -m pip install --quiet $(AIRFLOW_REQUIREMENTS)
	{ sed -n '1,3p' constraints-airflow.txt; /tmp/exam-pipeline-lock-airflow/bin/python -m pip freeze; } > constraints-airflow.tmp
	mv constraints-airflow.tmp constraints-airflow.txt

## Every pin of the student install has a wheel for each Python the course supports (needs the
## package index; pip fetches only the packages' metadata).
check-wheels: install
	$(BIN)/python .ci/check_wheels.py $(SUPPORTED_PYTHONS)

## Refresh the generated navigation (nav cells, times, solutions/00_index.ipynb), re-execute
## every solution notebook from a fresh kernel (stores real outputs), then regenerate the
## student notebooks from them.
notebooks: install
	$(BIN)/python -m exam_pipeline.course.notebooks index solutions
	$(BIN)/python -m exam_pipeline.course.notebooks execute solutions/*.ipynb
	$(MAKE) student

student: install
	$(BIN)/python -m exam_pipeline.course.notebooks student solutions/*.ipynb --out notebooks

## The Prefect UI, Luigi's visualiser and the Dask dashboard photographed in headless chromium,
## with real servers on 127.0.0.1 (a minute or two; not part of make test): the PNGs in
## solutions/images/ and notebooks/images/ that lessons 05, 06 and 08 show.
screenshots: install-dev
	$(BIN)/python tools/screenshots.py

lint: install-dev
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

bench: install-dev
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_grading.py

clean:
	rm -rf output notebooks/output solutions/output test-artifacts .pytest_cache

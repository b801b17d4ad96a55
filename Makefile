# Data Pipelines in Python: every target sets up .venv first if it is missing or stale.
# Windows without make: see README ("Without make").
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# ruff reads .ipynb files itself (notebooks get the same rules as the code) and skips .venv
# and whatever .gitignore lists.
LINTED := .
PYTEST_ARGS ?=

.PHONY: install test grade-lessons run lab lock notebooks student lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	@$(BIN)/python -c "" 2>/dev/null || rm -rf $(VENV)
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## The whole suite: unit tests, CLI tests, every notebook and solution under nbval.
## Three workers on two cores: a test that waits (for a server, a subprocess, a sleep in a
## lesson) leaves its core to the others. With two, the cores stood idle 50 s of a 155 s run.
## --no-loadscope-reorder: files start in the order conftest.py gives (the slowest first).
## Python's bytecode cache stays on even where PYTHONDONTWRITEBYTECODE is set (as on the course
## machines): without it every worker compiles and assertion-rewrites the test files again,
## about 2 s of CPU each. The caches are __pycache__ folders, which git ignores.
test: install
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n 3 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

## Grade every lesson for real, as an instructor's batch would: its solution scores 100, the
## untouched student version less, a gutted copy 0, a looping copy times out; every solution
## again in the --sandbox (the Prefect lessons with their temporary server inside it); and a
## batch on a real Dask cluster with a worker killed mid-batch. Slow (a few minutes), so not
## part of `make test`; CI runs it after the suite.
GRADING_TESTS := tests/test_grading.py tests/test_grading_sandbox.py tests/test_grading_cluster.py
grade-lessons: install
	env -u PYTHONDONTWRITEBYTECODE EXAM_GRADE_LESSONS=1 $(BIN)/python -m pytest -n 3 $(GRADING_TESTS) -k grades_for_real $(PYTEST_ARGS)

## The analysis on the bundled lesson data, written to output/.
run: install
	$(BIN)/exam-pipeline run

lab: install
	$(BIN)/jupyter lab notebooks

## Re-resolve the pinned versions in constraints.txt (needs the package index).
lock:
	rm -rf /tmp/exam-pipeline-lock && $(PY) -m venv /tmp/exam-pipeline-lock
	/tmp/exam-pipeline-lock/bin/python -m pip install --quiet --upgrade pip
	/tmp/exam-pipeline-lock/bin/python -m pip install --quiet -e ".[dev]"
	/tmp/exam-pipeline-lock/bin/python -m pip freeze --exclude-editable | grep -v "^-e" > constraints.txt

## Re-execute every solution notebook from a fresh kernel (stores real outputs), then
## regenerate the student notebooks from them.
notebooks: install
	$(BIN)/python -m exam_pipeline.notebooks execute solutions/*.ipynb
	$(MAKE) student

student: install
	$(BIN)/python -m exam_pipeline.notebooks student solutions/*.ipynb --out notebooks

lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

format: install
	$(BIN)/ruff check --fix $(LINTED)
	$(BIN)/ruff format $(LINTED)

bench: install
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_grading.py

clean:
	rm -rf output notebooks/output solutions/output test-artifacts .pytest_cache

# embedview developer commands.  `make run` and `make test` work on a fresh clone:
# they create .venv, install embedview with its test extras, then run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup run demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: open the app on the built-in demo data with the offline default encoders.
run: setup
	$(PY) -m embedview demo

# The same job without a window: encode the demo data and write an HTML report.
demo: setup
	$(PY) -m embedview demo --headless -o demo-report.html

# The whole test suite, offscreen.  pytest's exit code 5 (no tests collected) is a failure.
test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check embedview tests benchmarks packaging

bench: setup
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) build dist *.egg-info

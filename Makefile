# embedview developer commands.  `make run` and `make test` work on a fresh clone:
# they create .venv, install embedview with its test extras, then run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# The headless job (like napari's): the Qt-free layers' tests in an environment where Qt cannot be
# imported, so a Qt import sneaking into core / model / runtime / actions fails CI, not a user.
HEADLESS       ?= .venv-headless
HEADLESS_STAMP := $(HEADLESS)/.built
# Distributions left out of the headless environment (their packages and their .dist-info).
QT_DISTS       := PySide6 PySide6-Essentials PySide6-Addons shiboken6 pyqtgraph pytest-qt
# Test folders / files of the Qt-free layers (tests/test_headless.py checks they import no Qt), and
# the quick encoder tests (the encoder host's child process runs them without Qt); the real-model
# encoder tests run in `make test` only.  Missing paths are skipped ($(wildcard)).
HEADLESS_TESTS := tests/core tests/model tests/runtime tests/actions tests/test_cli.py \
                  tests/test_cli_audit.py tests/test_cli_drift.py tests/test_cli_baseline.py tests/test_api.py \
                  tests/encoders/test_registry.py tests/encoders/test_pipeline.py

.PHONY: setup run sysdeps demo test test-headless lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# The main job: open the app on the built-in demo data with the offline default encoders.
# First the system libraries Qt's window needs on Linux: when one is missing, this stops with the
# exact apt-get / dnf command (rather than Qt's abort, which names xcb-cursor0 whatever is missing).
run: setup
	$(PY) -m embedview.sysdeps --quiet
	$(PY) -m embedview demo

# The system-library check alone.
sysdeps: setup
	$(PY) -m embedview.sysdeps

# The same job without a window: encode the demo data and write an HTML report.
demo: setup
	$(PY) -m embedview demo --headless -o demo-report.html

# The whole test suite, offscreen.  pytest's exit code 5 (no tests collected) is a failure.
test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# .venv-headless: a fresh venv (no pip, seconds to build) whose site-packages links every entry of
# .venv's site-packages, the editable embedview install included, except the Qt distributions.
# Rebuilt when .venv's site-packages gains or loses an entry (a package installed by hand).
$(HEADLESS_STAMP): $(STAMP) $(wildcard $(VENV)/lib/python*/site-packages)
	rm -rf $(HEADLESS)
	$(PY) -m venv --without-pip $(HEADLESS)
	src=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	dst=$$($(HEADLESS)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	skip=$$($(PY) -c 'import sys, re, importlib.metadata as md; \
	  norm = lambda s: re.sub(r"[-_.]+", "-", s).lower(); \
	  dists = {norm(x.metadata["Name"]): x for x in md.distributions()}; \
	  tops = {f.parts[0] for d in sys.argv[1:] if norm(d) in dists for f in dists[norm(d)].files or []}; \
	  print(" ".join(sorted(tops - {"..", "__pycache__"})))' $(QT_DISTS)); \
	[ -n "$$skip" ] || { echo "found none of $(QT_DISTS) in $(VENV): nothing to leave out?"; exit 1; }; \
	echo "headless: leaving out $$skip"; \
	for entry in "$$src"/*; do \
	  name=$$(basename "$$entry"); \
	  case " $$skip " in *" $$name "*) continue;; esac; \
	  ln -s "$$entry" "$$dst/$$name"; \
	done
	touch $(HEADLESS_STAMP)

# The Qt-free layers' tests with Qt absent.  PySide6 must not import there; exit code 5 fails.
test-headless: $(HEADLESS_STAMP)
	@if $(HEADLESS)/bin/python -c 'import PySide6' 2>/dev/null; then \
	  echo "PySide6 imports in $(HEADLESS): the headless job would prove nothing"; exit 1; fi
	@if $(HEADLESS)/bin/python -c 'import pyqtgraph' 2>/dev/null; then \
	  echo "pyqtgraph imports in $(HEADLESS)"; exit 1; fi
	$(HEADLESS)/bin/python -m pytest -p no:cacheprovider -W "ignore:Unknown config option:pytest.PytestConfigWarning" \
	  $(PYTEST_ARGS) $(wildcard $(HEADLESS_TESTS)); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# Static checks: import layers, ruff (rules in pyproject.toml), mypy on the Qt-free layers.
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check embedview tests benchmarks packaging
	$(VENV)/bin/mypy

bench: setup
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) $(HEADLESS) build dist *.egg-info .mypy_cache

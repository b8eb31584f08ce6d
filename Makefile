# Every target sets itself up on a fresh machine: it creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench lessons install clean

demo: $(INSTALLED)  ## the library in one minute: variants agree, naive vs fast speedup
	$(PY) benchmarks/demo.py

test: $(INSTALLED)  ## everything, the oracle tests against PyTorch included
	$(PY) -m pytest

bench: $(INSTALLED)  ## speed of naive / im2col / fast against PyTorch CPU
	$(PY) benchmarks/bench_layers.py

lessons: $(INSTALLED)  ## regenerate lessons/ from solutions/ with nbgrader (never edit lessons/ by hand)
	rm -rf lessons
	db=$$(mktemp -d) && trap 'rm -rf "$$db"' EXIT && \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" nbgrader generate_assignment '*' --force --db="sqlite:///$$db/gradebook.db"

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,oracle]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

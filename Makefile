# Every target sets itself up on a fresh machine: it creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test bench lab lessons browser install system clean

demo: $(INSTALLED)  ## the library in one minute: variants agree, naive vs fast speedup
	$(PY) benchmarks/demo.py

test: $(INSTALLED) system  ## everything: oracle tests against PyTorch, notebooks, widgets, browser
	$(PY) -m pytest

bench: $(INSTALLED)  ## speed of naive / im2col / fast against PyTorch CPU, and widget update times
	$(PY) benchmarks/bench_layers.py
	$(PY) benchmarks/bench_widgets.py

browser: $(INSTALLED) system  ## the explorers in JupyterLab + headless chromium; screenshots in test-artifacts/
	$(PY) -m pytest -m browser tests/test_browser.py

lab: $(INSTALLED)  ## JupyterLab on the lessons
	$(VENV)/bin/jupyter lab --notebook-dir=lessons

lessons: $(INSTALLED)  ## regenerate lessons/ from solutions/ with nbgrader (never edit lessons/ by hand)
	rm -rf lessons
	db=$$(mktemp -d) && trap 'rm -rf "$$db"' EXIT && \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" nbgrader generate_assignment '*' --force --db="sqlite:///$$db/gradebook.db"

install: $(INSTALLED)

system:  ## Debian packages the browser tests need (chromium for Playwright)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "chromium is missing: sudo apt-get install chromium (until then the browser tests skip)"; fi; fi

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,oracle,widgets,browser]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info

# Every target sets itself up on a fresh machine: it creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HUB := .hub
HUB_VENV := /opt/cnn-backprop/venv
STUDENT_ENV := .student

.PHONY: demo test test-fast lint bench lab lessons browser hub hub-setup student-bundle student-env install system sandbox clean

demo: $(INSTALLED) sandbox  ## the library at work, then a sample class graded end to end in scratch/demo
	$(PY) benchmarks/demo.py
	$(PY) -m autograder.demo --jobs 2

test: $(INSTALLED) system sandbox hub-setup  ## everything: oracle, notebooks, grading, widgets, browser, hub
	$(PY) -m pytest

test-fast: $(INSTALLED)  ## the unit layer, under a minute: no notebooks, grading, sandbox, hub, browser, oracle, widgets, fresh environments
	$(PY) -m pytest -q -m "not (notebooks or autograder or sandbox or hub or browser or oracle or slow or widgets)"

lint: $(INSTALLED)  ## ruff, as pyproject.toml configures it (the test suite runs it too)
	$(VENV)/bin/ruff check .

bench: $(INSTALLED) sandbox  ## layers against PyTorch CPU, widget update times, notebooks graded per minute (pool and Dask), the sandbox's defences
	$(PY) benchmarks/bench_layers.py
	$(PY) benchmarks/bench_widgets.py
	$(PY) benchmarks/bench_autograder.py
	$(PY) benchmarks/bench_sandbox.py
	$(PY) benchmarks/bench_cluster.py

browser: $(INSTALLED) system  ## the explorers in JupyterLab + headless chromium; screenshots in test-artifacts/
	$(PY) -m pytest -m browser tests/test_browser.py

lab: student-env  ## JupyterLab on your copy of the lessons (work/), as a student has them: no reference solutions
	mkdir -p work && cp -rn dist/student/lessons/. work/
	$(STUDENT_ENV)/bin/jupyter lab --notebook-dir=work

student-env: student-bundle  ## the student environment in .student/: the bundle, its dependencies, JupyterLab
	test -x $(STUDENT_ENV)/bin/python || $(PYTHON) -m venv $(STUDENT_ENV)
	$(STUDENT_ENV)/bin/pip install --quiet --force-reinstall --no-deps dist/student
	$(STUDENT_ENV)/bin/pip install --quiet dist/student "jupyterlab>=4,<5"

lessons: $(INSTALLED)  ## record what each test cell grades, regenerate lessons/ with nbgrader (never edit lessons/ by hand)
	$(PY) -m autograder release

install: $(INSTALLED)

system:  ## Debian packages: chromium (browser test), npm (hub proxy), python3-venv (hub users' env), postgresql
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	/usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (sudo apt-get install$$missing; their tests skip until then)"; fi; fi

hub: hub-setup sandbox  ## the course on a local JupyterHub, 127.0.0.1:8000 (root; DEMO login)
	$(HUB_VENV)/bin/python deploy/local_hub.py

sandbox:  ## Debian's bubblewrap: the grader runs student code in it (and refuses to grade without it)
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; \
	  else echo "bubblewrap is missing (sudo apt-get install bubblewrap): grading refuses to run without it"; fi; }

hub-setup: system  ## npm proxy in .hub/, the hub users' Python env in /opt/cnn-backprop/venv (root)
	@set -e; if ! command -v npm >/dev/null || [ ! -x /usr/bin/python3 ] || [ "$$(id -u)" != 0 ]; then \
	  echo "the hub needs root, npm and /usr/bin/python3: the hub test skips (and fails under CI=true)"; \
	else \
	  test -x $(HUB)/node_modules/.bin/configurable-http-proxy || npm install --prefix $(HUB) --no-audit --no-fund configurable-http-proxy; \
	  $(MAKE) --no-print-directory $(HUB_VENV)/.installed; \
	fi

# the instructor's and the hub's packages and the ngshare exchange (pyproject.toml's extras), no
# course code: outside the checkout, so that every Unix user can run it wherever the course was cloned
$(HUB_VENV)/.installed: pyproject.toml deploy/requirements.py
	/usr/bin/python3 -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/pip install --quiet $$(/usr/bin/python3 deploy/requirements.py instructor hub ngshare)
	$(HUB_VENV)/bin/pip install --quiet --no-deps $$(/usr/bin/python3 deploy/requirements.py --no-deps)
	touch $@

student-bundle: $(INSTALLED)  ## dist/student: lessons + cnn_utils without reference/ and grading/
	$(PY) deploy/make_student_bundle.py --out dist/student

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,oracle,hub,postgres]'
	touch $@

clean:
	rm -rf $(VENV) $(HUB) $(STUDENT_ENV) dist scratch .pytest_cache .hypothesis *.egg-info

# mltrack — every target installs what it needs; see README.md.
SHELL := /bin/bash
PYTHON ?= python3
# The interpreter the project's .venv is built on (uv's `--python`); PYTHON runs the
# bootstrap. CI sets it to the distribution's Python when there is one (see .ci/run).
VENV_PYTHON ?= $(PYTHON)
export NO_MKDOCS_2_WARNING := 1
export UV_PYTHON_DOWNLOADS := never
# Imports read the .pyc files written at install time: with PYTHONDONTWRITEBYTECODE set (as
# in CI here) Python would otherwise compile all of mlflow from source in every process.
export UV_COMPILE_BYTECODE := 1
# Deferred (=): on a fresh machine uv only exists once `bootstrap` has run, and pip may put it
# in the interpreter's bin directory rather than on PATH, so ask the uv package where it is.
UV = $(shell command -v uv 2>/dev/null || $(PYTHON) -c "import uv; print(uv.find_uv_bin())" 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN = $(UV) run --no-sync

.PHONY: help bootstrap install extras chromium test test-fast docs build build-zensical docs-deploy lint typecheck bench clean

help:
	@echo "make docs   - set up, execute all examples/notebooks, serve http://127.0.0.1:8000"
	@echo "make test   - set up and run the whole test suite (unit, integration, browser)"
	@echo "make build  - strict docs build into site/"
	@echo "make build-zensical - the same site built with Zensical (livedocs blocks only; see contributing)"
	@echo "make docs-deploy [VERSION=x.y] [PUSH=1] - publish a docs version with mike (gh-pages)"
	@echo "make lint   - ruff + mypy"
	@echo "make bench  - run every benchmark under scripts/bench/"

bootstrap:
	@PYTHON=$(PYTHON) bash scripts/bootstrap.sh

# --inexact: keep the PyTorch CPU wheel that `extras` installs outside the lock.
install: bootstrap
	@$(UV) sync --inexact --python $(VENV_PYTHON) --extra docs-examples
	@$(MAKE) --no-print-directory extras
	@# The editable install leaves mltrack itself uncompiled, and PYTHONDONTWRITEBYTECODE (set in
	@# CI) would make every fresh interpreter compile it again: write its .pyc files once here.
	@$(RUN) python -m compileall -q -j 0 mltrack >/dev/null
	@# ipykernel writes the spec through a temp dir it never removes: give it one we remove.
	@tmp=$$(mktemp -d) && TMPDIR=$$tmp $(RUN) python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mltrack)" >/dev/null; status=$$?; rm -rf "$$tmp"; exit $$status
	@if command -v npm >/dev/null 2>&1; then npm ci --no-audit --no-fund --loglevel=error; else echo "npm not found: the accessibility test (axe-core) will be skipped" >&2; fi

# The PyTorch, Keras (torch backend) and Transformers examples need torch. The lock would
# pull a CUDA build (GBs), so it comes from a local CPU wheel when the machine has one
# (TORCH_WHEEL=path to use another); without it those examples print their skip message.
TORCH_WHEEL ?= $(firstword $(wildcard /opt/wheels/torch-*+cpu-cp311-*.whl))
extras:
	@if ! $(RUN) python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is None)"; then \
	  if [ -n "$(TORCH_WHEEL)" ] && [ -f "$(TORCH_WHEEL)" ]; then \
	    echo "extras: installing PyTorch (CPU) from $(TORCH_WHEEL)"; \
	    $(UV) pip install --quiet --python "$${UV_PROJECT_ENVIRONMENT:-.venv}/bin/python" "$(TORCH_WHEEL)" \
	      || echo "extras: could not install $(TORCH_WHEEL): the PyTorch, Keras-on-PyTorch and Transformers examples will show their skip message" >&2; \
	  else \
	    echo "extras: no PyTorch CPU wheel (set TORCH_WHEEL=...): the PyTorch, Keras-on-PyTorch and Transformers examples will show their skip message" >&2; \
	  fi; \
	fi

chromium:
	@bash scripts/ensure_chromium.sh

# The browser tests read the strict build made here (one build, shared with `make build`'s cache).
# The other tests run in parallel workers: most of their time is spent waiting on servers
# and subprocesses, so more workers than cores pays. The browser tests run after them, on
# workers of their own (a file's tests share one worker and one Chromium: see
# tests/conftest.py), so their page-load timings do not compete with the servers above.
# With PYTEST_ARGS narrowing the run, a half with nothing selected (pytest's exit 5) is not
# a failure.
TEST_WORKERS ?= 4
BROWSER_WORKERS ?= 3
test: install chromium
	@$(RUN) mkdocs build --strict --site-dir site
	@MLTRACK_SITE_DIR="$(CURDIR)/site" $(RUN) pytest -m "not browser" -n $(TEST_WORKERS) --durations=20 $(PYTEST_ARGS) \
	  || { status=$$?; [ $$status -eq 5 ] && [ -n "$(PYTEST_ARGS)" ] || exit $$status; }
	@MLTRACK_SITE_DIR="$(CURDIR)/site" $(RUN) pytest -m browser -n $(BROWSER_WORKERS) --durations=10 $(PYTEST_ARGS) \
	  || { status=$$?; [ $$status -eq 5 ] && [ -n "$(PYTEST_ARGS)" ] || exit $$status; }

test-fast: install
	@$(RUN) pytest -m "not slow and not browser" -n $(TEST_WORKERS) $(PYTEST_ARGS)

docs: install
	@$(RUN) mkdocs serve --dev-addr 127.0.0.1:8000

build: install
	@$(RUN) mkdocs build --strict

# Zensical runs Python-Markdown extensions, not MkDocs plugins: the examples execute first
# (`ml docs run`, which records failures too), then the livedocs fence renders each block
# from the cache and fails the build on a failed or never-executed one. `zensical build
# --clean` empties all of .cache/, so this build keeps its livedocs cache apart (seeded
# from MkDocs' one: only what changed since `make build` runs again) and hands it back
# afterwards, so the next `make build` does not run everything again.
ZENSICAL_CACHE := .zensical-livedocs
build-zensical: install
	@mkdir -p $(ZENSICAL_CACHE) && if [ -d .cache/livedocs ]; then cp -a .cache/livedocs/. $(ZENSICAL_CACHE)/; fi
	@MLTRACK_DOCS__CACHE_DIR=$(ZENSICAL_CACHE) $(RUN) ml docs run
	@MLTRACK_DOCS__CACHE_DIR=$(ZENSICAL_CACHE) MLTRACK_LIVEDOCS_STRICT=1 $(RUN) zensical build --clean; \
	  status=$$?; mkdir -p .cache/livedocs && cp -a $(ZENSICAL_CACHE)/. .cache/livedocs/; exit $$status

# Versioned docs: mike commits VERSION (default: the package version) to the gh-pages
# branch and points `latest` at it; PUSH=1 also pushes the branch.
VERSION ?= $(shell $(RUN) python -c "from importlib.metadata import version; print(version('mltrack'))")
docs-deploy: install
	@$(RUN) mike deploy --config-file mkdocs.mike.yml --update-aliases $(if $(filter 1,$(PUSH)),--push) $(VERSION) latest
	@$(RUN) mike set-default --config-file mkdocs.mike.yml $(if $(filter 1,$(PUSH)),--push) latest

lint: install
	@$(RUN) ruff check mltrack tests scripts examples
	@$(RUN) ruff format --check mltrack tests scripts examples
	@$(RUN) mypy mltrack

bench: install
	@for f in scripts/bench/*.py; do echo "== $$f"; $(RUN) python $$f || exit 1; done

clean:
	rm -rf site .cache .zensical-livedocs .pytest_cache .mypy_cache .ruff_cache

# The README's commands. `make demo` serves the demo study; `make test` runs the suite;
# `make manage ARGS="..."` and `make scoring ARGS="..."` run any command inside the project's
# environment (from the repository root, so relative paths start there).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# Development defaults: DEBUG=1 lets the app start without a SECRET_KEY. For a team server
# set DEBUG=0 and SECRET_KEY=... in the environment (they take precedence over these).
DEBUG ?= 1
MANAGE := DEBUG=$(DEBUG) $(BIN)/python manage.py

.PHONY: install demo serve manage scoring test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# The CPU build of torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[metrics,dev]'
	touch $(STAMP)

install: $(STAMP)

# The web server and, beside it, a worker for background jobs (metric computations, result
# recomputation: every queue of django-tasks' database backend). When the server stops
# (Ctrl-C, or it fails to start), the worker is stopped too: asked once, and if it is in
# the middle of a job, told again, which ends the job as failed rather than leaving it
# running with no one to finish it.
define serve_with_worker
	@$(MANAGE) db_worker --queue-name '*' --no-reload --interval 1 --verbosity 0 & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; sleep 1; kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	echo "Serving http://$(HOST):$(PORT) with a background worker (Ctrl-C stops both)"; \
	$(MANAGE) runserver $(HOST):$(PORT)
endef

demo: install
	$(MANAGE) migrate --noinput
	$(MANAGE) load_demo --url http://$(HOST):$(PORT)/
	$(serve_with_worker)

# The server and its worker without loading the demo (e.g. on a database of your own).
serve: install
	$(MANAGE) migrate --noinput
	$(serve_with_worker)

manage: install
	$(MANAGE) $(ARGS)

scoring: install
	$(BIN)/python -m scoring $(ARGS)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy scoring

bench: install
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache

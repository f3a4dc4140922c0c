# Courtside: the README's commands. `make demo` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PYTHON_DOWNLOADS := never

.PHONY: setup runtime demo test lint typecheck check clean bench browser screenshots lock chaos

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Courtside needs Python 3.12+ (see .python-version); got " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv

# Two locks, both from pyproject.toml (`make lock`): requirements.lock is what production runs
# (and all `make demo` installs); requirements-dev.lock adds the tests, linters, type checker,
# Playwright and the benchmark's clients, at the same versions for every shared package.
# Each target installs exactly the locked versions (hashes checked) and re-runs when its lock
# changes. A development environment already holds everything production needs, so `make demo`
# leaves it as it is.
$(VENV)/.synced-dev: requirements-dev.lock requirements.lock | $(BIN)/uv
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements-dev.lock
	@touch $@

$(VENV)/.synced-prod: requirements.lock requirements-dev.lock | $(BIN)/uv
	@if [ $(VENV)/.synced-dev -nt requirements.lock ] && [ $(VENV)/.synced-dev -nt requirements-dev.lock ]; then \
	  echo "Development environment: it already has the production packages."; \
	else \
	  rm -f $(VENV)/.synced-dev; \
	  echo "$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock"; \
	  $(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock; \
	fi
	@touch $@

# Everything for development (tests, lint, type checks, benchmark).
setup: $(VENV)/.synced-dev

# Only what production runs.
runtime: $(VENV)/.synced-prod

# Re-resolve both locks from pyproject.toml (keeping the current versions where they still fit;
# `uv pip compile --upgrade-package NAME` for more). The dev lock is constrained to the
# production one, so shared packages never differ.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --custom-compile-command "make lock" \
	  pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --custom-compile-command "make lock" \
	  --extra dev -c requirements.lock pyproject.toml -o requirements-dev.lock

demo: runtime
	COURTSIDE_DEMO=1 $(BIN)/python manage.py migrate --noinput
	COURTSIDE_DEMO=1 $(BIN)/python manage.py load_demo
	@echo "Courtside demo: http://$(HOST):$(PORT)/  (logins player, parent, coach, staff, admin; password demo)"
	@echo "Emails are printed here by manage.py send_mail, which runs beside the server."
	COURTSIDE_DEMO=1 $(BIN)/python manage.py send_mail & sender=$$!; \
	trap 'kill $$sender 2>/dev/null' EXIT INT TERM; \
	COURTSIDE_DEMO=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests (Playwright's own download cannot work here).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core)

screenshots: setup browser
	$(BIN)/python -m tests.browser.screenshots

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	COURTSIDE_DEMO=1 $(BIN)/python manage.py makemigrations --check --dry-run

typecheck: setup
	COURTSIDE_DEMO=1 $(BIN)/mypy config bookings scheduling realtime

check: lint test

# The live path measured on the real stack: a fresh PostgreSQL database (created and dropped),
# Redis, 4 `manage.py serve` workers, separate client and trigger processes. About 12 minutes
# (at most 20); writes var/bench/summary.json and the tables in docs/benchmarks.md. Needs
# PostgreSQL and Redis on 127.0.0.1 (see .ci/). The file limit is raised for 5,000+ sockets.
bench: setup
	ulimit -n 65536 2>/dev/null || ulimit -n $$(ulimit -Hn); \
	$(BIN)/python -m tests.bench --docs docs/benchmarks.md $(BENCH_ARGS)

# The live path under faults (workers SIGKILLed, Redis restarted, frames lost, writers dying
# after COMMIT) on a stack of its own; not part of `make test`. About 7-8 minutes; writes
# docs/chaos.md. Needs PostgreSQL, redis-server and Chromium.
chaos: setup
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var db.sqlite3 staticfiles

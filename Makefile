# The two commands: `make run` (the whole portal on this machine) and `make test` (the suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install install-dev lint migrate seed bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || (rm -rf $(VENV); sleep 2; $(PYTHON) -m venv $(VENV))
	@$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e ".[dev]"
	@# axe-core: the accessibility audit the browser tests run in every customer page
	@test -f var/node/node_modules/axe-core/axe.min.js || npm install --prefix var/node --no-audit --no-fund axe-core@4
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Web server, the two Celery workers (default queue; upstream calls on a threads pool), Celery beat and
# the sandbox upstream; Ctrl-C stops them all.
run: seed
	@echo "Portal: http://$(HOST):$(PORT)/   admin: http://$(HOST):$(PORT)/admin/   Ctrl-C stops everything."
	@trap 'trap - INT TERM EXIT; kill -- $$(jobs -p) 2>/dev/null; wait' INT TERM EXIT; \
	$(PY) manage.py run_sandbox & \
	$(VENV)/bin/celery -A portal worker --loglevel INFO --concurrency 2 --queues celery --hostname default@%h & \
	DATABASE_POOL_MAX_SIZE=8 $(VENV)/bin/celery -A portal worker --loglevel INFO --pool threads --concurrency 8 --queues upstream --hostname upstream@%h & \
	$(VENV)/bin/celery -A portal beat --loglevel INFO & \
	$(PY) manage.py runserver --noreload $(HOST):$(PORT) & \
	wait -n; echo "A portal process stopped; stopping the others."

lint: install-dev
	$(VENV)/bin/ruff check .

test: install-dev
	$(VENV)/bin/ruff check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/bandit -q -c security/bandit.yaml -b security/bandit-baseline.json -r portal workvisits
	$(PY) security/pip_audit.py
	$(VENV)/bin/pytest -n 2 --dist loadgroup --durations=20

bench: install-dev
	$(PY) bench/api.py
	$(PY) bench/pipeline.py

clean:
	rm -rf var/broker var/db.sqlite3

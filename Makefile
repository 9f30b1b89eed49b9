# JUICE: `make demo` serves the site on embedded defaults; `make test` runs the suite on the
# real services (PostgreSQL, Redis, Celery workers, ffmpeg, headless Chromium).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/juice
TEST_BROKER_URL ?= redis://127.0.0.1:6379/0

.PHONY: help install demo-install system-deps browser-deps services test lint demo demo-serve bench clean

help:
	@echo "make demo   - install into .venv, build the demo, serve http://127.0.0.1:8000"
	@echo "make test   - run the whole suite on PostgreSQL, Redis, ffmpeg and Chromium"
	@echo "make lint   - ruff check"
	@echo "make bench  - run the benchmarks under bench/ (prints figures)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first and by exact version: the CPU build installs from local disk, where a plain
# `torch` requirement would pull gigabytes of CUDA packages. The demo needs requirements.txt only;
# the tests add requirements-dev.txt (pytest, Playwright, ruff) and Chromium.
$(VENV)/.demo-installed: requirements.txt | $(BIN)/python
	@echo "installing torch (the CPU build) into $(VENV): the longest step, a few minutes on a fresh machine"
	$(BIN)/pip install -q "torch==2.13.0"
	@echo "installing the platform's packages (requirements.txt: Django, Celery, diffusers, PyAV, pandas, ...)"
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed: requirements.txt requirements-dev.txt $(VENV)/.demo-installed
	@echo "installing the test tools (requirements-dev.txt: pytest, Playwright, ruff)"
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed system-deps browser-deps

demo-install: $(VENV)/.demo-installed system-deps

# ffmpeg for everyone; Chromium only for the browser tests.
system-deps:
	@command -v ffprobe >/dev/null || { \
		echo "installing ffmpeg with apt-get"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq ffmpeg >/dev/null \
		|| { echo "error: could not install ffmpeg; install it with your package manager" >&2; exit 1; }; }

browser-deps:
	@[ -x /usr/bin/chromium ] || { \
		echo "installing chromium with apt-get (for the browser tests)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null \
		|| { echo "error: could not install chromium; install it with your package manager" >&2; exit 1; }; }

# Start PostgreSQL and Redis when they are installed but stopped; say what is missing otherwise.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
		command -v pg_ctlcluster >/dev/null || { echo "error: PostgreSQL is not running on 127.0.0.1:5432 and is not installed (apt-get install postgresql)" >&2; exit 1; }; \
		echo "starting PostgreSQL"; $(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
		for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
		pg_isready -q -h 127.0.0.1 -p 5432 || { echo "error: PostgreSQL did not start" >&2; exit 1; }; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		command -v redis-server >/dev/null || { echo "error: Redis is not running on 127.0.0.1:6379 and is not installed (apt-get install redis-server)" >&2; exit 1; }; \
		echo "starting Redis"; mkdir -p /var/lib/redis /var/log/redis; \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/juice.log; \
		for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done; \
		redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { echo "error: Redis did not start" >&2; exit 1; }; }

test: install services
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# The demo runs on the embedded defaults whatever the shell exports: an SQLite file under var/,
# and tasks in the web server's process (no broker), so nothing else needs to run.
DEMO_PORT ?= 8000
DEMO_ENV := env -u DATABASE_URL -u CELERY_BROKER_URL

demo: demo-install
	@$(MAKE) --no-print-directory demo-serve DEMO_PORT=$(DEMO_PORT)

# demo without the install step (tests/test_demo.py runs it in a fresh clone).
demo-serve:
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py demo --base-url http://127.0.0.1:$(DEMO_PORT)
	@echo "Serving http://127.0.0.1:$(DEMO_PORT)/ with the worker in the same process; Ctrl-C stops it."
	$(DEMO_ENV) $(BIN)/python manage.py runserver --noreload --insecure 127.0.0.1:$(DEMO_PORT)

bench: install services
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var

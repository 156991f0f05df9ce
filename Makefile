# Parley: `make run` starts the server on ./data, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8080
DATA ?= ./data

.PHONY: run test test-postgres install bench bench-chat bench-signaling bench-shutdown bench-https clean

$(BIN)/parley: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip setuptools wheel
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(BIN)/parley

install: $(BIN)/parley

run: install
	$(BIN)/parley serve --bind $(BIND) --data-dir $(DATA)

test: install
	$(BIN)/python -m pytest -q
	$(MAKE) test-postgres

# The whole API suite again, on a PostgreSQL the tests start themselves (tests/pg_support.py).
test-postgres: install
	PARLEY_TEST_DB=postgres $(BIN)/python -m pytest -q tests/api

# Signaling relay latency (polling, WebSocket) and WebSocket throughput; see docs/PERFORMANCE.md.
bench-signaling: install
	$(BIN)/python bench/signaling_relay.py

# Chat fan-out benchmark (not a test; about 70 s); see docs/PERFORMANCE.md.
bench-chat: install
	$(BIN)/python bench/chat_fanout.py

# SIGTERM with 3,000 parked chat polls, 200 signaling pulls and 100 WebSockets; see docs/PERFORMANCE.md.
bench-shutdown: install
	$(BIN)/python bench/shutdown.py

# Per-request cost of built-in TLS and of nginx in front (contrib/nginx/parley.conf); docs/PERFORMANCE.md.
bench-https: install
	$(BIN)/python bench/https_paths.py

bench: bench-chat bench-signaling

clean:
	rm -rf $(VENV) build *.egg-info

# Parley: `make run` starts the server on ./data, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8080
DATA ?= ./data

.PHONY: run test test-postgres test-cluster install bench bench-chat bench-signaling bench-shutdown bench-https bench-sfu clean binary bench-login

$(BIN)/parley: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip setuptools wheel
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	touch $(BIN)/parley

install: $(BIN)/parley

run: install
	$(BIN)/parley serve --bind $(BIND) --data-dir $(DATA)

# Each suite runs on TEST_WORKERS pytest-xdist workers (2: measured best on the 2-core CI box;
# `make test TEST_WORKERS=0` runs in one process). loadgroup keeps each xdist_group on one worker
# (the Chromium tests, see tests/conftest.py).
TEST_WORKERS ?= 2
PG_TEST_WORKERS ?= $(if $(filter 0,$(TEST_WORKERS)),0,4)
PYTEST := $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test: install binary
	$(PYTEST)
	$(MAKE) test-postgres
	$(MAKE) test-cluster

# The whole API suite again, on a PostgreSQL the tests start themselves (tests/pg_support.py).
# Twice the workers: these tests mostly wait on PostgreSQL round trips (measured: 4 workers
# 100 s, 2 workers 129 s on the 2-core box).
test-postgres: install
	PARLEY_TEST_DB=postgres $(BIN)/python -m pytest -q -n $(PG_TEST_WORKERS) --dist loadgroup tests/api

# The whole API suite once more on two nodes (one PostgreSQL, one Redis, both started by the
# tests), every client's requests alternating between them (tests/cluster_mode.py).
test-cluster: install
	PARLEY_TEST_DB=cluster $(PYTEST) tests/api

# Signaling relay latency (polling, WebSocket) and WebSocket throughput; see docs/PERFORMANCE.md.
bench-signaling: install
	$(BIN)/python bench/signaling_relay.py

# Chat fan-out benchmark (not a test; about 70 s); see docs/PERFORMANCE.md.
bench-chat: install
	$(BIN)/python bench/chat_fanout.py

# SIGTERM with 3,000 parked chat polls, 200 signaling pulls and 100 WebSockets; see docs/PERFORMANCE.md.
bench-shutdown: install
	$(BIN)/python bench/shutdown.py

# Login storm: 200 users' first Basic-auth requests at once plus 200 random credentials, after a
# restart (about 40 s); see docs/PERFORMANCE.md#login-storm.
bench-login: install
	$(BIN)/python bench/login_storm.py

# Per-request cost of built-in TLS and of nginx in front (contrib/nginx/parley.conf); docs/PERFORMANCE.md.
bench-https: install
	$(BIN)/python bench/https_paths.py

# Mesh vs Janus for calls of 2, 4 and 6 browsers (needs root and janus; a few minutes); docs/PERFORMANCE.md.
bench-sfu: install
	$(BIN)/python bench/sfu.py
# One 100 MiB chat upload: throughput and memory (streamed, never held whole); docs/PERFORMANCE.md.
bench-upload: install
	$(BIN)/python bench/upload_stream.py 100

# One node vs two (GET /room through wrk, 2,000 parked polls), the Redis hop, PostgreSQL vs SQLite fan-out:
# starts its own PostgreSQL, redis-server and nodes (about 5 minutes); docs/PERFORMANCE.md#cluster.
.PHONY: bench-cluster
bench-cluster: install
	$(BIN)/python bench/cluster.py

bench: bench-chat bench-signaling

clean:
	rm -rf $(VENV) build *.egg-info dist

# The one-file binary dist/parley (PyInstaller; packaging/parley.spec). Rebuilt only when a source
# file, the spec or pyproject.toml changed, so repeated `make test` runs reuse it.
BINARY_SOURCES := $(shell find server signaling storage web packaging -type f -not -path '*/__pycache__/*' 2>/dev/null)

$(BIN)/pyinstaller: pyproject.toml | $(BIN)/parley
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test,binary]'
	touch $(BIN)/pyinstaller

dist/parley: $(BIN)/pyinstaller $(BINARY_SOURCES) pyproject.toml
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/parley.spec
	touch dist/parley

binary: dist/parley

# One hop to the database thread(s) and back, SQLite and a throw-away PostgreSQL (storage/engine.py).
.PHONY: bench-db bench-rooms
bench-db: install
	$(BIN)/python bench/db_run.py --postgres

# GET /room for a user in 200 rooms, lastMessage included; docs/PERFORMANCE.md "Room list".
bench-rooms: install
	$(BIN)/python bench/room_list.py

# Everything a person does twice. `make demo` and `make test` set up a fresh machine on their own.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ITAM := $(VENV)/bin/itam
STAMP := $(VENV)/.installed-stamp

.PHONY: deps jars browser demo test fuzz bench schema lint stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

deps: $(STAMP)

jars: deps
	$(ITAM) db build

# Deps, Neo4j, the demo organisation through the real connectors, then the API on 127.0.0.1:8000.
demo: jars
	$(ITAM) db start
	$(ITAM) demo load --dir demo-data
	$(ITAM) findings summary
	$(ITAM) serve --host 127.0.0.1 --port 8000

# The explorer's tests drive Debian's Chromium headless (Playwright cannot download a browser here).
browser:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y --no-install-recommends chromium) \
	  || (echo "make test needs Debian's chromium at /usr/bin/chromium: apt-get install chromium" >&2; exit 1)

# The test suite starts its own Neo4j (free port, temporary data directory).
test: jars browser
	$(VENV)/bin/pytest

# The property-based hostile-input tests with a long random budget (make test runs the bounded `ci` one).
fuzz: jars
	HYPOTHESIS_PROFILE=long $(VENV)/bin/pytest tests/test_hostile_input.py

bench: jars
	$(PY) -m bench.ingest_bench --hosts 10000,100000 --same-graph --heap-mb 4096
	$(PY) -m bench.agents_bench --hosts 10000,100000 --same-graph --heap-mb 4096
	$(PY) -m bench.query_bench --hosts 10000,100000 --heap-mb 4096
	$(PY) -m bench.findings_bench --hosts 10000,100000 --heap-mb 4096
	$(PY) -m bench.itam_bench --hosts 10000,100000 --heap-mb 4096
	$(PY) -m bench.explorer_bench --hosts 10000 --requests 300 --warmup 30
	$(PY) -m bench.reingest_bench
	$(PY) -m bench.recovery_bench --rounds 6
	$(PY) -m bench.concurrency_bench --hosts 10000,100000 --heap-mb 4096
	$(PY) -m bench.load_bench --hosts 100000 --clients 32 --minutes 10 --heap-mb 4096
	$(PY) -m bench.history_bench --hosts 10000
	$(PY) -m bench.memory_bench --hosts 10000,100000

# Re-export the GraphQL contract after a deliberate change (a test compares against it).
schema: deps
	$(PY) -c "from api.graphql_schema import schema; open('api/schema.graphql', 'w').write(schema.as_str() + '\n')"

stop:
	-$(ITAM) db stop

clean: stop
	rm -rf $(VENV) .itam demo-data graph/neo4j_launcher/target

# ruff for errors, mypy for types (its settings and the packages it checks: pyproject.toml [tool.mypy]).
lint: deps
	$(VENV)/bin/ruff check --select F,E9 graph ingest queries api tests bench demo
	$(VENV)/bin/mypy

# gridmap — the two commands of the README, and a few more.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bootstrap lint format demo bench

run: bootstrap ## serve the demo city on http://127.0.0.1:8000 (Ctrl-C stops it)
	$(BIN)/gridmap serve

# The suite's workers (pytest-xdist, whole files each): one per core, at most four.
JOBS ?= $(shell n=$$(nproc); echo $$(( n < 4 ? n : 4 )))
# Run alone, after the others: schemathesis's API tests are not run by xdist workers (they
# would report nothing; tests/conftest.py fails such a run).
SERIAL_TESTS := tests/db/test_schemathesis.py

test: bootstrap ## lint, then the test suite against a throw-away real PostGIS database
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --ignore=$(SERIAL_TESTS) $(PYTEST_ARGS)
	$(BIN)/python -m pytest $(SERIAL_TESTS) $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bootstrap: ## install PostgreSQL+PostGIS, the virtualenv and the project when missing
	@scripts/bootstrap.sh

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: bootstrap
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: bootstrap ## regenerate data/boundaries from the committed sources
	$(BIN)/python data/boundaries/make_demo.py

bench: bootstrap ## the benchmarks of bench/ (installs their peers: geopandas, wrk, curl)
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	for tool in wrk curl; do command -v $$tool >/dev/null || { [ "$$(id -u)" -eq 0 ] && apt-get install -y -qq $$tool || sudo apt-get install -y -qq $$tool; }; done
	for b in $$(grep -l '^if __name__ == "__main__":' bench/*.py); do $(BIN)/python $$b || exit 1; done

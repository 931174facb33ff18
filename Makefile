# gridmap — the two commands of the README, and a few more.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bootstrap lint format demo

run: bootstrap ## serve the demo city on http://127.0.0.1:8000 (Ctrl-C stops it)
	$(BIN)/gridmap serve

test: bootstrap ## lint, then the test suite against a throw-away real PostGIS database
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

# movierec: `make run` (the main job) and `make test` (the whole suite) work on a fresh machine;
# each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast lint typecheck format bench model eval clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned to 2.13.0 (a CPU build); see README "Install".
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m server.demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Everything not marked slow, for local work; CI runs the whole suite.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

model: $(STAMP)
	$(BIN)/movierec train --dataset default --out models/default \
		--evaluation bench/results/eval/ml-latest-small.json

eval: $(STAMP)
	$(BIN)/movierec evaluate --dataset ../shared/data/ml-100k --out bench/results/eval
	$(BIN)/movierec evaluate --dataset ../shared/data/ml-latest-small --out bench/results/eval

bench: $(STAMP)
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_server.py
	$(BIN)/python bench/bench_profiles_store.py
	$(BIN)/python bench/bench_profiles.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

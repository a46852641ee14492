# pacslink developer commands. `make test` and `make demo` work on a fresh Debian machine
# with Python 3.11: they create .venv and install pacslink into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench bench-check soak lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

typecheck: $(STAMP)
	$(BIN)/python -m mypy

demo: $(STAMP)
	$(BIN)/pacslink demo

soak: $(STAMP)
	PACSLINK_SOAK=full $(BIN)/python -m pytest -q -s -p no:warnings tests/soak

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# CPU time per received object against benchmarks/check_baseline.json (not a timing test)
bench-check: $(STAMP)
	$(BIN)/python -m benchmarks.check

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache

# pacslink developer commands. `make test` and `make demo` work on a fresh Debian machine
# with Python 3.11: they create .venv and install pacslink into it first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test demo bench bench-check soak fuzz lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# byte-compile pacslink now: with PYTHONDONTWRITEBYTECODE set (as in many containers)
	# every CLI start would otherwise recompile its modules (~40 ms)
	$(BIN)/python -m compileall -q src >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

typecheck: $(STAMP)
	$(BIN)/python -m mypy

demo: $(STAMP)
	$(BIN)/pacslink demo

soak: $(STAMP)
	PACSLINK_SOAK=full $(BIN)/python -m pytest -q -s -p no:warnings tests/soak

# The fuzz harnesses of tests/fuzz with 20,000 examples each and no deadline (make test
# runs a few hundred); FUZZ_EXAMPLES=N changes the count. A crash is saved under
# tests/fuzz/regressions/<harness>/ for the fix to keep.
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	PACSLINK_FUZZ=long PACSLINK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q \
		-p no:cacheprovider -o timeout=0 --hypothesis-show-statistics tests/fuzz

bench: $(STAMP)
	$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/python -m benchmarks

# CPU time per received object against benchmarks/check_baseline.json (not a timing test)
bench-check: $(STAMP)
	$(BIN)/python -m compileall -q src >/dev/null
	$(BIN)/python -m benchmarks.check

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache

# Two commands matter: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TOOLS  := $(VENV)/tools
export DO_NOT_TRACK := 1
export UNSTRUCTURED_DISABLE_NOTICE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv run test test-fast lint format bench clean console-vendor

venv: $(STAMP)

$(STAMP): pyproject.toml client/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: pip takes the CPU wheel from this disk, never a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# The thin client first: the server answers with its wire models (enclave-client).
	$(BIN)/python -m pip install --quiet -e ./client
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Imported by unstructured's PDF path; its own dependency pins would pull torch + CUDA.
	$(BIN)/python -m pip install --quiet --no-deps unstructured-inference==1.6.14
	# A client generator the tests drive, in a venv of its own (it pins typer below ours).
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet openapi-python-client==0.29.1
	touch $(STAMP)

run: venv
	$(BIN)/enclave migrate
	$(BIN)/enclave serve --host 127.0.0.1 --port 8000

# One worker per core (at most 4), each running whole test files: the suite is half I/O waits.
PYTEST := $(BIN)/python -m pytest -q -n auto --maxprocesses=4 --dist loadfile

test: venv
	$(PYTEST)

test-fast: venv
	$(PYTEST) -m "not slow"

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/sync.py

# The console's third-party modules (Preact, hooks, htm) are committed, bundled by esbuild:
# rebuild them after changing console/package.json (needs npm; the service does not).
console-vendor:
	cd console && npm ci && npm run vendor

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache

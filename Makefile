# The two commands: `make serve` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KENLM  := $(VENV)/.kenlm

.PHONY: serve test venv lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Dev only: KenLM's Python module built for orders up to 9 (the wheel stops at 6), so the
# n-gram tests check our ARPA files against KenLM. Compiles in about a minute.
$(KENLM): | $(STAMP)
	MAX_ORDER=9 $(BIN)/pip install --quiet --no-binary kenlm --no-cache-dir kenlm
	touch $(KENLM)

venv: $(STAMP)

serve: $(STAMP)
	$(BIN)/aigc migrate
	$(BIN)/aigc serve

# pytest exits 5 when it collects no test: that is a failure of the suite, not a pass.
test: $(STAMP) $(KENLM)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

# lint-imports: the import contracts in pyproject.toml (imports point one way, see
# docs/architecture.md "Layers"). mypy: the types of src/ ([tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/gateway_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .import_linter_cache .mypy_cache

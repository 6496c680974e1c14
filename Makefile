# The two commands: `make serve` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KENLM  := $(VENV)/.kenlm
GGUF   := $(VENV)/.gguf

.PHONY: serve test test-gpu deps venv lint format bench clean

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

# The gguf extra (llama-cpp-python) for the gguf family's tests, kept out of `make serve`: pip
# compiles llama.cpp from source (see pyproject.toml for the time it takes), one compile job
# per core (CMAKE_BUILD_PARALLEL_LEVEL). A server that serves GGUF files installs it the same way.
$(GGUF): pyproject.toml | $(STAMP)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install --quiet -e '.[dev,gguf]'
	touch $(GGUF)

venv: $(STAMP)

serve: $(STAMP)
	$(BIN)/aigc migrate
	$(BIN)/aigc serve

# The system packages the whole suite needs (root, Debian): PostgreSQL and Redis (the tests start
# throwaway servers of their own), Chromium for the console tests, a CJK font so Chinese renders
# in their screenshots, Tesseract with English and Simplified Chinese for scanned PDF pages,
# Node.js and npm for the OpenID Connect provider the SSO tests start (oidc-provider, installed
# from its package-lock.json by `npm ci` into tests/e2e/oidc/node_modules, git-ignored; it needs
# Node.js 20 or later, newer than Debian 12's nodejs 18: see docs/sso.md). Node.js is installed
# from Debian only when no `node` and `npm` are on the PATH: a NodeSource nodejs (20 on these
# machines) provides npm and conflicts with Debian's npm package, which would replace it by 18.
# nginx for the two-instance tests, which run their own nginx on a free loopback port (the
# site `aigc nginx-config` prints; docs/deploy.md).
# Only missing packages are installed; nothing is started or configured: a policy-rc.d that
# says "no" (the mechanism Debian's maintainer scripts ask) is in place for the install unless
# one exists already, and an nginx installed here is not enabled at boot, so no system nginx
# holds port 80 or answers beside the tests'.
# cmake and build-essential compile llama.cpp for the gguf extra (and KenLM).
# pgvector (knowledge-base vectors in PostgreSQL): Debian 12 has no package, so .ci/pgvector.sh
# builds it from PGVECTOR_TARBALL against postgresql-server-dev-<major> when the server lacks it.
DEPS := postgresql redis-server chromium fonts-wqy-zenhei fontconfig \
  tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim nginx \
  cmake build-essential
POLICY_RC := /usr/sbin/policy-rc.d
NODE_DEPS := nodejs npm
PGVECTOR_TARBALL ?= ../shared/vendor/pgvector-0.8.6.tar.gz
# The SSO tests' provider, exactly as locked, installed as whoever owns the checkout; the stamp
# tells tests/e2e/oidc_idp.py it is current (it runs the same `npm ci` when it is not).
OIDC_TESTS := tests/e2e/oidc
NPM_CI := npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.aigc-lock

deps:
	@if [ "$$(id -u)" -ne 0 ]; then \
	  echo "make deps installs Debian packages ($(DEPS)) and must run as root: sudo make deps"; \
	  exit 1; fi
	@command -v apt-get >/dev/null || { \
	  echo "make deps needs Debian's apt-get; install the equivalents of: $(DEPS)"; exit 1; }
	@missing=$$(for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done; command -v node >/dev/null && command -v npm >/dev/null || echo $(NODE_DEPS)); \
	if [ -z "$$missing" ]; then echo "already installed: $(DEPS) node npm"; else \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  if [ ! -e $(POLICY_RC) ]; then \
	    trap 'rm -f $(POLICY_RC)' EXIT; printf '#!/bin/sh\nexit 101\n' > $(POLICY_RC); \
	    chmod 755 $(POLICY_RC); fi; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing || exit 1; \
	  for p in $$missing; do [ "$$p" = nginx ] || continue; \
	    deb-systemd-helper disable nginx.service >/dev/null 2>&1 || true; \
	    update-rc.d nginx disable >/dev/null 2>&1 || true; done; fi
	@PGVECTOR_TARBALL="$(PGVECTOR_TARBALL)" .ci/pgvector.sh
	@cd $(OIDC_TESTS) && owner=$$(stat -c %U .) && \
	  if [ "$$owner" != root ] && command -v runuser >/dev/null; then \
	    runuser -u "$$owner" -- sh -c "$(NPM_CI)"; else sh -c "$(NPM_CI)"; fi

# pytest exits 5 when it collects no test: that is a failure of the suite, not a pass.
test: $(STAMP) $(KENLM) $(GGUF)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests were collected"; exit 1; fi; exit $$rc

# The GPU checks (tests/gpu, marker `cuda`), which `make test` leaves out, and the image models'
# tests, which train and sample on the GPU by themselves: run on a machine with a CUDA GPU.
GPU_TESTS = tests/gpu tests/images/test_models.py
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "cuda or not cuda" $(GPU_TESTS) $(PYTEST_ARGS); rc=$$?; \
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

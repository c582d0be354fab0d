# One command to run, one to test, one to lint. Each creates .venv and installs what it needs first:
# `run` the pinned runtime (requirements.txt), `test` adds requirements-test.txt, `lint` requirements-dev.txt.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat requirements.txt requirements-test.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-test.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PORT ?= 8501
# The server listens on 127.0.0.1 (.streamlit/config.toml); `ADDRESS=0.0.0.0 make run` opens it to the network.
ADDRESS ?=
DATA ?=
# Tests keep trained fixtures and numba's compiled code here between runs (keyed by content; safe to delete).
TEST_CACHE ?= .test-cache

.PHONY: run test test-fast lint setup setup-test setup-dev bench map-bundle clean-cache clean-test-cache

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	@rm -f $(VENV)/.installed-[0-9]* && touch $@

$(TEST_STAMP): $(STAMP) requirements-test.txt
	$(PIP) -r requirements.txt -r requirements-test.txt
	@rm -f $(VENV)/.installed-test-* && touch $@

$(DEV_STAMP): $(STAMP) requirements-test.txt requirements-dev.txt
	$(PIP) -r requirements.txt -r requirements-dev.txt
	@rm -f $(VENV)/.installed-dev-* && touch $@

setup: $(STAMP)
setup-test: $(TEST_STAMP)
setup-dev: $(DEV_STAMP)

run: setup  ## start the dashboard on http://127.0.0.1:8501 (bundled ml-100k; DATA=name-or-folder, ADDRESS=0.0.0.0)
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(if $(DATA),RECSYS_DEFAULT_DATA=$(DATA)) \
		$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true \
		$(if $(ADDRESS),--server.address $(ADDRESS))

test: setup-test  ## the whole suite (browser tests skip with a hint when chromium is missing)
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false RECSYS_TEST_CACHE=$(TEST_CACHE) $(PY) -m pytest

test-fast: setup-test  ## everything but the slow real-data and browser tests (trained fixtures cached in .test-cache/)
	RECSYS_TEST_CACHE=$(TEST_CACHE) $(PY) -m pytest -m "not slow and not browser"

lint: setup-dev  ## ruff (pyproject.toml [tool.ruff]), mypy over recsys_core ([tool.mypy]), the import layers (.importlinter)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

bench: setup  ## the benchmark tables quoted in the README
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_ui.py

map-bundle:  ## rebuild static/plotly-maps.min.js, the maps' plotly.js (needs node and npm; versions pinned in frontend/map_bundle)
	cd frontend/map_bundle && npm ci --no-audit --no-fund && node build.js

clean-cache:  ## drop trained artifacts and parsed-data caches
	find artifacts -mindepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +

clean-test-cache:  ## drop the tests' cached trained fixtures and numba cache
	rm -rf $(TEST_CACHE)

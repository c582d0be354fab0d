# One command to run, one to test. Both create .venv and install the pinned requirements first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
PORT ?= 8501
DATA ?=

.PHONY: run test test-fast setup bench clean-cache

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

run: setup  ## start the dashboard on http://localhost:8501 (bundled ml-100k; DATA=name-or-folder to change)
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(if $(DATA),RECSYS_DEFAULT_DATA=$(DATA)) \
		$(PY) -m streamlit run app.py --server.port $(PORT) --server.headless true

test: setup  ## the whole suite (browser tests skip with a hint when chromium is missing)
	STREAMLIT_BROWSER_GATHER_USAGE_STATS=false $(PY) -m pytest

test-fast: setup  ## everything but the slow real-data and browser tests
	$(PY) -m pytest -m "not slow and not browser"

bench: setup  ## the benchmark tables quoted in the README
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_ui.py

clean-cache:  ## drop trained artifacts and parsed-data caches
	find artifacts -mindepth 1 ! -name .gitkeep ! -name README.md -exec rm -rf {} +

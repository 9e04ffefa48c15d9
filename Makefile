# `make run` and `make test` each set up what they need, from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-fast chromium benchmarks base-model clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT)

# Browser tests drive Debian's Chromium; install it when it is missing (needs root or sudo).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null \
	  || echo "Could not install Chromium: browser tests will be skipped (apt-get install chromium)."; }

test: $(VENV)/.dev chromium
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m "not browser and not slow"

clean:
	rm -rf $(VENV) .pytest_cache

# The shipped base model: a character-level GRU pre-trained on all built-in corpora.
# Reproducible (fixed seed); the time budget decides how far it gets on this machine.
BASE_BUDGET ?= 600
base-model: $(VENV)/.runtime
	rm -rf assets/base-model.new
	$(BIN)/python -m textgen train builtin:python-code builtin:sample builtin:python-docs --out assets/base-model.new \
	  --preset balanced --dropout 0.1 --time-budget $(BASE_BUDGET) --seed 7
	rm -rf assets/base-model.new/checkpoint assets/base-model.new/train.log
	rm -rf assets/base-model && mv assets/base-model.new assets/base-model

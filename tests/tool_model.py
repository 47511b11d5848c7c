"""A real, tiny GGUF whose chat template renders tools: the embedded SmolLM2 with Qwen2.5's template.

SmolLM2-135M speaks ChatML like Qwen2.5, but its own template ignores ``tools``. Rewritten
with gguf's own ``gguf_new_metadata`` tool so that ``tokenizer.chat_template`` is the
Qwen2.5-Instruct template (tests/data/qwen2.5-chat-template.jinja), it is a stand-in
for the production base small enough for tests: the server renders tools exactly as it
would for Qwen2.5-7B. A 135M model does not *choose* to call tools, so tests force the
output with a GBNF grammar (:func:`forced_tool_call_grammar`) on the real server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

QWEN25_TEMPLATE = Path(__file__).parent / "data" / "qwen2.5-chat-template.jinja"


def qwen_template_gguf(source: Path, target: Path) -> Path:
    """``target``: ``source`` with Qwen2.5's chat template (built once; reused while it exists)."""
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", "--force",
                        "--chat-template-file", str(QWEN25_TEMPLATE), str(source), str(partial)],
                       check=True, capture_output=True, timeout=300)
        partial.replace(target)
    return target


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def forced_tool_call_grammar(name: str, arguments: dict[str, object]) -> str:
    """A grammar whose only sentence is one Qwen2.5 tool call (what Qwen2.5-7B writes when it calls a tool)."""
    call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"root ::= {gbnf_literal('<tool_call>' + chr(10) + call + chr(10) + '</tool_call>')}\n"

"""Model families: what a base model needs beyond its weights, keyed by the names users give it.

A family is one table entry (:data:`FAMILIES`) plus its chat template in Ollama's Go template
syntax: the Hugging Face / Together ids it covers (including Together's ``-Reference`` names),
the Ollama library tag to build on, the stop tokens and the template the Modelfile carries. The
Modelfile's ``SYSTEM`` is the project's one system prompt, the one the training data carries.
Adding a family: write its template (it must use ``.Tools``: Ollama refuses tool requests for a
template that does not, and OpenCode always sends tools), add a :class:`ModelFamily` row, and
add its converter shapes to ``pipeline/convert/bases.py`` if its sizes are not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gerbil_eval.errors import GerbilEvalError

#: The Qwen2.5 chat template (ChatML with Qwen's Hermes-style tool calls) in Ollama's Go
#: template syntax. Tool results go back as ``<tool_response>`` in a user turn, as Qwen2.5 expects.
QWEN25_TEMPLATE = """{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

#: Llama 3.1's header template (``<|start_header_id|>role<|end_header_id|>`` ... ``<|eot_id|>``),
#: with its JSON tool calls and ``ipython`` tool results, in Ollama's Go template syntax.
LLAMA31_TEMPLATE = """{{- if or .System .Tools }}<|start_header_id|>system<|end_header_id|>
{{- if .System }}

{{ .System }}
{{- end }}
{{- if .Tools }}

You are a helpful assistant with tool calling capabilities. When you receive a tool call response, use the output to format an answer to the original user question.
{{- end }}<|eot_id|>
{{- end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.

{{ range $.Tools }}
{{- . }}
{{ end }}
Question: {{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}
{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""


@dataclass(frozen=True)
class ModelFamily:
    """One base-model family: how to recognise its names and how Ollama must prompt it."""

    name: str
    #: Regular expression matched (case-insensitively) against HF/Together ids and Ollama tags.
    pattern: str
    ollama_base: str
    template: str
    stops: tuple[str, ...]

    def matches(self, model: str) -> bool:
        return re.search(self.pattern, model, re.IGNORECASE) is not None


FAMILIES: tuple[ModelFamily, ...] = (
    ModelFamily("qwen2.5", r"qwen2\.?5", "qwen2.5:7b-instruct", QWEN25_TEMPLATE,
                ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
    ModelFamily("llama3.1", r"llama-?3\.1", "llama3.1:8b", LLAMA31_TEMPLATE,
                ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
)


def family_named(name: str) -> ModelFamily:
    """The family called ``name`` (``--family``)."""
    for family in FAMILIES:
        if family.name == name:
            return family
    raise GerbilEvalError(f"--family {name!r}: unknown; known families: {', '.join(f.name for f in FAMILIES)}")


def family_for(model: str) -> ModelFamily:
    """The family of an HF/Together id (``meta-llama/Meta-Llama-3.1-8B-Instruct-Reference``) or Ollama tag."""
    for family in FAMILIES:
        if family.matches(model):
            return family
    raise GerbilEvalError(f"model {model!r} belongs to no known family ({', '.join(f.name for f in FAMILIES)}); "
                          "pass --family, or add the family to pipeline/families.py")


def project_system_prompt() -> str:
    """The system prompt the training data carries, so the deployed model is prompted as it was trained."""
    from gerbil_eval.system_prompt import DEFAULT_SYSTEM_PROMPT

    return DEFAULT_SYSTEM_PROMPT

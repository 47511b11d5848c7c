"""The local OpenAI-compatible server: llama-cpp-python's, with a chat route that does tools, usage and limits.

``python -m gerbil_eval.serving --config_file FILE`` is what :mod:`gerbil_eval.server`
starts; :mod:`.app` says what the chat route adds, :mod:`.chat` reads requests and
renders them, :mod:`.tool_calls` turns ``<tool_call>`` text into OpenAI tool calls.

May import: errors. It runs in its own process: nothing of the harness besides that.
"""

"""Guards for hostile input: every case file, answer, endpoint reply, archive and remote id is untrusted.

One job per module:

- :mod:`.redact` — the one function that removes the API key and URL credentials from any text
  the harness writes or prints.
- :mod:`.shown` — size-limited ``repr`` for error messages, and control characters escaped for a terminal.
- :mod:`.inputs` — files a command reads (one-line errors for missing, unreadable, non-UTF-8, too
  large, too deep) and numbers that must be finite.
- :mod:`.names` — remote-supplied names (job ids, file names) checked before they become paths.
- :mod:`.yaml_bounds` — caps on a parsed YAML document before it becomes Python objects.

May import: errors only; everything else imports it.
"""

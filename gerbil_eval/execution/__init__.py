"""Running answers in a real, sandboxed Gerbil.

- :mod:`.gerbil` finds ``gxi`` (``--gxi``, ``$GERBIL_HOME``, ``PATH``) and its version;
- :mod:`.sandbox` runs one program under limits, isolated as far as the machine allows;
- :mod:`.program` turns an answer into a program plus a driver that reports checks and claims;
- :mod:`.executor` caches runs, bounds how many run at once, and applies the per-block fallback;
- :mod:`.runinfo` records execution in a run's results and keeps runs with and without it apart.

The assertion types that use it live in :mod:`gerbil_eval.assertions.execution`; ``python -m gerbil_eval exec``
is :mod:`gerbil_eval.commands.exec`.

May import: the code readers (reader, answer, annotations), bindings.scope (what defines a name),
errors, fileio, fetch.cache (the cache folder). Never cases/, scoring/, run/, analysis/, render/ or plugin/.
"""

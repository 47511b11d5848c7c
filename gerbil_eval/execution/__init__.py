"""Running answers in a real, sandboxed Gerbil.

- :mod:`.gerbil` finds ``gxi`` (``--gxi``, ``$GERBIL_HOME``, ``PATH``) and its version;
- :mod:`.sandbox` runs one program under limits, isolated as far as the machine allows;
- :mod:`.program` turns an answer into a program plus a driver that reports checks and claims;
- :mod:`.executor` caches runs, bounds how many run at once, and applies the per-block fallback;
- :mod:`.runinfo` records execution in a run's results and keeps runs with and without it apart;
- :mod:`.command` is ``python -m gerbil_eval exec``.

The assertion types that use it live in :mod:`gerbil_eval.assertions.execution`.
"""

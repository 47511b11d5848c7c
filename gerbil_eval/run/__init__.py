"""The run: what one evaluation produced, typed, and its folder on disk.

``types`` holds :class:`~gerbil_eval.run.types.Response` (one answer), ``ResultRow`` (one
scored answer, a row of results.json/csv) and ``RunResult`` (the whole run: config, rows,
answers, per-model summaries and comparisons, each computed once). Everything after the
requests (results.json/csv, reports, gates) reads a ``RunResult``, never a raw dict.
``models`` holds ``ModelSpec`` (a model of the run and its endpoint); ``folder`` writes the run
folder (ids, ``responses.jsonl`` as answers arrive, results.json/csv, ``latest``); ``load`` reads a
saved run back.

May import: ``errors``, ``fileio``, ``safety``; the analysis modules that compute a run's
summaries and comparisons. Never the pytest plugin or its options.
"""

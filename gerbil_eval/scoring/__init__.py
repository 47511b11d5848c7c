"""Scoring: one answer against one case — every assertion in [0, 1], a weighted mean, a verdict —
in process (score.py) or in worker processes with a hard time limit per check (pool.py).

May import: cases/, assertions/, the code readers (reader, answer, code_rule), errors, safety/.
Never fetch/, run/, analysis/, render/, plugin/ or commands/. The public names
(``score_answer``, ``CaseScore``, ``AssertionResult``) are exported by :mod:`gerbil_eval`.
"""

"""Cases: the YAML case files as dataclasses — loading with validation, markers, and lint.

May import: errors, safety/, assertions/ (the registry validates assertion types), and for
lint only, scoring/. Never fetch/, run/, analysis/, render/, plugin/ or commands/.
The public names (``Case``, ``Assertion``, ``load_cases``, ``lint_cases``) are exported by
:mod:`gerbil_eval`; the modules here are internal.
"""

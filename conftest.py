"""Project-wide pytest set-up.

The plugin tests drive inner pytest runs through ``pytester``, which pyproject.toml
enables with ``-p pytester`` rather than ``pytest_plugins`` here: running the shipped
cases from another folder (``pytest --model M --cases <repo>/cases``) loads this file
during collection, where pytest refuses a ``pytest_plugins`` definition.
"""

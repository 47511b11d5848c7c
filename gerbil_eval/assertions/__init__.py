"""Assertions: one small handler per assertion type, registered by name (promptfoo's ``src/assertions/``).

registry.py holds the table, ``evaluate`` (negation handled once) and the load-time lookups; each other
module registers the types it checks. Importing this package imports every handler, so the registry is
full whatever module of the package is imported first.

May import: the code readers (reader, answer, annotations, code_rule, factcheck), bindings/, execution/
(the ``runs``/``checks`` types), safety/, errors. Never cases/ or scoring/ at run time (cases/ validates
against this registry), nor fetch/, run/, analysis/, render/, plugin/ or commands/.
"""

from . import argument_order, execution, facts, forms, fuzzy, gerbil, python_fn, resolves, text  # noqa: F401

"""The commands of ``python -m gerbil_eval``: one module per command, named after it
(``model-path`` -> ``model_path.py``), each exposing ``add_arguments(parser)`` and ``run(args)``;
:mod:`gerbil_eval.__main__` maps names to modules and :mod:`gerbil_eval.cli` dispatches.

May import anything in the package except plugin/ (a command runs outside pytest); compare-adapter
borrows serve's model arguments. Nothing imports a command module except ``__main__``, another
command and tests.
"""

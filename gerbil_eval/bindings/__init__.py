"""The binding index of the Gerbil the facts sheet targets: which names exist, in which
version (master snapshot, v0.18.1 release) and in which module; built from the Gerbil and
Gambit sources by :mod:`.build`, loaded by :mod:`.index`, used by the ``resolves`` assertion.

May import: the reader, errors, fileio. Never assertions/, cases/, scoring/ or anything above them.
"""

"""The pytest plugin: pytest's hooks (hooks.py) over one session object per run (session.py).

hooks.py is the ``pytest11`` entry point and only hands each hook to the session; items.py holds
the collected nodes (a case file, one item per case x model x sample); xdist.py is everything
pytest-xdist needs (the controller's hand-off to workers, result rows riding on test reports,
the worker's queue); options.py declares every flag and parses them into ``RunOptions``.

May import anything in the package. Nothing else imports plugin/ (render/ and analysis/ never
do, a test checks it): the plugin is a shell over the library, not part of it.
"""

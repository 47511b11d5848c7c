"""Together AI: the remote fine-tune, from upload to the downloaded adapter.

``api`` (the SDK client and its failures as one-line errors), ``train`` (the ``pipeline train``
command: upload + LoRA job; ``--backend local`` hands over to ``pipeline.local``), ``status``
(``pipeline status [--watch]``), ``download`` (``pipeline download``) and ``archive`` (safe
extraction of the downloaded checkpoint).

May import: ``gerbil_eval`` (errors, fileio, safety), ``pipeline.credentials``,
``pipeline.state``, ``pipeline.data`` (the training file's checks) and ``pipeline.local``
(the local backend of ``train``). Never ``pipeline.deploy`` or ``pipeline.commands``: the
fine-tune knows nothing of where its adapter is served.
"""

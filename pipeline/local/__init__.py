"""Local training: a LoRA fine-tune on this machine (transformers + PEFT), recorded like a Together job.

``train`` (the ``--backend local`` half of ``pipeline train``: its options and ``run_local``),
``base`` (loading the base model), ``examples`` (tokenized training file), ``loop`` (the training
loop and checkpoints), ``checkpoint_eval`` (harness runs on checkpoints), ``report``.

May import: ``torch``/``transformers``/``peft`` (lazily), ``pipeline.state``, ``pipeline.data``
(the training file's reader), ``pipeline.convert`` (checkpoints to GGUF) and ``gerbil_eval`` (the
server, the harness, fileio, figures); never ``pipeline.together`` or ``pipeline.deploy``.
"""

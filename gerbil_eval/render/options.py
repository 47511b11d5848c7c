"""What the reports need to know besides the run itself: :class:`ReportOptions`.

The pytest plugin, ``report`` and ``compare`` each build one from their own flags, so the
renderers never see the plugin's options (and the commands never build fake ones).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportOptions:
    """How to write the reports of a run."""

    #: also save report.png, a headless-Chromium screenshot of report.html (``--report-screenshot``)
    screenshot: bool = False

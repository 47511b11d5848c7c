"""Charts as PNG bytes: matplotlib on its file-only backend, the figure always closed.

Reports embed their charts as base64 PNG, so every chart goes through :func:`png_figure`;
matplotlib is imported only here and only when a chart is drawn (it is a large share of a
run's start-up otherwise).
"""

from __future__ import annotations

import io
from typing import Any, Callable


def png_figure(draw: Callable[[Any, Any], None], **subplots: Any) -> bytes:
    """``draw(fig, axes)`` on a new ``plt.subplots(**subplots)`` figure, returned as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(**subplots)
    try:
        draw(fig, axes)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)

"""``local-train/training.html``: the loss curve beside the harness score of each checkpoint.

Loss says the adapter fits its data; only the harness score says it answers the cases
better. Side by side they show when the two part ways (overfitting, or a loss that falls
while nothing the cases check improves). Self-contained (inline PNG), like report.html.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from gerbil_eval.fileio import write_text_atomic
from gerbil_eval.render.figures import png_figure

from ..state import PipelineState


def chart_png(loss: list[list[float]], checkpoints: list[dict[str, Any]]) -> bytes:
    """Two panels: training loss per step, harness mean score per checkpoint (step 0 = the base)."""

    def draw(fig: Any, axes: Any) -> None:
        left, right = axes
        if loss:
            steps, values = zip(*loss)
            left.plot(steps, values, color="#9aa5b8", linewidth=0.8, label="per step")
            window = max(1, len(values) // 20)
            smooth = [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
                      for i in range(len(values))]
            left.plot(steps, smooth, color="#1f5fbf", linewidth=1.6, label=f"mean of {window}")
            left.legend(loc="upper right")
        left.set(title="training loss (assistant tokens)", xlabel="step", ylabel="cross-entropy")
        scored = sorted(checkpoints, key=lambda c: c["step"])
        if scored:
            right.plot([c["step"] for c in scored], [c["mean_score"] for c in scored], marker="o", color="#2e9b48")
            if scored[0]["step"] == 0:
                right.axhline(scored[0]["mean_score"], color="#c83a3a", linestyle="--", linewidth=1, label="base")
                right.legend(loc="lower right")
        else:
            right.text(0.5, 0.5, "no checkpoint scored\n(--eval-every N)", ha="center", va="center", transform=right.transAxes)
        right.set(title="harness mean score per checkpoint", xlabel="step", ylabel="mean score")

    return png_figure(draw, ncols=2, figsize=(11, 3.8), dpi=100)


def render(state: PipelineState) -> str:
    t = state.training
    rows = "".join(
        f"<tr><td>{c['step']}{' (base)' if c['step'] == 0 else ''}</td><td>{c['mean_score']:.3f}</td>"
        f"<td>{c['pass_rate']:.2f}</td><td>{c['cases']}</td><td>{c['errors']}</td><td>{escape(str(c.get('run')))}</td></tr>"
        for c in sorted(state.checkpoints, key=lambda c: c["step"]))
    facts = (f"{t.get('steps')} steps, {t.get('tokens')} tokens in {t.get('train_seconds')} s "
             f"({t.get('tokens_per_s')} tokens/s) on {escape(str(t.get('device')))}, peak RSS {t.get('peak_rss_mb')} MB; "
             f"final loss {t.get('final_loss') or 0:.3f}; adapter from {escape(str(t.get('adapter_from')))}")
    image = base64.b64encode(chart_png(t.get("loss") or [], state.checkpoints)).decode("ascii")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>local training</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1100px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:3px 8px}img{max-width:100%}</style></head><body>"
        f"<h1>Local LoRA training of {escape(str(state.base_model))}</h1><p>{facts}</p>"
        f"<img id='training-chart' alt='training loss and harness score per checkpoint' src='data:image/png;base64,{image}'>"
        "<h2>Harness score per checkpoint</h2><table><tr><th>step</th><th>mean score</th><th>pass rate</th>"
        f"<th>cases</th><th>errors</th><th>run</th></tr>{rows}</table>"
        f"<h2>Settings</h2><pre>{escape(str(t.get('config')))}</pre></body></html>"
    )


def write_training_report(path: Path, state: PipelineState) -> Path:
    write_text_atomic(path, render(state))
    return path

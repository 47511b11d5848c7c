"""The report chart drawn in its own process (gerbil_eval/render/chart_process.py): same PNG as
drawn in-process, a child's failure as one clear error, no child left behind."""

from __future__ import annotations

import pytest

from gerbil_eval.render import chart_process
from gerbil_eval.render.chart_process import chart_png

MEANS = {"gerbil-qwen": {"basics": 0.75, "hash-tables": 1.0, "ffi": 0.25}, "qwen2.5:7b": {"basics": 0.5, "ffi": 0.0}}


def test_the_chart_from_its_process_is_byte_for_byte_the_in_process_chart() -> None:
    png = chart_process.draw_in_child(MEANS)
    assert png.startswith(chart_process.PNG_MAGIC) and len(png) > 5000
    assert png == chart_png(MEANS)


def test_a_started_process_is_the_one_used_and_then_a_fresh_one_per_chart() -> None:
    chart_process.start()
    started = chart_process._pending
    assert started is not None
    assert chart_process.draw_in_child(MEANS) == chart_process.draw_in_child(MEANS)
    assert started.returncode == 0 and chart_process._pending is None


def test_a_chart_the_child_cannot_draw_raises_with_the_childs_error_line() -> None:
    with pytest.raises(chart_process.ChartFailed, match=r"could not be drawn \(exit 1\): AttributeError: 'list'"):
        chart_process.draw_in_child([["not", "a", "mapping"]])  # type: ignore[arg-type]


def test_a_started_process_that_is_never_used_ends_when_discarded() -> None:
    chart_process.start()
    child = chart_process._pending
    assert child is not None
    chart_process.discard()
    assert child.returncode == 0 and chart_process._pending is None
    chart_process.discard()  # nothing started: nothing to do

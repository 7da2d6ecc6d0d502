"""Figures a benchmark script hands to ``benchmarks/bench.py`` (``make bench``).

A script calls ``record(...)`` beside what it prints. When ``VALENCE_BENCH_JSON``
names a file (``bench.py`` sets it) each figure is appended to it as one JSON
line; otherwise ``record`` does nothing, so the scripts run alone as before.
"""

from __future__ import annotations

import json
import os
from typing import Any


def record(
    figure: str,
    value: float,
    unit: str,
    *,
    baseline: str | None = None,
    baseline_value: float | None = None,
    goal: str | None = None,
    note: str | None = None,
) -> None:
    """Append one figure; its ratio is ``value / baseline_value`` when a baseline is given."""
    path = os.environ.get("VALENCE_BENCH_JSON")
    if not path:
        return
    row: dict[str, Any] = {"figure": figure, "value": value, "unit": unit}
    if baseline is not None and baseline_value:
        row.update(baseline=baseline, baseline_value=baseline_value)
        row["ratio"] = value / baseline_value
    if goal:
        row["goal"] = goal
    if note:
        row["note"] = note
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")

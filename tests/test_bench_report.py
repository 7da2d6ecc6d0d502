"""``make bench``'s report: every figure in JSON and markdown, goals judged, a plot drawn."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench import machine
from bench_report import met, write_report
from report import record


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"goal": "≤ 0.5 s", "value": 0.4, "unit": "s"}, "yes"),
        ({"goal": "≤ 0.5 s", "value": 0.6, "unit": "s"}, "no"),
        ({"goal": "≤ 0 bytes", "value": 0, "unit": "bytes"}, "yes"),
        ({"goal": "≥ 100 /s", "value": 99.0, "unit": "/s"}, "no"),
        ({"goal": "≤ 2x", "value": 9.0, "unit": "ms", "ratio": 1.5}, "yes"),
        ({"goal": "≤ 2x", "value": 9.0, "unit": "ms"}, "-"),  # no baseline in this run
        ({"goal": "≤ 0.5 s", "value": 400, "unit": "ms"}, "-"),  # units differ: not judged
        ({"value": 1.0, "unit": "s"}, "-"),
    ],
)
def test_goals_are_judged_on_value_or_ratio(row, expected) -> None:
    assert met(row) == expected


def test_record_appends_figures_only_when_asked(tmp_path, monkeypatch) -> None:
    target = tmp_path / "figures.jsonl"
    monkeypatch.delenv("VALENCE_BENCH_JSON", raising=False)
    record("alone", 1.0, "s")
    assert not target.exists()
    monkeypatch.setenv("VALENCE_BENCH_JSON", str(target))
    record("ours", 3.0, "ms", baseline="theirs", baseline_value=1.5, goal="≤ 2x")
    record("no baseline", 2.0, "s", baseline="theirs", baseline_value=None)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0]["ratio"] == 2.0 and rows[0]["goal"] == "≤ 2x"
    assert "ratio" not in rows[1] and "baseline" not in rows[1]


def test_the_report_holds_every_figure_the_machine_and_failures(tmp_path) -> None:
    figure = {"figure": "per task", "value": 3.0, "unit": "ms", "baseline": "floor"}
    figure |= {"baseline_value": 1.0, "ratio": 3.0, "goal": "≤ 2x"}
    results = {
        "mode": "quick",
        "machine": machine(),
        "load_before": [1.0, 1.0, 1.0],
        "load_after": [2.0, 1.0, 1.0],
        "scripts": {
            "overhead": {
                "args": ["--quick"],
                "returncode": 0,
                "seconds": 3.0,
                "output": "table",
                "figures": [figure],
            },
            "ui_graph": {
                "args": [],
                "returncode": 1,
                "seconds": 1.0,
                "output": "no chromium",
                "figures": [],
            },
        },
    }
    write_report(results, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == results
    page = (tmp_path / "out" / "README.md").read_text()
    assert "| overhead | per task | 3 ms | floor: 1 ms | 3 x | ≤ 2x | no |" in page
    assert "ui_graph: FAILED (exit 1)" in page and "no chromium" in page
    assert f"{results['machine']['cores']} cores" in page and "[2.0, 1.0, 1.0]" in page
    assert (tmp_path / "out" / "figures.png").read_bytes().startswith(b"\x89PNG")

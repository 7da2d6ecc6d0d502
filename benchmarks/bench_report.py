"""Write ``make bench``'s results: JSON, a markdown table and a plot (matplotlib)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

GOAL = re.compile(r"^\s*([≤≥])\s*([\d.]+)\s*(\S+)\s*$")


def write_report(results: dict[str, Any], out: Path) -> None:
    """``results.json``, ``README.md`` and ``figures.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    drawn = plot(results, out / "figures.png")
    (out / "README.md").write_text(markdown(results, drawn))


def goal_of(row: dict[str, Any]) -> tuple[str, float, float] | None:
    """(sign, bound, the figure's value or ratio it bounds), or None without a goal."""
    found = GOAL.match(row.get("goal", ""))
    if not found:
        return None
    sign, bound, unit = found.group(1), float(found.group(2)), found.group(3)
    value = row.get("ratio") if unit == "x" else row["value"]
    if value is None or (unit != "x" and unit != row["unit"]):
        return None
    return sign, bound, value


def met(row: dict[str, Any]) -> str:
    goal = goal_of(row)
    if goal is None:
        return "-"
    sign, bound, value = goal
    return "yes" if (value <= bound if sign == "≤" else value >= bound) else "no"


def share_of_goal(row: dict[str, Any]) -> float | None:
    """How much of its goal a figure uses: 1 is at the goal, above 1 misses it."""
    goal = goal_of(row)
    if goal is None or not goal[1] or not goal[2]:
        return None
    sign, bound, value = goal
    return value / bound if sign == "≤" else bound / value


def rows(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, row) for name, run in results["scripts"].items() for row in run["figures"]]


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def markdown(results: dict[str, Any], drawn: bool) -> str:
    box = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in box["versions"].items() if v)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` ({results['mode']} mode) on {box['date']}, commit "
        f"{box['commit']}{' with uncommitted changes' if box['uncommitted_changes'] else ''}. "
        "Every ratio is against a baseline measured in the same run; the scripts are in "
        "`benchmarks/`, the raw figures and outputs in `results.json`.",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {box['cpu']}, {box['cores']} cores |",
        f"| RAM | {box['ram_gb']} GB |",
        f"| load (1, 5, 15 min) before / after | {results['load_before']} / "
        f"{results['load_after']} |",
        f"| system | {box['system']}, Python {box['python']} |",
        f"| versions | {versions}; prefect {box['prefect'] or 'not installed'} |",
        "",
        "| script | figure | value | baseline (same run) | ratio | goal | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in rows(results):
        base = row.get("baseline")
        base_text = f"{base}: {_number(row['baseline_value'], row['unit'])}" if base else "-"
        lines.append(
            f"| {name} | {row['figure']} | {_number(row['value'], row['unit'])} | {base_text} "
            f"| {_number(row.get('ratio'), 'x') if 'ratio' in row else '-'} "
            f"| {row.get('goal', '-')} | {met(row)} |"
        )
    notes = [f"- {row['figure']}: {row['note']}" for _, row in rows(results) if row.get("note")]
    if notes:
        lines += ["", "Notes:", "", *notes]
    if drawn:
        lines += ["", "![ratios and goals](figures.png)"]
    for name, run in results["scripts"].items():
        status = "ok" if run["returncode"] == 0 else f"FAILED (exit {run['returncode']})"
        lines += [
            "",
            f"## {name}: {status}, {run.get('seconds', '-')} s",
            "",
            f"`python benchmarks/{name}.py {' '.join(run['args'])}`".replace(" `", "`"),
            "",
            "```",
            run["output"].rstrip(),
            "```",
        ]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> bool:
    """Two panels: ratios vs their baselines, and shares of the goals; False if none."""
    ratios = [(row["figure"], row["ratio"]) for _, row in rows(results) if "ratio" in row]
    shares = [(row["figure"], share_of_goal(row)) for _, row in rows(results)]
    shares = [(label, share) for label, share in shares if share is not None]
    if not ratios and not shares:
        path.unlink(missing_ok=True)
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    height = 1.5 + 0.28 * max(len(ratios), len(shares))
    figure, (left, right) = plt.subplots(1, 2, figsize=(16, height), constrained_layout=True)
    _bars(left, ratios, "ratio to its baseline, same run (log)", "tab:blue")
    _bars(right, shares, "share of its goal: ≤ 1 is met (log)", "tab:green")
    figure.suptitle(f"make bench ({results['mode']}), {results['machine']['date']}")
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def _bars(axes: Any, items: list[tuple[str, float]], title: str, color: str) -> None:
    axes.set_title(title, fontsize=10)
    if not items:
        axes.text(0.5, 0.5, "none in this run", ha="center", transform=axes.transAxes)
        return
    labels = [label if len(label) <= 60 else label[:57] + "..." for label, _ in items]
    values = [value for _, value in items]
    axes.barh(range(len(items)), values, color=color)
    axes.set_yticks(range(len(items)), labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xscale("log")
    axes.axvline(1, color="black", linewidth=0.8)
    for y, value in enumerate(values):
        axes.text(value, y, f" {value:.2f}", va="center", fontsize=7)

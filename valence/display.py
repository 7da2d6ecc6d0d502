"""How results, plans, values and nodes look to people: plain text and notebook HTML.

Counts and tables show *tasks* (electrons and sublattices); helper nodes
(parameters, getitem, collections, ...) are listed only on request
(``Result.summary(helpers=True)``). Every renderer takes plain rows, so the
same text serves ``repr()``, ``str()``, the CLI and ``_repr_html_``.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from valence.text import shorten
from valence.workflow.graph import TASK_KINDS

PREVIEW = 200

_COLOURS = {
    "COMPLETED": "#2e7d32",
    "FAILED": "#c62828",
    "CANCELLED": "#757575",
    "RUNNING": "#1565c0",
    "PENDING_BACKEND": "#6a1b9a",
}


def is_task(kind: str | None) -> bool:
    return kind in TASK_KINDS


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return f"{(end - start).total_seconds():.3f}s"


def count_tasks(statuses: Iterable[tuple[str | None, str]]) -> Counter[str]:
    """Tasks per status from (kind, status) pairs; helper nodes are not counted."""
    return Counter(status for kind, status in statuses if is_task(kind))


@dataclass(frozen=True)
class Row:
    """One line of a task table."""

    node_id: int
    name: str
    status: str
    duration: str
    note: str


def _cells(row: Row) -> str:
    colour = _COLOURS.get(row.status, "inherit")
    values = [str(row.node_id), row.name, row.status, row.duration, row.note]
    styles = ["text-align:right", "", f"color:{colour}", "text-align:right", ""]
    return "".join(
        f'<td style="{s}">{html.escape(v)}</td>' if s else f"<td>{html.escape(v)}</td>"
        for v, s in zip(values, styles, strict=True)
    )


def table_html(rows: Sequence[Row], more: int = 0) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("id", "task", "status", "duration", "note"))
    body = "".join(f"<tr>{_cells(r)}</tr>" for r in rows)
    tail = f'<tr><td colspan="5">... {more} more</td></tr>' if more else ""
    return f'<table style="font-size:90%"><tr>{head}</tr>{body}{tail}</table>'


def table_text(rows: Sequence[Row], more: int = 0, what: str = "tasks") -> list[str]:
    lines = [f"  {'id':>4}  {'task':<28} {'status':<10} {'duration':>9}  note"]
    lines += [
        f"  {r.node_id:>4}  {r.name[:28]:<28} {r.status:<10} {r.duration:>9}  {r.note}"
        for r in rows
    ]
    if more:
        lines.append(f"  ... {more} more {what}")
    return lines


def headline_html(title: str, status: str, facts: Sequence[tuple[str, str]]) -> str:
    colour = _COLOURS.get(status, "inherit")
    items = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
        for k, v in facts
    )
    return (
        f"<div><b>{html.escape(title)}</b> "
        f"<span style='color:{colour};font-weight:bold'>{html.escape(status)}</span>"
        f"<table style='font-size:90%'>{items}</table></div>"
    )


def error_html(error: str) -> str:
    first, _, rest = error.partition("\n")
    details = (
        f"<details><summary>traceback</summary><pre>{html.escape(rest)}</pre></details>"
        if rest.strip()
        else ""
    )
    return f"<div style='color:#c62828'><b>error:</b> {html.escape(first)}</div>{details}"


def progress_phrase(counts: Counter[str] | dict[str, int]) -> str:
    """``3/10 tasks done (1 failed)``."""
    total = sum(counts.values())
    done = counts.get("COMPLETED", 0)
    extra = [f"{counts[s]} {s.lower()}" for s in ("FAILED", "CANCELLED") if counts.get(s)]
    return f"{done}/{total} tasks done" + (f" ({', '.join(extra)})" if extra else "")


def node_text(node: dict[str, Any]) -> str:
    """A node result (``get_node_result(i)``) as a few readable lines."""
    lines = [
        f"Node {node['node_id']} {node['node_name']} ({node['kind']})  {node['status']}"
        f"  duration {duration(node['start_time'], node['end_time'])}",
    ]
    if node.get("executor"):
        lines.append(f"  executor {node['executor']}, attempts {node.get('attempts', 0)}")
    lines.append(f"  {_decision(node)}")
    if node.get("error"):
        lines.append(f"  error: {node['error'].splitlines()[0]}")
    elif node.get("output") is not None:
        lines.append(f"  output: {shorten(node['output'].object_string, PREVIEW)}")
    for stream in ("stdout", "stderr"):
        if node.get(stream):
            lines.append(f"  {stream}: {shorten(node[stream].rstrip(), 500)}")
    return "\n".join(lines)


def node_html(node: dict[str, Any]) -> str:
    facts = [
        ("duration", duration(node["start_time"], node["end_time"])),
        ("executor", str(node.get("executor") or "-")),
        ("why", _decision(node)),
    ]
    if node.get("output") is not None and not node.get("error"):
        facts.append(("output", shorten(node["output"].object_string, PREVIEW)))
    out = headline_html(f"Node {node['node_id']} {node['node_name']}", node["status"], facts)
    if node.get("error"):
        out += error_html(f"{node['error']}\n{node.get('traceback') or ''}")
    for stream in ("stdout", "stderr"):
        if node.get(stream):
            out += f"<details><summary>{stream}</summary><pre>{html.escape(node[stream])}</pre>"
            out += "</details>"
    return out


def _decision(node: dict[str, Any]) -> str:
    reused = node.get("reused_from")
    if reused:
        return f"reused from {reused['dispatch_id'][:8]}:{reused['node_id']}"
    reason = node.get("reason") or {}
    return str(reason.get("text") or "ran")

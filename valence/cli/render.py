"""How the CLI shows dispatches and nodes: rich tables, times, durations, notes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from rich.table import Table

from valence import status as st
from valence.engine.redispatch import Plan
from valence.results import reuse_note
from valence.store.records import DispatchRecord, NodeRecord
from valence.workflow.graph import TASK_KINDS

STYLES = {
    st.COMPLETED: "green",
    st.FAILED: "red",
    st.CANCELLED: "yellow",
    st.RUNNING: "cyan",
    st.PENDING_BACKEND: "magenta",  # queued for a worker
}


def styled(status: str) -> str:
    style = STYLES.get(st.as_status(status), "dim")
    return f"[{style}]{status}[/{style}]"


def when(moment: datetime | None) -> str:
    """Local time to the second, or ``-``."""
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: datetime | None, end: datetime | None) -> str:
    """``1.234s``, ``2m03s``, ``1h02m``; elapsed so far when not finished; ``-`` if not started."""
    if start is None:
        return "-"
    seconds = ((end or datetime.now(timezone.utc)) - start).total_seconds()
    if seconds < 60:
        text = f"{seconds:.3f}s" if seconds < 10 else f"{seconds:.1f}s"
    elif seconds < 3600:
        text = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    else:
        text = f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return text if end is not None else text + "+"


def progress(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"{counts.get(st.COMPLETED, 0)}/{total}"


def dispatch_table(rows: list[tuple[DispatchRecord, dict[str, int]]]) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "STATUS", "TASKS", "DURATION", "CREATED", "FROM"):
        table.add_column(column, no_wrap=column in ("ID", "STATUS", "CREATED"))
    for record, counts in rows:
        origin = record.redispatched_from or ""
        if record.parent_dispatch_id:
            origin = f"sublattice of {record.parent_dispatch_id[:8]}"
        table.add_row(
            record.dispatch_id,
            record.name,
            styled(record.status),
            progress(counts),
            duration(record.start_time, record.end_time),
            when(record.created_at),
            origin[:8] if record.redispatched_from and not record.parent_dispatch_id else origin,
        )
    return table


def note(node: NodeRecord) -> str:
    """Reused from where, why it ran, or why it failed."""
    reused = reuse_note(node)
    if reused is not None:
        return reused
    if node.status == st.FAILED and node.error:
        return node.error.splitlines()[0]
    text = (node.reason or {}).get("text")
    if node.start_time is None:
        return f"not run ({text})" if text else "not run"
    return f"ran: {text}" if text else ""


def node_table(nodes: list[NodeRecord], *, all_nodes: bool) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "STATUS", "DURATION", "EXECUTOR", "REUSED FROM / WHY IT RAN"):
        table.add_column(column, no_wrap=column != "REUSED FROM / WHY IT RAN")
    for node in nodes:
        if not all_nodes and node.kind not in TASK_KINDS:
            continue
        table.add_row(
            str(node.node_id),
            node.name,
            styled(node.status),
            duration(node.start_time, node.end_time) if node.end_time else "-",
            node.executor or "-",
            note(node),
        )
    return table


def node_summary(nodes: list[NodeRecord], *, all_nodes: bool) -> str:
    """One line closing ``valence show``: tasks per status, reused, helpers hidden."""
    tasks = [n for n in nodes if n.kind in TASK_KINDS]
    counts = Counter(n.status for n in tasks)
    words = {st.PENDING_BACKEND: "queued", st.NEW_OBJECT: "not started"}
    parts = [f"{counts[s]} {words.get(s, s.lower())}" for s in sorted(counts)]
    reused = sum(1 for n in tasks if n.reused_from_dispatch is not None)
    line = f"{len(tasks)} task{'s' * (len(tasks) != 1)}: {', '.join(parts) or 'none'}"
    line += f"; {reused} reused" if reused else ""
    helpers = len(nodes) - len(tasks)
    if helpers and not all_nodes:
        line += f"; {helpers} helper nodes hidden (--all shows them)"
    return line


def plan_table(plan: Plan) -> Table:
    table = Table(box=None, header_style="bold")
    for column in ("ID", "NAME", "ACTION", "CODE", "WHY"):
        table.add_column(column)
    for decision in plan.tasks():
        action = "[green]reuse[/green]" if decision.action == "reuse" else "[cyan]run[/cyan]"
        table.add_row(str(decision.node_id), decision.name, action, decision.code, decision.text)
    return table

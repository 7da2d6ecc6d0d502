"""The ``valence`` command: dispatches (list, show, result, logs, cancel, redispatch, watch,
purge), the server (start, stop, status, serve, logs) and the database (db upgrade).

Commands use the server at ``--server`` / ``VALENCE_SERVER`` / the one ``valence start``
recorded; without one they read the store directly. Each command parses, calls one
backend method and prints; a bad input exits 1 with a one-line ``error: ...``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from valence import status as st
from valence.backends import Backend, RedispatchRequest, parse_duration
from valence.cli import config_cmd, render
from valence.config import DEFAULT_HOST, DEFAULT_PORT, load_settings, load_token, server_address
from valence.errors import ValenceError
from valence.extras import needs_extra

app = typer.Typer(
    help="valence: dispatches (list, show, result, logs, cancel, redispatch, watch, purge), "
    "the server (start, stop, status, serve, logs) and the database (db upgrade).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
if not out.is_terminal and "COLUMNS" not in os.environ:
    out.width = 200  # piped or captured: do not squeeze tables to 80 columns

F = TypeVar("F", bound=Callable[..., Any])

DispatchArg = Annotated[str, typer.Argument(help="dispatch id, or a unique prefix of one")]


def fail(message: object) -> NoReturn:
    """Print ``error: <first line>`` on stderr and exit 1."""
    text = str(message).strip().splitlines()
    err.print(f"error: {text[0] if text else type(message).__name__}", markup=False)
    raise typer.Exit(1)


def clean_errors(function: F) -> F:
    """Turn expected exceptions into one line on stderr and exit status 1."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.Abort):  # click's exits are RuntimeErrors: let them through
            raise
        except (ValenceError, ValueError, TypeError, KeyError, RuntimeError, OSError) as exc:
            fail(exc)

    return wrapper  # type: ignore[return-value]


@app.callback()
def main(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help="server address (host:port or URL); default: $VALENCE_SERVER, the one "
            "'valence start' recorded, else the local store",
        ),
    ] = None,
) -> None:
    """valence: workflows with Covalent's API and redispatch that reuses what is still valid."""
    ctx.obj = server


@contextmanager
def backend(ctx: typer.Context, *, runs: bool = False) -> Iterator[Backend]:
    """The server's backend, else the local store (``runs``: with an embedded dispatcher)."""
    settings = load_settings()
    address = server_address(ctx.obj, settings)
    if address is not None:
        with needs_extra("server", f"talking to the valence server at {address}"):
            from valence.backends.http import connect

        yield connect(address, settings)
        return
    from valence.backends.local import LocalBackend

    if runs:
        yield LocalBackend.embedded()
        return
    from valence.store import Store

    store = Store.open(settings.database_url, settings.blobs)
    try:
        yield LocalBackend.reading(store)
    finally:
        store.close()


def _moment(text: str | None) -> datetime | None:
    """``2d`` (that long ago) or an ISO date/time (UTC if no zone)."""
    if text is None:
        return None
    try:
        return datetime.now(timezone.utc) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give an age like 2d or a date like 2026-01-31"
        ) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"--since {text!r} is outside years 1-9999 once in UTC") from None


# ---- dispatches ------------------------------------------------------------------------


@app.command("list")
@clean_errors
def list_dispatches(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="only this status, e.g. FAILED")] = None,
    name: Annotated[str | None, typer.Option(help="only this lattice name")] = None,
    since: Annotated[str | None, typer.Option(help="created within (2d) or since a date")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="rows per page")] = 20,
    offset: Annotated[int, typer.Option(min=0, max=2**31 - 1, help="rows to skip")] = 0,
) -> None:
    """Recent dispatches: id, name, status, tasks done, duration, redispatched-from."""
    if status is not None:
        status = status.upper()
        if status not in st.KNOWN:
            fail(f"--status {status}: unknown status; use one of {', '.join(sorted(st.KNOWN))}")
    with backend(ctx) as b:
        rows = b.list_with_progress(
            status=status, name=name, since=_moment(since), limit=limit, offset=offset
        )
    if not rows:
        out.print("no dispatches")
        return
    out.print(render.dispatch_table(rows))


@app.command()
@clean_errors
def show(
    ctx: typer.Context,
    dispatch_id: DispatchArg,
    all_nodes: Annotated[bool, typer.Option("--all", help="also parameters and helpers")] = False,
) -> None:
    """A dispatch and its task table (reused from where, or why each task ran)."""
    with backend(ctx) as b:
        result = b.result(b.resolve_id(dispatch_id))
        record = result.record
        out.print(
            f"[bold]{record.dispatch_id}[/bold]  {record.name}  {render.styled(record.status)}"
        )
        out.print(
            f"created {render.when(record.created_at)}  "
            f"duration {render.duration(record.start_time, record.end_time)}"
        )
        if record.redispatched_from:
            out.print(f"redispatched from {record.redispatched_from}")
        if record.parent_dispatch_id:
            out.print(f"sublattice of {record.parent_dispatch_id} node {record.parent_node_id}")
        if record.error:
            out.print(f"[red]error:[/red] {record.error.splitlines()[0]}", markup=True)
        out.print(render.node_table(result.nodes, all_nodes=all_nodes))
        out.print(render.node_summary(result.nodes, all_nodes=all_nodes))


@app.command()
@clean_errors
def result(
    ctx: typer.Context,
    dispatch_id: DispatchArg,
    wait: Annotated[bool, typer.Option("--wait", "-w", help="wait until it finishes")] = False,
) -> None:
    """The dispatch's result (exit 1 if it has none: failed, cancelled or still running)."""
    with backend(ctx) as b:
        did = b.resolve_id(dispatch_id)
        if wait:
            b.wait(did, None)
        found = b.result(did)
        if found.status == st.COMPLETED:
            encoded = found.encoded_result
            out.print("None" if encoded is None else encoded.object_string, markup=False)
            return
        if found.error:
            err.print(found.error, markup=False)
        fail(f"dispatch {did} is {found.status}: it has no result")


@app.command()
@clean_errors
def logs(
    ctx: typer.Context,
    dispatch_id: Annotated[
        str | None, typer.Argument(help="dispatch id (prefix); without it, the server log")
    ] = None,
    node: Annotated[str | None, typer.Argument(help="node id or task name")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing the log")] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="last lines of the log")] = 200,
) -> None:
    """Task stdout/stderr of a dispatch (or of one node), or the server log.

    With -f, what running tasks print appears as they print it, until the dispatch ends.
    """
    if dispatch_id is None:
        _server_log(follow, lines)
        return
    with backend(ctx) as b:
        did = b.resolve_id(dispatch_id)
        if follow:
            _follow_task_logs(b, did, node)
            return
        nodes = b.get_nodes(did)
    chosen = _select_nodes(nodes, node, did)
    printed = False
    for item in chosen:
        if not (item.stdout or item.stderr) and node is None:
            continue
        printed = True
        out.print(f"[bold]── node {item.node_id} {item.name} ({item.status})[/bold]")
        if item.stdout:
            out.print(item.stdout.rstrip("\n"), markup=False)
        if item.stderr:
            out.print(f"[red]{_escape(item.stderr.rstrip(chr(10)))}[/red]")
    if not printed:
        out.print("no task of this dispatch printed anything")


def _follow_task_logs(b: Backend, did: str, node: str | None, interval: float = 0.5) -> None:
    """Print what the chosen tasks print, as it is recorded, until the dispatch ends."""
    shown: dict[tuple[int, str], int] = {}  # characters printed per node and stream
    current: int | None = None
    while True:
        finished = b.status(did) in st.TERMINAL  # read before the nodes: nothing is missed
        for item in _select_nodes(b.get_nodes(did), node, did):
            for stream in ("stdout", "stderr"):
                text = getattr(item, stream)
                new = text[shown.get((item.node_id, stream), 0) :]
                if not new:
                    continue
                shown[(item.node_id, stream)] = len(text)
                if current != item.node_id:
                    out.print(f"[bold]── node {item.node_id} {item.name}[/bold]")
                    current = item.node_id
                style = "red" if stream == "stderr" else None
                out.print(new, end="", style=style, markup=False, highlight=False)
        if finished:
            out.print(f"── dispatch {did} {render.styled(b.status(did))}")
            return
        b.wait(did, interval)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _select_nodes(nodes: list[Any], node: str | None, dispatch_id: str) -> list[Any]:
    if node is None:
        return nodes
    chosen = [n for n in nodes if str(n.node_id) == node or n.name == node]
    if not chosen:
        raise ValueError(f"dispatch {dispatch_id} has no node {node!r} (ids 0..{len(nodes) - 1})")
    return chosen


def _server_log(follow: bool, lines: int) -> None:
    path = load_settings().log_file
    if not path.exists():
        fail(f"no server log at {path}: start a server with `valence start`")
    with open(path, errors="replace") as fh:
        tail = fh.readlines()[-lines:] if lines else []
        sys.stdout.write("".join(tail))
        sys.stdout.flush()
        while follow:
            chunk = fh.read()
            if chunk:
                sys.stdout.write(chunk)
                sys.stdout.flush()
            else:
                try:
                    time.sleep(0.5)
                except KeyboardInterrupt:
                    return


@app.command()
@clean_errors
def cancel(
    ctx: typer.Context,
    dispatch_id: DispatchArg,
    task: Annotated[list[int] | None, typer.Option(help="only this node id (repeatable)")] = None,
) -> None:
    """Cancel a running dispatch (or some of its tasks); completed results stay."""
    with backend(ctx) as b:
        out.print(b.cancel(b.resolve_id(dispatch_id), task or None), markup=False)


def _json_option(text: str | None, kind: type, option: str) -> Any:
    if text is None:
        return kind()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, kind):
        wanted = (
            "a JSON list, e.g. '[1, 2]'" if kind is list else "a JSON object, e.g. '{\"b\": 3}'"
        )
        raise ValueError(f"{option} must be {wanted}")
    return value


@app.command()
@clean_errors
def redispatch(
    ctx: typer.Context,
    dispatch_id: DispatchArg,
    reuse: Annotated[bool, typer.Option("--reuse", help="reuse every still-valid result")] = False,
    args: Annotated[
        str | None, typer.Option("--args", help="new positional inputs (JSON list)")
    ] = None,
    kwargs: Annotated[
        str | None, typer.Option("--kwargs", help="new keyword inputs (JSON object)")
    ] = None,
    force_rerun: Annotated[
        list[str] | None, typer.Option("--force-rerun", help="task name to rerun (repeatable)")
    ] = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="show what would reuse/run; run nothing")
    ] = False,
    reuse_from: Annotated[
        str | None,
        typer.Option(
            "--reuse-from",
            help="where to reuse from (implies --reuse): parent, any (the whole store), "
            "or comma-separated dispatch ids",
        ),
    ] = None,
) -> None:
    """Run a dispatch again by id (prints the new id); --reuse keeps what is still valid.

    Without a server, the new dispatch runs in this process: the command returns when it
    is finished.
    """
    from valence.backends.local import LocalBackend

    request = RedispatchRequest(
        tuple(_json_option(args, list, "--args")),
        _json_option(kwargs, dict, "--kwargs"),
        {},
        reuse,
        tuple(force_rerun or ()),
        _reuse_from_option(reuse_from),
    )
    with backend(ctx, runs=not plan) as b:
        did = b.resolve_id(dispatch_id)
        if plan:
            found = b.plan(did, request)
            out.print(found.headline(), markup=False)
            out.print(render.plan_table(found))
            return
        new_id = b.redispatch(did, request)
        out.print(new_id, markup=False)
        if isinstance(b, LocalBackend):
            err.print("no server: the dispatch runs in this process; waiting for it to finish")
            b.wait(new_id, None)
            err.print(f"finished: {b.status(new_id)}")


def _reuse_from_option(text: str | None) -> str | tuple[str, ...] | None:
    if text is None or text.strip() in ("parent", "any"):
        return None if text is None else text.strip()
    ids = tuple(part.strip() for part in text.split(",") if part.strip())
    if not ids:
        raise typer.BadParameter("give parent, any, or dispatch ids separated by commas")
    return ids


@app.command()
@clean_errors
def watch(
    ctx: typer.Context,
    dispatch_id: DispatchArg,
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between updates")] = 0.5,
) -> None:
    """A live progress bar until the dispatch finishes (exit 1 unless COMPLETED)."""
    with backend(ctx) as b:
        did = b.resolve_id(dispatch_id)
        status = b.status(did)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        clock = TextColumn("{task.fields[clock]}")  # from the dispatch's start, not ours
        with Progress(*columns, TextColumn("tasks"), clock, console=out) as bar:
            task = bar.add_task(f"{did[:8]} {status}", total=None, clock="-")
            while True:
                counts = b.node_counts([did]).get(did, {})
                done = sum(counts.get(s, 0) for s in st.TERMINAL)
                record = b.get_dispatch(did)
                bar.update(task, total=sum(counts.values()), completed=done)
                bar.update(
                    task,
                    description=f"{did[:8]} {status}",
                    clock=render.duration(record.start_time, record.end_time),
                )
                if status in st.TERMINAL:
                    break
                b.wait(did, interval)
                status = b.status(did)
    out.print(f"{did} {render.styled(status)}")
    if status != st.COMPLETED:
        raise typer.Exit(1)


@app.command()
@clean_errors
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option(help="delete finished dispatches older than this (30d, 12h, 0)")
    ] = "30d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would go")] = False,
) -> None:
    """Delete old finished dispatches and the stored values no remaining dispatch uses.

    Values shared with remaining dispatches (reused results) are kept. Values are
    collected only while no dispatch is running.
    """
    age = parse_duration(older_than)
    with backend(ctx) as b:
        report = b.purge(age, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    out.print(f"{verb} {len(report.deleted)} dispatch(es)")
    for dispatch_id in report.deleted if dry_run else []:
        out.print(f"  {dispatch_id}")
    if report.kept:
        out.print(f"kept {len(report.kept)} sublattice run(s) that remaining dispatches reuse")
    if not dry_run:
        out.print(f"collected {report.blobs_deleted} unreferenced blob(s)")
    if report.note:
        out.print(report.note, markup=False)


# ---- database --------------------------------------------------------------------------


@db_app.command("upgrade")
@clean_errors
def db_upgrade() -> None:
    """Bring the database to this valence's schema (run after upgrading valence)."""
    from valence.store import Store
    from valence.store.migrate import HEAD_REVISION

    settings = load_settings()
    with Store.open(settings.database_url, settings.blobs) as store:
        revision = store.schema_revision()
        out.print(f"{store.where}: schema revision {revision} (this valence: {HEAD_REVISION})")


# ---- the server ------------------------------------------------------------------------

HostOption = Annotated[str, typer.Option(help="address to listen on (not loopback: token!)")]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="port (0: any free port)")]
WorkersOption = Annotated[
    int | None, typer.Option(min=1, help="size of the local process/thread executor pools")
]


@app.command()
@clean_errors
def fsck() -> None:
    """Check the local store: database integrity and every blob's digest (exit 1 if damaged).

    Lists each missing or damaged blob with the dispatches and nodes that use it.
    """
    from valence.store import Store

    settings = load_settings()
    with Store.open(settings.database_url, settings.blobs) as store:
        report = store.fsck()
    for line in report.lines():
        out.print(line, markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@clean_errors
def start(
    host: HostOption = DEFAULT_HOST, port: PortOption = DEFAULT_PORT, workers: WorkersOption = None
) -> None:
    """Start the server in the background; clients of this valence home then use it."""
    with needs_extra("server", "valence start"):
        from valence.server.process import server_state, start_background
        from valence.server.serve import is_loopback

    settings = load_settings()
    state = server_state(settings)
    if state.running:
        out.print(f"valence server already running at {state.url} (pid {state.pid})")
        return
    state = start_background(settings, host, port, workers)
    out.print(f"valence server running at {state.url} (pid {state.pid}); log {settings.log_file}")
    _print_ui_link(state.url, settings)
    if not is_loopback(host):
        out.print(
            f"clients elsewhere need VALENCE_SERVER and VALENCE_TOKEN (in {settings.token_file})"
        )


def _print_ui_link(url: str | None, settings: Any) -> None:
    """The web UI's address; on loopback with the token (its file is this user's only)."""
    from urllib.parse import urlsplit

    from valence.server.serve import is_loopback

    if not url:
        return
    token = load_token(settings)
    link = url.rstrip("/") + "/"
    if token and is_loopback(urlsplit(url).hostname or ""):
        link += f"#token={token}"
    out.print(f"web UI: {link}", soft_wrap=True)


@app.command()
@clean_errors
def stop() -> None:
    """Stop the background server; running dispatches resume when it starts again."""
    with needs_extra("server", "valence stop"):
        from valence.server.process import stop_server

    state = stop_server(load_settings())
    if state.running:
        out.print(f"valence server stopped (pid {state.pid})")
    elif state.stale:
        out.print(f"valence server was not running (removed a stale PID file of pid {state.pid})")
    else:
        out.print("valence server is not running")


@app.command()
@clean_errors
def status() -> None:
    """Whether the server runs (exit 0) or not (exit 1); notices a stale PID file."""
    with needs_extra("server", "valence status"):
        from valence.server.process import answers, server_state

    settings = load_settings()
    state = server_state(settings)
    if state.running:
        health = "answering" if state.url and answers(state.url) else "NOT answering"
        out.print(f"valence server running at {state.url} (pid {state.pid}), {health}")
        _print_ui_link(state.url, settings)
        return
    if state.stale:
        out.print(f"valence server stopped (removed a stale PID file of pid {state.pid})")
    else:
        out.print("valence server stopped")
    env = os.environ.get("VALENCE_SERVER")
    out.print(
        f"clients use {env} (VALENCE_SERVER)" if env else "clients use the embedded dispatcher"
    )
    raise typer.Exit(1)


@app.command()
@clean_errors
def serve(
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    workers: WorkersOption = None,
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
) -> None:
    """Run the server in the foreground (containers, systemd); stop with SIGTERM or Ctrl-C."""
    with needs_extra("server", "valence serve"):
        from valence.server.process import server_state
        from valence.server.serve import configure_logging
        from valence.server.serve import serve as run_server

    settings = load_settings()
    state = server_state(settings)
    if state.running and state.pid != os.getpid():
        fail(f"a valence server already runs for this home at {state.url} (pid {state.pid})")
    configure_logging()
    run_server(settings, host, port, workers=workers, access_log=access_log)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # do not wait for tasks still running in pool threads: they resume later


for _name, _command in (
    ("get", config_cmd.get),
    ("set", config_cmd.set_),
    ("list", config_cmd.list_),
):
    config_cmd.config_app.command(_name)(clean_errors(_command))
app.add_typer(config_cmd.config_app, name="config")


def run() -> None:
    """The ``valence`` console command: usage errors are one line and exit 1, like all others."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        err.print("error: aborted", markup=False)
        code = 1
    except typer.TyperException as exc:  # typer's (vendored click) usage errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            out.print(ctx.get_help(), markup=False)
            code = 0
        else:
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            err.print(f"error: {message} (see --help)", markup=False)
            code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()

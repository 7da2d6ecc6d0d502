"""The background server of a valence home: start it, stop it, tell whether it runs.

``serve`` writes ``<home>/server.pid`` (pid, process start time, URL) while it
runs; a PID file whose process is gone (or is another process that reused the
pid) is stale, and is removed when noticed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from valence.config import Settings
from valence.errors import ServerError


@dataclass
class ServerState:
    """What the PID file says, checked against the process table."""

    running: bool
    pid: int | None = None
    url: str | None = None
    stale: bool = False  # a PID file was left by a server that is gone (now removed)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_pid_file(settings: Settings) -> dict[str, Any] | None:
    data = _read_json(settings.pid_file)
    return data if data is not None and isinstance(data.get("pid"), int) else None


def _alive(record: dict[str, Any]) -> bool:
    try:
        process = psutil.Process(record["pid"])
        return (
            abs(process.create_time() - float(record.get("started", 0))) < 0.01
            and process.status() != psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError, TypeError):
        return False


def server_state(settings: Settings) -> ServerState:
    """Running, stopped, or stopped with a stale PID file (which is then removed)."""
    record = read_pid_file(settings)
    if record is None:
        return ServerState(False)
    if _alive(record):
        return ServerState(True, record["pid"], record.get("url"))
    for path in (settings.pid_file, settings.server_file):
        path.unlink(missing_ok=True)
    return ServerState(False, record["pid"], record.get("url"), stale=True)


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a valence server answers ``/api/v1/health`` at ``url``."""
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def start_background(
    settings: Settings, host: str, port: int, workers: int | None, timeout: float = 60.0
) -> ServerState:
    """Start ``valence serve`` detached, logging to the home's log file; wait until it answers."""
    command = [
        sys.executable,
        "-m",
        "valence.cli.main",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if workers is not None:
        command += ["--workers", str(workers)]
    fd = os.open(settings.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        start = log.tell()
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=settings.home,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ServerError(f"the server exited at start: {_last_line(settings, start)}")
        record = read_pid_file(settings)
        if record and record["pid"] == child.pid and answers(record["url"]):
            return ServerState(True, child.pid, record["url"])
        time.sleep(0.1)
    raise ServerError(
        f"the server (pid {child.pid}) did not answer within {timeout:.0f} s; "
        f"see {settings.log_file} (`valence logs`)"
    )


def _last_line(settings: Settings, offset: int) -> str:
    with open(settings.log_file, "rb") as fh:
        fh.seek(offset)
        lines = [line.strip() for line in fh.read().decode(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else f"no output; see {settings.log_file}"


def _exited(process: psutil.Process, timeout: float) -> bool:
    """Wait until ``process`` is gone or a zombie (its parent may reap it late)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def stop_server(settings: Settings, timeout: float = 30.0) -> ServerState:
    """SIGTERM the running server and wait for it to exit (SIGKILL after ``timeout``).

    Running dispatches are not cancelled: the next server resumes them.
    """
    state = server_state(settings)
    if not state.running or state.pid is None:
        return state
    process = psutil.Process(state.pid)
    process.send_signal(signal.SIGTERM)
    if not _exited(process, timeout):
        process.kill()
        _exited(process, 10)
    for path in (settings.pid_file, settings.server_file):
        record = _read_json(path)
        if record is not None and record.get("pid") == state.pid:
            path.unlink(missing_ok=True)
    return state

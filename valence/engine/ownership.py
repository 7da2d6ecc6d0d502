"""Who runs a dispatch: an owner string per dispatcher, and whether it is alive.

An owner is ``host:pid:process-start-time``. A dispatch whose owner process is
gone (same host, no such process, a zombie not yet reaped by its parent, or a
different process reusing the pid) may
be resumed by another dispatcher; one whose owner runs on another host is
never taken over (we cannot tell whether it is alive).
"""

from __future__ import annotations

import os
import socket
import uuid

import psutil


def new_owner() -> str:
    """A unique owner id for a dispatcher in this process."""
    pid = os.getpid()
    started = psutil.Process(pid).create_time()
    return f"{socket.gethostname()}:{pid}:{started:.3f}:{uuid.uuid4().hex[:8]}"


def is_alive(owner: str) -> bool:
    """False only when we can tell the owning process is gone."""
    try:
        host, pid_text, started_text, _ = owner.split(":")
        pid, started = int(pid_text), float(started_text)
    except ValueError:
        return True  # not ours to judge
    if host != socket.gethostname():
        return True
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - started) < 0.01
        return same and bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False

"""Who runs a dispatch: an owner string per dispatcher, and whether it is alive.

An owner is ``host:pid:process-start-time:nonce``. ``host`` is the host name, or
``VALENCE_HOST_ID`` when set (give each container its own when containers share a
host name: their process ids are not comparable). A dispatch whose owner process
on this host is gone (no such process, a zombie not yet reaped by its parent, or
a different process reusing the pid) may be resumed by another dispatcher. An
owner on another host is judged by its heartbeats (:mod:`valence.engine.lease`);
this module alone never declares it dead.
"""

from __future__ import annotations

import os
import socket
import uuid

import psutil

from valence.errors import ConfigError


def host_id() -> str:
    """The name dispatchers of this host put in their owner ids."""
    host = os.environ.get("VALENCE_HOST_ID", "").strip() or socket.gethostname()
    if ":" in host:
        raise ConfigError(f"VALENCE_HOST_ID {host!r} contains ':'; choose a name without colons")
    return host


def new_owner() -> str:
    """A unique owner id for a dispatcher in this process."""
    pid = os.getpid()
    started = psutil.Process(pid).create_time()
    return f"{host_id()}:{pid}:{started:.3f}:{uuid.uuid4().hex[:8]}"


def host_of(owner: str) -> str | None:
    """The host part of an owner id (None for one this version did not write)."""
    parts = owner.split(":")
    return parts[0] if len(parts) == 4 else None


def is_alive(owner: str) -> bool:
    """False only when we can tell the owning process on this host is gone."""
    try:
        host, pid_text, started_text, _ = owner.split(":")
        pid, started = int(pid_text), float(started_text)
    except ValueError:
        return True  # not ours to judge
    if host != host_id():
        return True
    try:
        process = psutil.Process(pid)
        same = abs(process.create_time() - started) < 0.01
        return same and bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False

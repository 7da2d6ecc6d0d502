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
import sys
import uuid

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
    started = _process(pid)[0]
    assert started is not None  # this process exists
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
    created, zombie = _process(pid)
    if created is None:
        return False
    return abs(created - started) < 0.01 and not zombie


def _process(pid: int) -> tuple[float | None, bool]:
    """When process ``pid`` started (seconds since the epoch; None: no such process) and
    whether it is a zombie.

    On Linux read from ``/proc`` as psutil's ``create_time()`` computes it (start ticks
    after boot / ticks per second + boot time), without importing psutil: a fresh
    process's first dispatch calls this. A test checks both agree.
    """
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except (FileNotFoundError, ProcessLookupError):
            return None, False
        except OSError:
            pass  # not readable here (e.g. hidepid): ask psutil
        else:
            fields = stat[stat.rfind(b")") + 2 :].split()
            return int(fields[19]) / _CLOCK_TICKS + _boot_time(), fields[0] == b"Z"
    import psutil

    try:
        process = psutil.Process(pid)
        return process.create_time(), process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return None, False


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _boot_time() -> float:
    """The boot time in seconds since the epoch (``btime`` of ``/proc/stat``, as psutil)."""
    with open("/proc/stat", "rb") as fh:
        for line in fh:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")

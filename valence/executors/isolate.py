"""Run one task in a short-lived child process that is killed at its time limit.

Dask runs tasks on threads of its worker processes, and a thread cannot be
stopped, so on Dask a task with ``timeout=`` runs through :func:`run_isolated`:
a fresh ``python -m valence.executors.isolate`` process (a plain subprocess, so
it works inside Dask's daemonic workers). The limit counts from the moment the
child has started up and begins the task (deps, hooks and the function), not
from interpreter start-up. At the limit the child is killed and the task fails
with a ``TimeoutError`` naming the limit; a child that dies fails the task with
``WorkerDiedError``; the Dask worker itself is unaffected.
"""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from valence.executors.base import Outcome
from valence.executors.pool import exit_status, failed, timed_out, worker_died

__all__ = ["run_isolated"]

STARTUP_LIMIT = 120.0  # seconds a child may take to start before it counts as dead


def run_isolated(payload: bytes, name: str, timeout: float) -> Outcome:
    """Run the serialized task in a child process; kill it after ``timeout`` seconds."""
    with tempfile.TemporaryDirectory(prefix="valence-task-") as tmp:
        task_path, out_path = Path(tmp, "task"), Path(tmp, "outcome")
        task_path.write_bytes(payload)
        ready_r, ready_w = os.pipe()
        command = [sys.executable, "-m", __name__, str(task_path), str(out_path), name]
        try:
            process = subprocess.Popen(
                [*command, str(ready_w)], stdin=subprocess.DEVNULL, pass_fds=(ready_w,)
            )
        finally:
            os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            started = select.select([ready], [], [], STARTUP_LIMIT)[0] and ready.read(1)
        start = datetime.now(timezone.utc)
        if not started:
            process.kill()
            process.wait()
            return failed(worker_died(name, "it did not start: " + exit_status(process.returncode)))
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return failed(timed_out(name, timeout), start)
        if not out_path.exists():
            return failed(worker_died(name, exit_status(process.returncode)), start)
        return pickle.loads(out_path.read_bytes())


def _main(task_path: str, out_path: str, name: str, ready_fd: str) -> None:
    from valence.executors.worker import run_serialized

    payload = Path(task_path).read_bytes()
    os.write(int(ready_fd), b"S")
    os.close(int(ready_fd))
    outcome = run_serialized(payload, name)
    tmp = Path(out_path + ".tmp")
    tmp.write_bytes(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, out_path)


if __name__ == "__main__":
    _main(*sys.argv[1:5])

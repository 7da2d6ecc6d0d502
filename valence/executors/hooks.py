"""Runs a task's deps and hooks where the task runs (called by ``worker.run_task``).

Order, as in Covalent: ``deps_bash`` commands, the ``deps_pip`` install, the
file transfers (``files=``: temp files, then BEFORE transfers; their
``(from, to)`` pairs become the ``files`` kwarg), ``deps_module`` modules, the
``call_before`` hooks (whose ``retval_keyword`` values become task kwargs),
the task, then the AFTER file transfers and the ``call_after`` hooks. Any failure raises
:class:`DependencyError` naming the command or hook and carrying its output,
which fails the task.

``DepsPip`` installs with ``python -m pip`` of the interpreter running the
task. A successful install leaves a marker file named by the hash of the
requirement set and the interpreter in ``<sys.prefix>/.valence-deps/``; a later
task (in any worker process of that environment) that finds the marker skips
the install. Installs of one set are serialized with a file lock. Removing the
marker (or the whole directory) forces a reinstall.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from valence.errors import DependencyError

__all__ = ["DependencyError", "pip_marker", "run_after", "run_before"]

_OUTPUT_LIMIT = 4000  # characters of a failing command's output kept in the error
_installed: set[str] = set()  # requirement hashes installed by this process
_install_lock = threading.Lock()


def run_before(metadata: dict[str, Any]) -> dict[str, Any]:
    """Run bash deps, pip deps and ``call_before`` hooks; return the kwargs to inject."""
    bash = metadata.get("deps_bash")
    if bash is not None:
        for command in bash.commands:
            _run_command(command, shell=True, what="deps_bash command")
    pip = metadata.get("deps_pip")
    if pip is not None:
        _install(pip)
    injected: dict[str, list[Any]] = {}
    transfers = metadata.get("files")
    if transfers:
        from valence.fs.run import before_task

        injected["files"] = before_task(transfers)
    for module in metadata.get("deps_module") or ():
        _call(module, "deps_module")
    for hook in metadata.get("call_before") or ():
        value = _call(hook, "call_before")
        if hook.retval_keyword:
            injected.setdefault(hook.retval_keyword, []).append(value)
    return {k: v[0] if len(v) == 1 and k != "files" else v for k, v in injected.items()}


def run_after(metadata: dict[str, Any]) -> None:
    """Run the AFTER file transfers, then the ``call_after`` hooks."""
    transfers = metadata.get("files")
    if transfers:
        from valence.fs.run import after_task

        after_task(transfers)
    for hook in metadata.get("call_after") or ():
        _call(hook, "call_after")


def _call(hook: Any, kind: str) -> Any:
    """Run one hook: a DepsCall, or (as Covalent allows) a DepsBash, DepsPip or DepsModule."""
    from valence.workflow.deps import DepsBash, DepsModule, DepsPip

    if isinstance(hook, DepsBash):
        for command in hook.commands:
            _run_command(command, shell=True, what=f"{kind} DepsBash command")
        return None
    if isinstance(hook, DepsPip):
        return _install(hook)
    if isinstance(hook, DepsModule):
        try:
            return hook.load()
        except Exception as exc:
            raise DependencyError(
                f"{kind} module {hook.module_name} cannot be loaded: {type(exc).__name__}: {exc}"
            ) from exc
    try:
        return hook.func(*hook.args, **hook.kwargs)
    except Exception as exc:
        raise DependencyError(
            f"{kind} hook {hook.name}() failed: {type(exc).__name__}: {exc}"
        ) from exc


def _run_command(command: str | list[str], *, shell: bool, what: str) -> None:
    done = subprocess.run(
        command, shell=shell, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if done.returncode != 0:
        shown = command if isinstance(command, str) else " ".join(command)
        output = (done.stdout + done.stderr).strip()
        if len(output) > _OUTPUT_LIMIT:
            output = "..." + output[-_OUTPUT_LIMIT:]
        raise DependencyError(
            f"{what} `{shown}` failed with exit code {done.returncode}"
            + (f"; its output:\n{output}" if output else " and printed nothing")
        )


# ---------------------------------------------------------------- pip


def pip_marker(pip: Any) -> Path:
    """The marker file that records ``pip``'s requirement set as installed here."""
    key = json.dumps(
        [sys.executable, sorted(pip.packages), pip.requirements_content], sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return Path(sys.prefix) / ".valence-deps" / f"pip-{digest}"


def _install(pip: Any) -> None:
    marker = pip_marker(pip)
    if marker.name in _installed or marker.exists():
        return
    with _install_lock, _file_lock(marker):
        if marker.exists():  # another worker installed it while we waited
            _installed.add(marker.name)
            return
        print(f"valence: installing deps_pip {_describe(pip)}", file=sys.stderr)
        with _requirements_file(pip) as reqs:
            args = ["-r", reqs] if reqs else list(pip.packages)
            command = [sys.executable, "-m", "pip", "install", "--no-input", *args]
            _run_command(command, shell=False, what="deps_pip install")
        importlib.invalidate_caches()
        _installed.add(marker.name)
        with contextlib.suppress(OSError):  # a read-only environment just caches less
            marker.write_text(_describe(pip) + "\n")


def _describe(pip: Any) -> str:
    return " ".join(pip.packages) if pip.packages else f"-r {pip.reqs_path}"


@contextlib.contextmanager
def _requirements_file(pip: Any) -> Iterator[str | None]:
    if not pip.requirements_content:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="valence-reqs-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(pip.requirements_content)
        yield path
    finally:
        os.unlink(path)


@contextlib.contextmanager
def _file_lock(marker: Path) -> Iterator[None]:
    """An exclusive lock next to ``marker``; none if fcntl or the directory is missing."""
    try:
        import fcntl

        marker.parent.mkdir(parents=True, exist_ok=True)
        fh = open(marker.with_suffix(".lock"), "w")  # noqa: SIM115 - closed below
    except (ImportError, OSError):  # Windows or a read-only environment: no lock
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

"""Covalent's executor options that valence honours: log files, a work dir, a conda env.

``log_stdout`` / ``log_stderr`` append a task's captured output to files; a
relative path is taken under ``<cache_dir>/<dispatch_id>/`` (``cache_dir``
defaults to ``<valence home>/cache``), as Covalent puts it under the
dispatch's results directory. ``workdir`` is the directory a task runs in
(created; with ``create_unique_workdir``, ``<workdir>/<dispatch_id>/node_<id>``).
``conda_env`` names an environment (or gives its directory) whose interpreter
runs the task. Options valence does not support raise
:class:`~valence.errors.UnsupportedOptionError` naming them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from valence.errors import ExecutorError, UnsupportedOptionError
from valence.executors.base import Outcome

OPTIONS_KEY = "executor_options"
"""``TaskSpec.metadata`` key under which an executor hands these options to its worker."""

_lock = threading.Lock()


def reject_unsupported(
    owner: str, time_limit: Any, retries: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """UnsupportedOptionError naming every option given that valence does not honour."""
    unsupported = [f"time_limit={time_limit!r}"] if time_limit not in (-1, None) else []
    if retries not in (0, None):
        unsupported.append(f"retries={retries!r}")
    unsupported += [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    if unsupported:
        raise UnsupportedOptionError(
            f"{owner}: valence does not support the executor option(s) "
            f"{', '.join(unsupported)}; set retries and timeouts per task with "
            "@ct.electron(retries=..., timeout=...)"
        )


def default_cache_dir() -> Path:
    from valence.config import home_dir

    return home_dir() / "cache"


def log_path(path: str, dispatch_id: str, cache_dir: str = "") -> Path:
    """Where ``path`` (absolute, ``~``-relative or relative) points for this dispatch."""
    target = Path(path).expanduser()
    if target.is_absolute():
        return target
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return base / dispatch_id / target


def write_streams(
    outcome: Outcome, dispatch_id: str, log_stdout: str, log_stderr: str, cache_dir: str = ""
) -> None:
    """Append the outcome's stdout/stderr to the files named (empty name: not written)."""
    for name, text in ((log_stdout, outcome.stdout), (log_stderr, outcome.stderr)):
        if not name:
            continue
        target = log_path(name, dispatch_id, cache_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock, open(target, "a") as fh:
            fh.write(text)


def task_workdir(options: dict[str, Any], dispatch_id: str, node_id: int) -> str | None:
    workdir = options.get("workdir")
    if not workdir:
        return None
    path = Path(workdir).expanduser()
    if options.get("create_unique_workdir"):
        path = path / dispatch_id / f"node_{node_id}"
    return str(path)


@contextlib.contextmanager
def working_directory(path: str | None) -> Iterator[None]:
    """Run the body in ``path`` (created); a no-op for None. Process-wide: one task per process."""
    if path is None:
        yield
        return
    Path(path).mkdir(parents=True, exist_ok=True)
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# ---- conda environments --------------------------------------------------------------


def conda_python(env: str) -> str:
    """The interpreter of conda environment ``env`` (a name or a directory)."""
    for directory in _candidates(env):
        python = directory / "bin" / "python"
        if python.exists():
            return str(python)
    raise ExecutorError(
        f"conda environment {env!r} not found (looked for {env!r} as a directory, in "
        f"`conda env list`, $CONDA_PREFIX/envs and ~/.conda/envs); create it with "
        f"`conda create -n {env} python` and install valence in it, or pass its directory"
    )


def _candidates(env: str) -> Iterator[Path]:
    path = Path(env).expanduser()
    if path.is_absolute() or os.sep in env:
        yield path
        return
    for tool in ("conda", "mamba", "micromamba"):
        exe = shutil.which(tool)
        if exe is None:
            continue
        try:
            listed = subprocess.run(
                [exe, "env", "list", "--json"], capture_output=True, text=True, timeout=60
            )
            envs = json.loads(listed.stdout).get("envs", [])
        except (OSError, ValueError, subprocess.SubprocessError):
            continue
        yield from (Path(e) for e in envs if Path(e).name == env)
    for root in (os.environ.get("CONDA_PREFIX"), os.environ.get("MAMBA_ROOT_PREFIX")):
        if root:
            yield Path(root) / "envs" / env
    yield Path.home() / ".conda" / "envs" / env

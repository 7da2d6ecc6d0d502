"""The progress bar ``get_result(wait=True)`` shows while it waits.

Tasks done / total (and how many were reused), refreshed twice a second: an
ipywidgets bar in a Jupyter kernel, a text bar on a terminal, nothing when the
output is not interactive (a pipe, a log file, CI). Nothing is shown for a
dispatch that finishes within the first half second. ``progress=False`` or
``VALENCE_PROGRESS=0`` turn it off.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Protocol, TextIO

from valence import display
from valence import status as st

__all__ = ["progress_enabled", "wait_with_progress"]

QUIET_START = 0.5  # seconds of waiting before a bar appears
REFRESH = 0.5  # seconds between updates
_OFF = {"0", "false", "no", "off"}


class Bar(Protocol):
    def update(self, done: int, total: int, reused: int, failed: int, elapsed: float) -> None: ...
    def close(self, status: str) -> None: ...


def progress_enabled(progress: bool | None = None) -> bool:
    """False if the caller said ``progress=False`` or ``VALENCE_PROGRESS`` is 0/false/no/off."""
    if progress is not None:
        return progress
    return os.environ.get("VALENCE_PROGRESS", "1").strip().lower() not in _OFF


def wait_with_progress(
    backend: Any, dispatch_id: str, timeout: float | None, progress: bool | None = None
) -> bool:
    """``backend.wait`` with a progress bar where one can be seen; False on timeout."""
    if not progress_enabled(progress):
        return backend.wait(dispatch_id, timeout)
    started = time.monotonic()
    if backend.wait(dispatch_id, QUIET_START if timeout is None else min(QUIET_START, timeout)):
        return True
    bar = _choose_bar()
    if bar is None:
        return backend.wait(dispatch_id, _left(started, timeout))
    reused = _reused_tasks(backend, dispatch_id)
    status = st.RUNNING
    try:
        while True:
            counts = backend.node_counts([dispatch_id]).get(dispatch_id, {})
            done = sum(counts.get(s, 0) for s in st.TERMINAL)
            failed = counts.get(st.FAILED, 0)
            bar.update(done, sum(counts.values()), reused, failed, time.monotonic() - started)
            if status in st.TERMINAL:
                return True
            left = _left(started, timeout)
            if left is not None and left <= 0:
                return False
            if backend.wait(dispatch_id, REFRESH if left is None else min(REFRESH, left)):
                status = backend.status(dispatch_id)
    finally:
        bar.close(status)


def _left(started: float, timeout: float | None) -> float | None:
    return None if timeout is None else timeout - (time.monotonic() - started)


def _reused_tasks(backend: Any, dispatch_id: str) -> int:
    """Reused tasks are decided before anything runs: counted once."""
    nodes = backend.get_nodes(dispatch_id)
    return sum(1 for n in nodes if display.is_task(n.kind) and n.reused_from_dispatch)


def _choose_bar() -> Bar | None:
    if _in_kernel():
        try:
            return WidgetBar()
        except ImportError:  # no ipywidgets (the "notebook" extra): text in the cell output
            return TextBar(sys.stderr)
    stream = sys.stderr
    return TextBar(stream) if stream.isatty() else None


def _in_kernel() -> bool:
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def _caption(done: int, total: int, reused: int, failed: int, elapsed: float) -> str:
    extra = [f"{reused} reused"] if reused else []
    extra += [f"{failed} failed"] if failed else []
    minutes, seconds = divmod(int(elapsed), 60)
    note = f" ({', '.join(extra)})" if extra else ""
    return f"{done}/{total} tasks{note}  {minutes}:{seconds:02d}"


class TextBar:
    """``valence [########------------] 12/40 tasks (5 reused)  0:07`` rewritten in place."""

    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._shown = False

    def update(self, done: int, total: int, reused: int, failed: int, elapsed: float) -> None:
        filled = self.WIDTH * done // total if total else 0
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        text = f"valence [{bar}] {_caption(done, total, reused, failed, elapsed)}"
        self._stream.write(f"\r{text}\x1b[K")
        self._stream.flush()
        self._shown = True

    def close(self, status: str) -> None:
        if self._shown:
            self._stream.write(f" {status}\n" if status in st.TERMINAL else "\n")
            self._stream.flush()


class WidgetBar:
    """An ipywidgets progress bar with a caption, in the running cell's output."""

    def __init__(self) -> None:
        import ipywidgets
        from IPython.display import display as show

        self._bar = ipywidgets.IntProgress(min=0, max=1, value=0, description="valence")
        self._label = ipywidgets.Label(value="")
        show(ipywidgets.HBox([self._bar, self._label]))

    def update(self, done: int, total: int, reused: int, failed: int, elapsed: float) -> None:
        self._bar.max = max(total, 1)
        self._bar.value = done
        self._label.value = _caption(done, total, reused, failed, elapsed)

    def close(self, status: str) -> None:
        styles = {st.COMPLETED: "success", st.FAILED: "danger", st.CANCELLED: "warning"}
        self._bar.bar_style = styles.get(status, "")
        if status in st.TERMINAL:
            self._label.value += f"  {status}"

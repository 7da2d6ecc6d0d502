"""get_result(wait=True) shows progress on a terminal (a real pty), never in a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

import pytest

import valence as ct

pytestmark = pytest.mark.slow

NAPS = """
import time
import valence as ct

@ct.electron(executor=ct.executor.ThreadExecutor(workers=1))
def nap(i):
    time.sleep(0.3)
    return i

@ct.lattice
def wf(n):
    return [nap(i) for i in range(n)]
"""

SCRIPT = (
    NAPS.replace("{", "{{").replace("}", "}}")
    + """
first = ct.get_result(ct.dispatch(wf)(2), wait=True, progress=False)
did = ct.redispatch(first.dispatch_id, reuse_previous_results=True)(6)
print("STATUS", ct.get_result(did, wait=True{extra}).status)
"""
)


def _run(tmp_path, valence_home, *, tty: bool, extra: str = "", env: dict | None = None) -> str:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(extra=extra)))
    environ = {**os.environ, "VALENCE_HOME": str(valence_home), **(env or {})}
    if not tty:
        proc = subprocess.run(
            [sys.executable, str(script)], env=environ, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(script)], env=environ, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, b"".join(chunks)
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_a_text_bar(tmp_path, valence_home):
    text = _run(tmp_path, valence_home, tty=True)
    assert "STATUS COMPLETED" in text
    assert "\rvalence [" in text and "6/6 tasks (2 reused)" in text
    assert "COMPLETED\r\n" in text or "COMPLETED\n" in text  # the bar's last line ends


@pytest.mark.parametrize(
    ("extra", "env"),
    [(", progress=False", None), ("", {"VALENCE_PROGRESS": "0"})],
    ids=["progress=False", "VALENCE_PROGRESS=0"],
)
def test_progress_can_be_turned_off(tmp_path, valence_home, extra, env):
    text = _run(tmp_path, valence_home, tty=True, extra=extra, env=env)
    assert "STATUS COMPLETED" in text and "valence [" not in text


def test_no_bar_when_output_is_not_a_terminal(tmp_path, valence_home):
    text = _run(tmp_path, valence_home, tty=False)
    assert "STATUS COMPLETED" in text and "valence [" not in text and "\r" not in text


def test_text_bar_lines():
    import io

    from valence.progress import TextBar

    stream = io.StringIO()
    bar = TextBar(stream)
    bar.update(3, 12, 2, 1, 65.0)
    bar.close("FAILED")
    text = stream.getvalue()
    assert text.startswith("\rvalence [######------------------] 3/12 tasks (2 reused, 1 failed)")
    assert "1:05" in text and text.endswith(" FAILED\n")
    silent = io.StringIO()
    TextBar(silent).close("COMPLETED")  # never shown: nothing to end
    assert silent.getvalue() == ""


class RecordingBar:
    def __init__(self):
        self.updates = []
        self.closed = None

    def update(self, done, total, reused, failed, elapsed):
        self.updates.append((done, total, reused, failed))

    def close(self, status):
        self.closed = status


@ct.electron(executor=ct.executor.ThreadExecutor(workers=1))
def slow(i):
    import time

    time.sleep(0.4)
    return i


@ct.lattice
def slow_four(n):
    return [slow(i) for i in range(n)]


@pytest.mark.both_modes
def test_the_wait_loop_reports_tasks_until_the_end(monkeypatch):
    from valence import progress

    bar = RecordingBar()
    monkeypatch.setattr(progress, "_choose_bar", lambda: bar)
    did = ct.dispatch(slow_four)(4)
    with pytest.raises(ct.errors.DispatchTimeoutError):
        ct.get_result(did, wait=True, timeout=0.8)  # the bar stops with the wait
    assert bar.closed == ct.status.RUNNING and bar.updates
    bar = RecordingBar()
    monkeypatch.setattr(progress, "_choose_bar", lambda: bar)
    assert ct.get_result(did, wait=True).result == [0, 1, 2, 3]
    assert bar.updates[-1] == (4, 4, 0, 0) and bar.closed == ct.status.COMPLETED
    assert all(total == 4 for _, total, _, _ in bar.updates)  # tasks, not helper nodes

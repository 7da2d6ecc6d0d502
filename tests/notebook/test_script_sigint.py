"""Ctrl-C in a script: the wait stops, the exit wait is abandoned cleanly, work is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter

import pytest

import valence as ct
from tests.notebook.kernel import wait_for
from tests.notebook.test_interrupt import LOCAL, SETUP, N, _completed, _store
from valence import status as st

pytestmark = pytest.mark.slow


def test_ctrl_c_twice_leaves_a_resumable_dispatch(valence_home, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(SETUP.format(runs=str(runs), executor=LOCAL))
        + f"did = ct.dispatch(wf)({N})\nprint(did, flush=True)\nct.get_result(did, wait=True)\n"
    )
    env = {**os.environ, "VALENCE_HOME": str(valence_home)}
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    store = _store()
    try:
        did = proc.stdout.readline().strip()
        wait_for(lambda: len(_completed(store, did)) >= 2, what="two tasks to finish")
        os.killpg(proc.pid, signal.SIGINT)  # the terminal sends Ctrl-C to the whole group
        _, err = _interrupt_until_exit(proc)
        assert "waiting for 1 running dispatch" in err
        assert "left 1 running dispatch(es) unfinished" in err
        at_exit = err[err.index("waiting for") :]
        assert "Traceback" not in at_exit and "_shutdown" not in err, err
        before = _completed(store, did)
        assert store.get_dispatch(did).status == st.RUNNING
        assert not [n for n in store.get_nodes(did) if n.status == st.FAILED]

        result = ct.get_result(did, wait=True)  # this process resumes it
        assert result.status == st.COMPLETED and result.result == [i * i for i in range(N)]
        tasks = sorted(n.node_id for n in store.get_nodes(did) if n.kind == "electron")
        done = Counter(int(p.name.split("-")[0]) for p in runs.iterdir())
        assert all(done[tasks.index(node_id)] == 1 for node_id in before)
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()


def _interrupt_until_exit(proc: subprocess.Popen) -> tuple[str, str]:
    """Send Ctrl-C again once the script says it waits at exit; return its output."""
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if "waiting for" in line:
            os.killpg(proc.pid, signal.SIGINT)
            break
    out, rest = proc.communicate(timeout=60)
    return out, "".join(lines) + rest

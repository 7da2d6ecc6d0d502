"""Interrupting or restarting a real Jupyter kernel mid-dispatch loses no work."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.notebook.kernel import Kernel, wait_for
from valence import status as st
from valence.config import load_settings
from valence.store import Store

pytestmark = pytest.mark.slow

SETUP = """
import os, time, uuid
import valence as ct

RUNS = {runs!r}

@ct.electron(executor={executor})
def step(i):
    open(os.path.join(RUNS, f"{{i}}-{{uuid.uuid4().hex}}"), "w").close()
    time.sleep(0.8)
    return i * i

@ct.lattice
def wf(n):
    return [step(i) for i in range(n)]
"""

N = 6


LOCAL = "ct.executor.LocalExecutor(workers=2)"
DASK = "ct.executor.DaskExecutor(workers=2)"


@pytest.fixture(params=[LOCAL])
def kernel(request, valence_home, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    k = Kernel(valence_home, tmp_path)
    reply, out = k.run(SETUP.format(runs=str(runs), executor=request.param))
    assert reply["status"] == "ok", out
    k.runs = runs
    yield k
    k.close()


def _runs(kernel) -> Counter:
    return Counter(int(p.name.split("-")[0]) for p in kernel.runs.iterdir())


def _store() -> Store:
    settings = load_settings()
    return Store.open(settings.database_url, settings.blobs)


def _dispatch(kernel) -> str:
    reply, out = kernel.run(f"did = ct.dispatch(wf)({N}); print(did)")
    assert reply["status"] == "ok", out
    return out.strip().splitlines()[-1]


def _bar_shown(kernel, msg_id: str) -> None:
    """Wait until the cell ``msg_id`` shows its progress bar (a widget, or text)."""
    while True:
        msg = kernel.client.get_iopub_msg(timeout=60)
        shown = msg["msg_type"] in ("display_data", "stream")
        if shown and msg["parent_header"].get("msg_id") == msg_id:
            return


def _completed(store: Store, did: str) -> dict[int, object]:
    return {
        n.node_id: n.end_time
        for n in store.get_nodes(did)
        if n.kind == "electron" and n.status == st.COMPLETED
    }


@pytest.mark.parametrize("kernel", [LOCAL, DASK], indirect=True, ids=["local", "dask"])
def test_interrupt_only_stops_waiting(kernel):
    _dispatch(kernel)  # the kernel's `did`
    msg_id = kernel.start("ct.get_result(did, wait=True)")
    # ipykernel drops an Interrupt that lands as a cell starts, before its code runs (a
    # plain time.sleep cell too): interrupt once the cell's code shows its progress bar
    _bar_shown(kernel, msg_id)
    wait_for(lambda: len(_runs(kernel)) >= 3, what="tasks to start")
    kernel.interrupt()
    reply = kernel.reply(msg_id)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"

    reply, out = kernel.run("r = ct.get_result(did, wait=True); print(r.status, r.result)")
    assert reply["status"] == "ok", out
    assert f"COMPLETED {[i * i for i in range(N)]}" in out
    assert _runs(kernel) == Counter(range(N))  # every task ran exactly once


def test_restart_keeps_finished_tasks_and_resumes(kernel):
    did = _dispatch(kernel)
    store = _store()
    try:
        wait_for(lambda: len(_completed(store, did)) >= 2, what="two tasks to finish")
        kernel.restart()
        before = _completed(store, did)
        assert store.get_dispatch(did).status == st.RUNNING  # not FAILED: resumable

        reply, out = kernel.run(
            "import valence as ct\n"
            f"r = ct.get_result({did!r}, wait=True); print(r.status, r.result)"
        )
        assert reply["status"] == "ok", out
        assert f"COMPLETED {[i * i for i in range(N)]}" in out
        after = _completed(store, did)
        assert all(after[i] == end for i, end in before.items())  # kept, not rerun
        tasks = sorted(n.node_id for n in store.get_nodes(did) if n.kind == "electron")
        runs = _runs(kernel)  # by argument: the i-th task is step(i)
        assert all(runs[tasks.index(node_id)] == 1 for node_id in before)
        assert not [n for n in store.get_nodes(did) if n.status == st.FAILED]
    finally:
        store.close()

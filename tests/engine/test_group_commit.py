"""Group commit: results are written in groups, yet nothing unwritten is ever seen.

A dispatcher process is killed with SIGKILL while it runs a fast chain, at a
moment when tasks have finished whose results are not yet written (the group
commit window). A reader in another process (this one) polls the store all
along. After the next process resumes the dispatch, every result the reader
saw is the final stored one (nothing seen was lost or replaced by a different
value), every such task ran once, and the chain is consistent: each task's
value was computed from its parent's final value.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import valence as ct
from tests import workflows as wf

FLOW = """
import os, sys, time, uuid
import valence as ct

LOG = os.environ["VALENCE_TEST_LOG"]


@ct.electron
def step(i, prev):
    value = f"{i}:{uuid.uuid4().hex[:8]}:{prev.split(':')[1]}"  # a new value on every run
    with open(LOG, "a") as fh:
        fh.write(f"{i}\\n")
    time.sleep(0.002)
    return value


@ct.lattice
def chain(n):
    value = "start:root"
    for i in range(n):
        value = step(i, value)
    return value


if __name__ == "__main__":
    print(ct.dispatch(chain)(int(sys.argv[1])), flush=True)
    time.sleep(120)
"""

N = 600


def _seen(store, dispatch_id: str, seen: dict[int, str]) -> None:
    """Record the output of every COMPLETED task node the store shows now."""
    for node in store.get_nodes(dispatch_id, streams=False):
        if node.kind == "electron" and node.status == "COMPLETED":
            assert seen.setdefault(node.node_id, node.output_digest) == node.output_digest
        elif node.kind == "electron":
            assert node.node_id not in seen, f"node {node.node_id} went from COMPLETED back"


@pytest.mark.slow
def test_kill_in_a_group_commit_loses_nothing_a_reader_saw(
    tmp_path, valence_home, active_store, monkeypatch
):
    log = tmp_path / "ran.log"
    log.write_text("")
    (tmp_path / "chainflow.py").write_text(FLOW)
    env = {**os.environ, "VALENCE_HOME": str(valence_home), "VALENCE_TEST_LOG": str(log)}
    proc = subprocess.Popen(
        [sys.executable, "chainflow.py", str(N)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: dict[int, str] = {}
    try:
        dispatch_id = proc.stdout.readline().strip()
        deadline = time.time() + 120
        while True:  # kill once results exist that ran but are not yet written
            assert time.time() < deadline, "the chain never got going"
            _seen(active_store, dispatch_id, seen)
            ran = len(log.read_text().split())
            if len(seen) >= 20 and ran > len(seen) + 2:
                break
            assert ran < N, "the chain ended before a kill inside a group commit"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    _seen(active_store, dispatch_id, seen)  # nothing seen was lost by the kill
    seen_before_resume = dict(seen)
    ran_before = log.read_text().split()

    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    assert ct.dispatch_sync(wf.count_to)(1).status == "COMPLETED"  # resumes the killed one
    result = ct.get_result(dispatch_id, wait=True, timeout=240)
    assert result.status == "COMPLETED", result.error

    final = {
        node.node_id: node.output_digest
        for node in active_store.get_nodes(dispatch_id, streams=False)
        if node.kind == "electron"
    }
    for node_id, digest in seen_before_resume.items():
        assert final[node_id] == digest, f"node {node_id}: a result a reader saw was replaced"
    runs = log.read_text().split()
    values = {n: result.get_node_result(n)["output"].get_deserialized() for n in final}
    outputs = {int(value.split(":")[0]): value for value in values.values()}
    for i in range(N):  # each value was computed from its parent's final value
        parent = "root" if i == 0 else outputs[i - 1].split(":")[1]
        assert outputs[i].split(":")[2] == parent
    seen_steps = {int(values[n].split(":")[0]) for n in seen}
    for i in seen_steps:
        assert runs.count(str(i)) == 1, f"step {i} was written, yet ran again"
    for i in {int(i) for i in ran_before} - seen_steps:  # ran, unwritten: ran again
        assert runs.count(str(i)) >= 2, f"step {i} was lost by the kill"
    assert result.result == outputs[N - 1]

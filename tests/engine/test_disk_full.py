"""A full disk under the valence home, for real: a small tmpfs mounted for each test.

The dispatcher must never drop a batch it failed to write: it pauses, retries,
and either carries on when space comes back or, after ``VALENCE_WRITE_RETRY_SECONDS``,
fails its dispatches with a clear error that every waiter sees. Embedded and
through a real server (``both_modes``).
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

import valence as ct
from tests.server.processes import wait_until
from valence.errors import StoreWriteError

pytestmark = [pytest.mark.both_modes, pytest.mark.slow]

BIG = 64 * 1024  # larger than the inline limit: the output becomes a blob file


@pytest.fixture
def small_home(valence_home, tmp_path, monkeypatch):
    """VALENCE_HOME on a fresh 16 MiB tmpfs (root only; skipped otherwise)."""
    mount = tmp_path / "small-fs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    home = mount / "home"
    monkeypatch.setenv("VALENCE_HOME", str(home))
    try:
        yield mount
    finally:
        from valence.backends.http import close_all
        from valence.engine import embedded

        close_all()
        embedded.reset()
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def client_mode(request, small_home, valence_db):
    """Both modes, over the tmpfs home (overrides the suite's fixture of the same name)."""
    from tests import modes

    if getattr(request, "param", "embedded") == "server":
        return request.getfixturevalue("server_mode")
    return modes.Mode("embedded")


def fill(mount: Path) -> Path:
    """Fill the file system at ``mount`` to the last byte; return the filler file."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 14, 1 << 10, 1 << 6, 1):
            while True:
                try:
                    fh.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


def dispatcher(client_mode):
    if client_mode.runtime is not None:
        return client_mode.runtime.dispatcher
    from valence.engine.embedded import get_embedded

    return get_embedded().dispatcher


@ct.electron
def big_after_gate(gate, marker):
    """Wait for ``gate``; return a value large enough to need a blob file."""
    import time

    while not os.path.exists(gate):
        time.sleep(0.005)
    return marker * BIG


@ct.electron
def measure(data, log):
    with open(log, "a") as fh:
        fh.write("measure ran\n")
    return len(data)


@ct.lattice
def gated_flow(gate, log):
    return measure(big_after_gate(gate, b"x"), log)


def start_and_fill(small_home, tmp_path):
    """Dispatch ``gated_flow``, fill the disk while its first task waits, then let it go."""
    gate, log = tmp_path / "gate", tmp_path / "ran.log"
    dispatch_id = ct.dispatch(gated_flow)(str(gate), str(log))
    wait_until(
        lambda: ct.get_result(dispatch_id).get_node_result(0)["status"] == "RUNNING",
        "the first task started",
    )
    filler = fill(small_home)
    gate.touch()
    return dispatch_id, filler, log


def node_statuses(dispatch_id):
    return [n["status"] for n in ct.get_result(dispatch_id).get_all_node_results()]


def test_a_write_refused_by_a_full_disk_is_retried_until_space_returns(
    client_mode, small_home, tmp_path, monkeypatch
):
    engine = dispatcher(client_mode)
    dispatch_id, filler, log = start_and_fill(small_home, tmp_path)
    wait_until(lambda: engine.write_error is not None, "the dispatcher met the full disk")
    assert "No space left on device" in engine.write_error
    # nothing half-written: the task is still RUNNING in the store, nothing downstream ran
    assert node_statuses(dispatch_id)[0] == "RUNNING"
    assert ct.get_result(dispatch_id).status == "RUNNING"
    assert not log.exists()
    filler.unlink()
    result = ct.get_result(dispatch_id, wait=True, timeout=120)
    assert result.status == "COMPLETED", result.error
    assert result.result == BIG
    assert result.get_node_result(0)["output"].get_deserialized() == b"x" * BIG
    assert set(node_statuses(dispatch_id)) == {"COMPLETED"}
    assert engine.write_error is None
    assert ct.dispatch_sync(gated_flow)(str(tmp_path / "gate"), str(log)).result == BIG


def test_a_disk_that_stays_full_fails_the_dispatch_and_wakes_its_waiters(
    client_mode, small_home, tmp_path, monkeypatch
):
    engine = dispatcher(client_mode)
    engine._write_retry = 1.0  # VALENCE_WRITE_RETRY_SECONDS, shortened for this test
    dispatch_id, filler, log = start_and_fill(small_home, tmp_path)
    result = ct.get_result(dispatch_id, wait=True, timeout=120)  # woken, not hanging
    assert result.status == "FAILED"
    assert "store refused writes" in result.error
    assert "No space left on device" in result.error
    assert "free space" in result.error
    assert not log.exists()
    with pytest.raises(StoreWriteError, match="No space left on device"):  # a new dispatch
        ct.dispatch(gated_flow)(str(tmp_path / "gate"), "x" * BIG)
    filler.unlink()  # once space returns, the failure is recorded in the store too
    wait_until(lambda: client_mode.store.get_status(dispatch_id) == "FAILED", "FAILED recorded")
    stored = client_mode.store.get_dispatch(dispatch_id)
    assert "store refused writes" in stored.error
    assert "RUNNING" not in {n.status for n in client_mode.store.get_nodes(dispatch_id)}

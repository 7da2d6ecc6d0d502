"""A damaged, empty or brand-new SQLite file, for real: one clear message, or a safe first open."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import valence as ct
from tests import workflows as wf
from tests.server.processes import valence
from valence.errors import StoreDamagedError
from valence.store import Store


def db_path(valence_home):
    return valence_home / "valence.db"


def open_home(valence_home) -> Store:
    return Store.open(f"sqlite:///{db_path(valence_home)}", valence_home / "blobs")


def test_an_empty_database_file_is_refused_not_silently_reset(valence_home):
    valence_home.mkdir(parents=True, exist_ok=True)
    db_path(valence_home).write_bytes(b"")
    with pytest.raises(StoreDamagedError, match=r"is empty \(0 bytes\).*Restore it from a backup"):
        open_home(valence_home)
    assert db_path(valence_home).stat().st_size == 0  # left as found
    with pytest.raises(StoreDamagedError, match=str(db_path(valence_home))):
        ct.get_result("0123")
    listed = valence("list")
    assert listed.returncode == 1
    assert listed.stderr.startswith("error: the valence database") and "Traceback" not in (
        listed.stdout + listed.stderr
    )


def test_a_file_that_is_not_a_database_gets_one_clear_message(valence_home):
    valence_home.mkdir(parents=True, exist_ok=True)
    db_path(valence_home).write_bytes(b"these are not the bytes of a database\n" * 200)
    with pytest.raises(
        StoreDamagedError, match=r"is damaged \(file is not a database\).*\.recover"
    ):
        open_home(valence_home)
    done = valence("fsck")
    assert done.returncode == 1
    assert "file is not a database" in done.stderr and "Traceback" not in done.stderr


def test_a_database_with_damaged_pages_gets_one_clear_message(valence_home):
    ids = [ct.dispatch_sync(wf.count_to)(30).dispatch_id for _ in range(3)]
    from valence.engine import embedded

    embedded.reset()  # close every connection before damaging the file
    path = db_path(valence_home)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for offset in range(2 * page, len(data), page):  # keep the header page, damage the rest
        data[offset + 8 : offset + page] = os.urandom(page - 8)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match=r"database disk image is malformed|not a database"):
        store = open_home(valence_home)
        try:
            for dispatch_id in ids:
                store.get_nodes(dispatch_id)
        finally:
            store.close()
    done = valence("fsck")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert "damaged" in (done.stdout + done.stderr).lower()


OPEN_AND_WRITE = """
import os, sys, time
import valence as ct
import alembic.command  # imported before the start line, so that the opens coincide

@ct.electron
def inc(x):
    return x + 1

@ct.lattice
def flow(x):
    return inc(x)

while not os.path.exists(sys.argv[1]):
    time.sleep(0.0005)
print(ct.dispatch_sync(flow)(int(sys.argv[2])).result)
"""


@pytest.mark.slow
def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path):
    script = tmp_path / "open.py"
    script.write_text(OPEN_AND_WRITE)
    processes_per_round, rounds = 6, 3
    for round_ in range(rounds):
        home = tmp_path / f"home-{round_}"
        start = tmp_path / f"start-{round_}"
        env = {**os.environ, "VALENCE_HOME": str(home), "VALENCE_EXECUTOR": "thread"}
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(start), str(i)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(processes_per_round)
        ]
        time.sleep(2)  # let them all import valence and wait at the start line
        start.touch()
        for i, proc in enumerate(procs):
            out, err = proc.communicate(timeout=240)
            assert proc.returncode == 0, err
            assert out.strip() == str(i + 1)
            assert "locked" not in err
        with Store.open(f"sqlite:///{home / 'valence.db'}", home / "blobs") as store:
            assert len(store.list_dispatches()) == processes_per_round
        leftovers = [p.name for p in home.iterdir() if p.name.endswith(".new")]
        assert leftovers == []

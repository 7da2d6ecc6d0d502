"""Triggers: a real timer, a real watchdog event, a real SQLite table, a server restart."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

import valence as ct
from tests import workflows as wf
from tests.server.processes import serve, wait_until
from valence.errors import DispatchNotFoundError, UnsupportedOptionError
from valence.triggers import BaseTrigger, DatabaseTrigger, DirTrigger, SQLiteTrigger, TimeTrigger

both_modes = pytest.mark.both_modes


def backend():
    from valence.backends import choose_backend

    return choose_backend()


def rows(dispatch_id):
    return backend().list_triggers([dispatch_id])


def fired_dispatches(dispatch_id, at_least):
    """The dispatches the trigger of ``dispatch_id`` started, once there are ``at_least``."""
    wait_until(
        lambda: len(rows(dispatch_id)[0].new_dispatch_ids) >= at_least,
        f"{at_least} redispatches by the trigger of {dispatch_id}",
    )
    return rows(dispatch_id)[0].new_dispatch_ids


def replace(path, text):
    """Write ``text`` to ``path`` atomically: one ``moved`` event, never a half-written file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@ct.electron
def expensive(x):
    return x * 10


@ct.electron(reusable=False)
def read_text(path):
    with open(path) as fh:
        return fh.read()


@ct.electron
def combine(a, b):
    return f"{a}:{b}"


@ct.lattice
def on_change(path, x):
    return combine(expensive(x), read_text(path))


@both_modes
def test_time_trigger_runs_the_dispatch_then_redispatches_with_reuse(client_mode):
    trigger = TimeTrigger(time_gap=0.2)

    @ct.lattice(triggers=trigger)
    def ticking(x):
        return expensive(x)

    dispatch_id = ct.dispatch(ticking)(4)
    assert trigger.lattice_dispatch_id == dispatch_id
    result = ct.get_result(dispatch_id, wait=True, timeout=60)  # the first firing runs it
    assert result.status == ct.status.COMPLETED and result.result == 40
    new_ids = fired_dispatches(dispatch_id, 2)
    second = ct.get_result(new_ids[1], wait=True, timeout=60)
    assert second.result == 40
    assert second.redispatched_from == new_ids[0]
    assert second.get_node_result(0)["reused_from"] is not None  # nothing changed: reused
    assert ct.stop_triggers(dispatch_id) == 1
    (row,) = rows(dispatch_id)
    assert row.status == "STOPPED" and row.last_error is None
    assert ct.stop_triggers(dispatch_id) == 0  # stopping twice is harmless


def test_dir_trigger_fires_on_a_real_file_event_and_reruns_only_what_changed(tmp_path):
    watched = tmp_path / "watched"
    watched.mkdir()
    data = watched / "data.txt"
    data.write_text("one")
    trigger = DirTrigger(dir_path=str(watched), event_names=["moved"])
    workflow = ct.lattice(on_change.function, triggers=[trigger])
    dispatch_id = ct.dispatch(workflow)(str(data), 3)
    assert ct.get_result(dispatch_id).status == ct.status.NEW_OBJECT  # waits for an event
    replace(data, "two")
    first = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert first.result == "30:two"
    replace(data, "three")
    found = []

    def a_run_read_the_new_content():
        for new_id in rows(dispatch_id)[0].new_dispatch_ids:
            result = ct.get_result(new_id, wait=True, timeout=60)
            if result.result == "30:three":
                found.append(result)
                return True
        return False

    wait_until(a_run_read_the_new_content, "a redispatch that read the new content")
    last = found[0]
    names = {n["node_name"]: n for n in last.get_all_node_results()}
    assert names["expensive"]["reused_from"] is not None  # its input did not change
    assert names["read_text"]["reused_from"] is None  # reusable=False: always runs
    ct.stop_triggers([dispatch_id])
    assert rows(dispatch_id)[0].status == "STOPPED"


def test_sqlite_trigger_fires_when_matching_rows_appear(tmp_path):
    db = tmp_path / "events.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT)")
        conn.execute("INSERT INTO jobs (state) VALUES ('done')")
    trigger = SQLiteTrigger(
        db_path=str(db), table_name="jobs", poll_interval=0.1, where_clauses=["state = 'ready'"]
    )

    @ct.lattice(triggers=trigger)
    def process():
        return expensive(1)

    dispatch_id = ct.dispatch(process)()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO jobs (state) VALUES ('ready')")
    assert ct.get_result(dispatch_id, wait=True, timeout=60).result == 10
    fired_dispatches(dispatch_id, 1)
    ct.stop_triggers(dispatch_id)
    assert rows(dispatch_id)[0].fired >= 2


def test_database_trigger_polls_any_sqlalchemy_url(tmp_path):
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE events (at TEXT)")
        conn.execute("INSERT INTO events VALUES ('now')")
    trigger = DatabaseTrigger(
        db_path=f"sqlite:///{db}", table_name="events", poll_interval=0.1, trigger_after_n=2
    )

    @ct.lattice(triggers=trigger)
    def process():
        return expensive(2)

    dispatch_id = ct.dispatch(process)()
    assert ct.get_result(dispatch_id, wait=True, timeout=60).result == 20
    ct.stop_triggers(dispatch_id)


def test_a_failing_poll_is_recorded_not_swallowed(tmp_path, caplog):
    trigger = SQLiteTrigger(
        db_path=str(tmp_path / "x.sqlite"), table_name="missing", poll_interval=0.05
    )

    @ct.lattice(triggers=trigger)
    def process():
        return expensive(2)

    dispatch_id = ct.dispatch(process)()
    wait_until(lambda: "polling failed" in caplog.text, "a logged polling failure")
    assert "no such table: missing" in caplog.text
    assert ct.get_result(dispatch_id).status == ct.status.NEW_OBJECT
    ct.stop_triggers(dispatch_id)


def test_covalent_trigger_time_howto_runs_unchanged():
    # doc/source/how_to/execution/trigger_time.ipynb, import lines changed
    from valence.triggers import TimeTrigger

    time_trigger = TimeTrigger(time_gap=0.2)

    @ct.lattice
    @ct.electron
    def my_workflow():
        return 42

    dispatch_id = ct.dispatch(my_workflow)()
    print(dispatch_id)
    time_trigger.lattice_dispatch_id = dispatch_id
    time_trigger.register()
    new_ids = fired_dispatches(dispatch_id, 1)
    ct.stop_triggers(dispatch_id)
    assert ct.get_result(new_ids[0], wait=True, timeout=60).result == 42


def test_covalent_trigger_dir_howto_runs_unchanged(tmp_path, monkeypatch):
    # doc/source/how_to/execution/trigger_dir.ipynb, import lines changed
    monkeypatch.chdir(tmp_path)
    from pathlib import Path

    from valence.triggers import DirTrigger

    with open("my_text_file.txt", "w") as f:
        for i in range(10):
            f.write(f"{i}\n")
    dir_trigger = DirTrigger(dir_path=str(Path(".").resolve()), event_names="modified")

    @ct.lattice(triggers=dir_trigger)
    @ct.electron
    def my_workflow():
        return "File was changed."

    dispatch_id = ct.dispatch(my_workflow)()
    print(dispatch_id)
    with open("my_text_file.txt", "a") as f:
        f.write("10\n")
    assert ct.get_result(dispatch_id, wait=True, timeout=60).result == "File was changed."
    ct.stop_triggers(dispatch_id)


def test_covalent_trigger_sqlite_howto_runs_unchanged(tmp_path):
    # doc/source/how_to/execution/trigger_sqlite.ipynb with a real database path
    from valence.triggers import SQLiteTrigger

    path = tmp_path / "database.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    sqlite_trigger = SQLiteTrigger(db_path=str(path), table_name="t")

    @ct.lattice
    @ct.electron
    def my_workflow():
        return 42

    dispatch_id = ct.dispatch(my_workflow)()
    print(dispatch_id)
    sqlite_trigger.lattice_dispatch_id = dispatch_id
    sqlite_trigger.register()
    fired_dispatches(dispatch_id, 1)
    ct.stop_triggers(dispatch_id)


def test_bad_triggers_are_clear_errors():
    with pytest.raises(TypeError, match="triggers= takes BaseTrigger instances"):
        ct.lattice(on_change.function, triggers=["every minute"])
    with pytest.raises(UnsupportedOptionError, match="event_names"):
        DirTrigger("/tmp", event_names="touched")
    with pytest.raises(ValueError, match="time_gap"):
        TimeTrigger(time_gap=0)
    with pytest.raises(RuntimeError, match="lattice_dispatch_id"):
        TimeTrigger(time_gap=1).register()
    with pytest.raises(RuntimeError, match="lattice_dispatch_id"):
        TimeTrigger(time_gap=1).trigger()
    with pytest.raises(DispatchNotFoundError):
        TimeTrigger(time_gap=1, lattice_dispatch_id="f" * 32).register()


def test_a_trigger_stopped_in_the_store_by_another_process_stops_here():
    @ct.lattice
    def once():
        return expensive(5)

    dispatch_id = ct.dispatch(once)()
    ct.get_result(dispatch_id, wait=True, timeout=60)
    TimeTrigger(time_gap=0.1, lattice_dispatch_id=dispatch_id).register()
    fired_dispatches(dispatch_id, 1)
    from valence.engine.embedded import get_embedded

    get_embedded().store.stop_triggers([dispatch_id])  # as `valence` in another process would
    from valence.triggers.runner import runner_for

    runner = runner_for(backend())
    wait_until(lambda: not runner._live, "the runner to drop the stopped trigger")


@pytest.mark.slow
def test_triggers_survive_a_server_restart_and_a_kill(valence_home):
    process, _ = serve(valence_home)
    try:

        @ct.lattice
        def workflow(x):
            return expensive(x)

        dispatch_id = ct.dispatch(workflow)(7)
        assert ct.get_result(dispatch_id, wait=True, timeout=60).result == 70
        TimeTrigger(time_gap=0.3, lattice_dispatch_id=dispatch_id).register()
        first = fired_dispatches(dispatch_id, 1)
        owner = rows(dispatch_id)[0].owner
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        process, _ = serve(valence_home)
        again = fired_dispatches(dispatch_id, len(first) + 2)
        assert again[: len(first)] == first  # the firing history survived
        row = rows(dispatch_id)[0]
        assert row.status == "ACTIVE" and row.owner != owner
        os.kill(process.pid, signal.SIGKILL)
        process.wait(60)
        process, _ = serve(valence_home)
        fired_dispatches(dispatch_id, len(again) + 1)
        last = ct.get_result(rows(dispatch_id)[0].new_dispatch_ids[-1], wait=True, timeout=60)
        assert last.result == 70 and last.get_node_result(0)["reused_from"] is not None
        assert ct.stop_triggers(dispatch_id) == 1
    finally:
        process.terminate()
        process.wait(60)


def test_triggers_on_a_sublattice_are_an_error_not_ignored():
    inner = ct.lattice(on_change.function, triggers=TimeTrigger(time_gap=60))

    @ct.lattice
    def outer(path):
        return ct.electron(inner)(path, 1)

    result = ct.dispatch_sync(outer)("/nonexistent")
    assert result.status == ct.status.FAILED
    assert "has triggers= but runs as a sublattice" in result.error


@pytest.mark.slow
def test_a_trigger_whose_dispatch_was_deleted_stops_itself():
    @ct.lattice
    def once():
        return expensive(6)

    dispatch_id = ct.dispatch(once)()
    ct.get_result(dispatch_id, wait=True, timeout=60)
    TimeTrigger(time_gap=3, lattice_dispatch_id=dispatch_id).register()
    backend().delete(dispatch_id)  # before its first firing
    wait_until(lambda: rows(dispatch_id)[0].status == "STOPPED", "the trigger to stop")
    assert rows(dispatch_id)[0].last_error.startswith("stopped: no dispatch with id")


class EveryFile(BaseTrigger):
    """A user-defined trigger: fires once per file dropped in a folder (polling)."""

    def __init__(self, folder, **kwargs):
        super().__init__(**kwargs)
        self.folder = folder
        self.seen = []

    def observe(self):
        while not self.stop_flag.wait(0.05):
            for name in sorted(os.listdir(self.folder)):
                if name not in self.seen:
                    self.seen.append(name)
                    self.trigger()


def test_a_user_defined_trigger_fires_once_per_event(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()

    @ct.lattice(triggers=EveryFile(str(folder)))
    def flow():
        return wf.identity(1)

    dispatch_id = ct.dispatch(flow)()
    for name in ("a", "b", "c"):
        (folder / name).touch()
    wait_until(lambda: backend().list_triggers([dispatch_id])[0].fired == 3, "three firings")
    row = backend().list_triggers([dispatch_id])[0]
    assert len(row.new_dispatch_ids) == 2  # the first firing ran the dispatch itself
    assert ct.get_result(dispatch_id, wait=True, timeout=60).result == 1
    for new_id in row.new_dispatch_ids:
        assert ct.get_result(new_id, wait=True, timeout=60).result == 1
    ct.stop_triggers(dispatch_id)

"""The ``valence`` command, embedded (reading the store) and against a real server."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import valence as ct
from tests import workflows as wf
from valence.cli.main import app

both_modes = pytest.mark.both_modes

COMMANDS = [
    ["list"],
    ["show"],
    ["result"],
    ["logs"],
    ["cancel"],
    ["redispatch"],
    ["watch"],
    ["purge"],
    ["db", "upgrade"],
    ["start"],
    ["stop"],
    ["status"],
    ["serve"],
]


def cli(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def done(lattice, *args):
    return ct.get_result(ct.dispatch(lattice)(*args), wait=True, timeout=60)


@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: " ".join(c) or "valence")
def test_every_command_has_help_without_markup(command):
    text = cli(*command, "--help").output
    assert "Usage" in text
    assert "`" not in text and ":func:" not in text  # plain text, not reST


def test_watch_clock_counts_from_the_dispatch_start(active_store):
    from valence.cli import render

    record = done(wf.plain_howto, 1, 2).record
    shown = cli("watch", record.dispatch_id).stdout
    assert render.duration(record.start_time, record.end_time) in shown
    assert "3/3" in shown


@both_modes
def test_list_show_result(active_store):
    assert "no dispatches" in cli("list").stdout
    ok = done(wf.plain_howto, 1, 2)
    failed = done(wf.failing, 1)
    listing = cli("list").stdout
    assert ok.dispatch_id in listing and failed.dispatch_id in listing
    assert "3/3" in listing and "5/5" not in listing and "FAILED" in listing  # tasks only
    only_failed = cli("list", "--status", "failed").stdout
    assert failed.dispatch_id in only_failed and ok.dispatch_id not in only_failed
    assert ok.dispatch_id not in cli("list", "--name", "failing").stdout
    newest = cli("list", "--since", "1d", "--limit", "1").stdout
    assert failed.dispatch_id in newest and ok.dispatch_id not in newest
    shown = cli("show", ok.dispatch_id[:8]).stdout
    assert "plain_task_1" in shown and ":parameter:" not in shown and "COMPLETED" in shown
    last = shown.strip().splitlines()[-1]
    assert last == "3 tasks: 3 completed; 2 helper nodes hidden (--all shows them)"
    assert ":parameter:1" in cli("show", ok.dispatch_id[:8], "--all").stdout
    assert cli("result", ok.dispatch_id[:8]).stdout.strip() == "16"
    refused = cli("result", failed.dispatch_id, code=1)
    assert "boom 1" in refused.stderr and "it has no result" in refused.stderr
    assert "boom 1" in cli("show", failed.dispatch_id).stdout


@both_modes
def test_logs_of_tasks():
    @ct.lattice
    def speak(words):
        return [wf.shout(w) for w in words]

    did = done(speak, ["a", "b"]).dispatch_id
    everything = cli("logs", did).stdout
    assert "stdout:a" in everything and "stderr:b" in everything
    one = cli("logs", did, "0").stdout
    assert "stdout:a" in one and "stdout:b" not in one
    by_name = cli("logs", did, "shout").stdout
    assert "stdout:a" in by_name and "stdout:b" in by_name
    assert "no node 'nope'" in cli("logs", did, "nope", code=1).stderr


@both_modes
def test_redispatch_plan_and_watch(tmp_path, monkeypatch):
    log = tmp_path / "ran.log"
    log.write_text("")
    monkeypatch.setenv("VALENCE_TEST_LOG", str(log))
    parent = done(wf.with_kwargs, 1, 5)
    plan = cli("redispatch", parent.dispatch_id, "--reuse", "--kwargs", '{"b": 7}', "--plan")
    assert "1 task reused, 2 to run" in plan.stdout and "changed argument" in plan.stdout
    new_id = cli("redispatch", parent.dispatch_id[:8], "--reuse", "--kwargs", '{"b": 7}').stdout
    new_id = new_id.strip()
    assert len(new_id) == 36
    assert "COMPLETED" in cli("watch", new_id).stdout
    assert ct.get_result(new_id, wait=True).result == 2 + 14
    assert "reused from" in cli("show", new_id).stdout
    again = cli("redispatch", parent.dispatch_id, "--args", "[3]", "--force-rerun", "task_1")
    assert ct.get_result(again.stdout.strip(), wait=True).result == 4 + 10


@both_modes
def test_bad_input_is_one_line_and_exit_1(active_store):
    ok = done(wf.plain_howto, 1, 2)
    for args, message in [
        (["show", "zzz"], "no dispatch with id 'zzz'"),
        (["result", ""], "empty prefix"),
        (["redispatch", ok.dispatch_id, "--args", "{"], "--args is not valid JSON"),
        (["redispatch", ok.dispatch_id, "--args", '{"a": 1}'], "must be a JSON list"),
        (["redispatch", ok.dispatch_id, "--kwargs", '{"zz": 1}'], "plain_howto(a, b)"),
        (["redispatch", ok.dispatch_id, "--force-rerun", "nope"], "force_rerun names"),
        (["purge", "--older-than", "soon"], "cannot read the duration"),
        (["list", "--since", "whenever"], "--since 'whenever'"),
        (["cancel", "0000"], "no dispatch with id"),
        (["list", "--status", "DONE"], "--status DONE: unknown status; use one of CANCELLED"),
        (["cancel", ok.dispatch_id, "--task", "-1"], "has no node(s) -1"),
        (["cancel", ok.dispatch_id, "--task", str(2**64)], "has no node(s) 1844674"),
        (["purge", "--older-than", "inf"], "between 0 and 1000 years"),
        (["purge", "--older-than", "99999999999d"], "between 0 and 1000 years"),
        (["list", "--since", "0001-01-01T00:00:00+01:00"], "outside years 1-9999"),
        (["show", "6?x=1"], "dispatch ids are UUIDs"),
    ]:
        result = cli(*args, code=1)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
        assert message in result.stderr, (args, result.stderr)
    assert len(active_store.list_dispatches()) == 1
    assert cli("list", "--limit", "0", code=2).exit_code == 2  # usage errors: click's own
    assert cli("list", "--offset", str(2**63), code=2).exit_code == 2


@both_modes
def test_cancel_and_purge(tmp_path, active_store, client_mode):
    gate = tmp_path / "gate"

    @ct.lattice
    def gated(path):
        return wf.gated(path, 1)

    old = done(wf.diamond, 1)
    running = ct.dispatch(gated)(str(gate))
    assert "already COMPLETED" in cli("cancel", old.dispatch_id).stdout
    if client_mode.name == "server":
        assert "Cancellation of dispatch" in cli("cancel", running).stdout
    else:  # the CLI is not the process running it; a server can cancel anything it runs
        assert "run by another process" in cli("cancel", running, code=1).stderr
        ct.cancel(running)
    gate.touch()
    assert ct.get_result(running, wait=True, timeout=60).status == "CANCELLED"
    preview = cli("purge", "--older-than", "0", "--dry-run").stdout
    assert "would delete 2 dispatch(es)" in preview and old.dispatch_id in preview
    assert len(active_store.list_dispatches()) == 2
    assert "deleted 0 dispatch(es)" in cli("purge").stdout  # default: older than 30 days
    purged = cli("purge", "--older-than", "0s").stdout
    assert "deleted 2 dispatch(es)" in purged and "collected" in purged
    assert active_store.list_dispatches() == []


def test_cancel_needs_the_process_that_runs_it(tmp_path):
    gate = tmp_path / "gate"

    @ct.lattice
    def gated(path):
        return wf.gated(path, 1)

    did = ct.dispatch(ct.lattice(gated.function), disable_run=True)(str(gate))
    refused = cli("cancel", did, code=1)
    assert "run by another process" in refused.stderr


def test_db_upgrade(valence_home):
    from valence.store.migrate import HEAD_REVISION

    assert f"schema revision {HEAD_REVISION}" in cli("db", "upgrade").stdout


def test_status_without_server_and_with_a_stale_pid_file(valence_home):
    result = cli("status", code=1)
    assert "stopped" in result.stdout and "embedded" in result.stdout
    valence_home.mkdir(exist_ok=True)
    (valence_home / "server.pid").write_text('{"pid": 999999, "started": 1.0, "url": "x"}')
    (valence_home / "server.json").write_text('{"url": "http://127.0.0.1:9", "pid": 999999}')
    assert "stale PID file of pid 999999" in cli("status", code=1).stdout
    assert not (valence_home / "server.json").exists()
    assert "not running" in cli("stop").stdout
    assert "no server log" in cli("logs", code=1).stderr


@pytest.mark.slow
def test_usage_errors_are_one_line_with_exit_status_1(valence_home):
    import subprocess
    import sys

    for args in (["list", "--limit", "-3"], ["bogus"], ["show"]):
        done = subprocess.run(
            [sys.executable, "-m", "valence.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, done.stderr)

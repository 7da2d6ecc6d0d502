"""``valence redispatch --reuse-from`` and how ``show`` and ``--plan`` name the new reasons."""

from __future__ import annotations

import pytest

import valence as ct
from tests import workflows as flows
from tests.cli.test_cli import cli
from tests.engine import test_redispatch

both_modes = pytest.mark.both_modes
task_log = test_redispatch.task_log  # autouse: tasks log that they ran


def done(lattice, *args, reuse=False):
    did = ct.dispatch(lattice, reuse_previous_results=reuse)(*args)
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.status == "COMPLETED", result.error
    return result


@both_modes
def test_reuse_from_any_and_listed_ids(task_log):
    a = done(flows.chain, 1)
    b = done(flows.chain, 2)
    parent_only = cli("redispatch", b.dispatch_id, "--reuse", "--args", "[1]", "--plan").stdout
    assert "0 tasks reused, 3 to run" in parent_only
    plan = cli("redispatch", b.dispatch_id, "--reuse-from", "any", "--args", "[1]", "--plan")
    assert "3 tasks reused, 0 to run" in plan.stdout and "reused_store" in plan.stdout
    assert a.dispatch_id[:8] in plan.stdout
    task_log()
    listed = cli(
        "redispatch", b.dispatch_id, "--reuse-from", f"{a.dispatch_id[:8]},", "--args", "[1]"
    )
    new_id = listed.stdout.strip().splitlines()[0]
    assert ct.get_result(new_id, wait=True).result == 9
    assert task_log() == []
    shown = cli("show", new_id).stdout
    assert f"reused from {a.dispatch_id[:8]}:3 (found in the store)" in shown


@both_modes
def test_show_names_early_cutoff(task_log):
    first = done(flows.chain, 5)
    edited = done(flows.chain_edited, 5, reuse=True)
    shown = cli("show", edited.dispatch_id).stdout
    assert f"reused from {first.dispatch_id[:8]}:3 (early cutoff)" in shown
    assert "no COMPLETED node in the store" in shown


@both_modes
def test_bad_reuse_from_exits_with_one_message(active_store):
    parent = done(flows.chain, 1)
    count = len(active_store.list_dispatches())
    missing = cli("redispatch", parent.dispatch_id, "--reuse-from", "nope", code=1)
    assert "no dispatch with id 'nope'" in missing.stderr
    empty = cli("redispatch", parent.dispatch_id, "--reuse-from", ",", code=2)
    assert "dispatch ids separated by commas" in empty.output
    assert len(active_store.list_dispatches()) == count

"""Which executor (and which deps/hooks) a task gets: every combination of levels.

The rule: the task's own ``executor=``; else, inside a sublattice, the
sublattice's own ``@ct.lattice(executor=)``, then the ``ct.electron(sub,
executor=)`` wrapping it, then the enclosing lattice's (recursively); else the
lattice's; else the config default (``VALENCE_EXECUTOR``). Each level here is
an executor with its own name, so the recorded node executor says which won.
"""

from __future__ import annotations

import itertools

import pytest

import valence as ct
from valence.executors.local import InlineExecutor

CONFIG = "thread"  # tests/conftest.py sets VALENCE_EXECUTOR=thread


class Own(InlineExecutor):
    name = "own"


class OfLattice(InlineExecutor):
    name = "of-lattice"


class OfSublattice(InlineExecutor):
    name = "of-sublattice"


class OfSubElectron(InlineExecutor):
    name = "of-sub-electron"


def double(x):
    return 2 * x


def executors_of(result) -> list[str]:
    return [n["executor"] for n in result.get_all_node_results() if n["node_name"] == "double"]


@pytest.mark.parametrize(("own", "of_lattice"), list(itertools.product([None, Own()], repeat=2)))
def test_top_level_task(own, of_lattice) -> None:
    task = ct.electron(double, executor=own)

    @ct.lattice(executor=of_lattice)
    def flow(x):
        return task(x)

    result = ct.dispatch_sync(flow)(2)
    assert result.status == "COMPLETED" and result.result == 4
    expected = (own or of_lattice).name if (own or of_lattice) else CONFIG
    assert executors_of(result) == [expected]


LEVELS = list(itertools.product([False, True], repeat=4))


@pytest.mark.parametrize(("own", "sub", "sub_electron", "parent"), LEVELS)
def test_task_inside_a_sublattice(own: bool, sub: bool, sub_electron: bool, parent: bool) -> None:
    task = ct.electron(double, executor=Own() if own else None)

    @ct.lattice(executor=OfSublattice() if sub else None)
    def inner(x):
        return task(x)

    wrapped = ct.electron(inner, executor=OfSubElectron() if sub_electron else None)

    @ct.lattice(executor=OfLattice() if parent else None)
    def outer(x):
        return wrapped(x)

    result = ct.dispatch_sync(outer)(3)
    assert result.status == "COMPLETED", result.error
    assert result.result == 6
    sub_result = result.get_node_result(0)["sublattice_result"]
    chain = [(own, "own"), (sub, "of-sublattice"), (sub_electron, "of-sub-electron")]
    chain.append((parent, "of-lattice"))
    expected = next((name for present, name in chain if present), CONFIG)
    assert executors_of(sub_result) == [expected]


def test_the_config_default_applies_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALENCE_EXECUTOR", "inline")
    task = ct.electron(double)

    @ct.lattice
    def flow(x):
        return task(x)

    assert executors_of(ct.dispatch_sync(flow)(1)) == ["inline"]


def test_a_nested_sublattice_inherits_through_every_level() -> None:
    task = ct.electron(double)

    @ct.lattice
    def innermost(x):
        return task(x)

    @ct.lattice
    def middle(x):
        return ct.electron(innermost)(x)

    @ct.lattice(executor=OfLattice())
    def top(x):
        return ct.electron(middle)(x)

    result = ct.dispatch_sync(top)(5)
    assert result.status == "COMPLETED" and result.result == 10
    middle_result = result.get_node_result(0)["sublattice_result"]
    innermost_result = middle_result.get_node_result(0)["sublattice_result"]
    assert executors_of(innermost_result) == ["of-lattice"]


def token(value):
    return f"token-{value}"


def tagged(x, tag=None):
    return f"{x}/{tag}"


@pytest.mark.parametrize("level", ["electron", "lattice", "sub-lattice", "sub-electron"])
def test_hooks_inherit_like_executors(level: str) -> None:
    hook = [ct.DepsCall(token, args=(level,), retval_keyword="tag")]
    task = ct.electron(tagged, call_before=hook if level == "electron" else None)

    @ct.lattice(call_before=hook if level == "sub-lattice" else None)
    def inner(x):
        return task(x)

    wrapped = ct.electron(inner, call_before=hook if level == "sub-electron" else None)

    @ct.lattice(call_before=hook if level == "lattice" else None)
    def outer(x):
        return wrapped(x)

    result = ct.dispatch_sync(outer)(1)
    assert result.status == "COMPLETED", result.error
    assert result.result == f"1/token-{level}"


def test_the_users_sublattice_is_not_modified() -> None:
    task = ct.electron(double)

    @ct.lattice
    def inner(x):
        return task(x)

    @ct.lattice(executor=OfLattice())
    def outer(x):
        return ct.electron(inner)(x)

    assert ct.dispatch_sync(outer)(1).status == "COMPLETED"
    assert inner.metadata["executor"] is None

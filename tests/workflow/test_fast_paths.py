"""The fast paths of tracing and keying build exactly what the general paths build.

Plain calls (positional-or-keyword parameters, no injected arguments) are bound
without ``inspect``; a task's options are computed once per trace and shared by
its nodes; one-parent nodes skip sorting. None of it may change a graph, an
error, or a key.
"""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

import valence as ct
from valence import serialize
from valence.workflow.electron import Electron
from valence.workflow.keys import compute_keys

NAMES = ("a", "b", "c", "d")


def _task(params: int, defaults: int) -> Electron:
    """A task ``f(a, b, ...)`` whose last ``defaults`` parameters have defaults."""
    required = params - defaults
    text = ", ".join(n if i < required else f"{n}={i}" for i, n in enumerate(NAMES[:params]))
    namespace: dict[str, object] = {}
    exec(f"def f({text}):\n    return 0\n", namespace)
    return ct.electron(namespace["f"])


def _trace(task: Electron, args: tuple, kwargs: dict, general: bool, monkeypatch) -> object:
    """The graph (or the error) of ``task(*args, **kwargs)`` traced in a lattice."""
    if general:
        monkeypatch.setattr(Electron, "_simple_parameters", lambda self: None)

    @ct.lattice
    def flow(x):
        return task(*[x if v == "out" else v for v in args], **kwargs)

    try:
        graph = flow.build_graph(1)
    except TypeError as exc:
        return ("error", str(exc))
    finally:
        monkeypatch.undo()
    return graph.describe(), [k.key for k in compute_keys(graph)]


calls = hs.tuples(
    hs.integers(0, 4),
    hs.integers(0, 4),
    hs.lists(hs.sampled_from([1, "out", [1, 2]]), max_size=5).map(tuple),
    hs.dictionaries(hs.sampled_from([*NAMES, "e"]), hs.sampled_from([2, (3,)]), max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(calls)
def test_plain_calls_bind_as_inspect_binds(call) -> None:
    params, defaults, args, kwargs = call
    task = _task(params, min(defaults, params))
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = _trace(task, args, kwargs, False, monkeypatch)
        general = _trace(task, args, kwargs, True, monkeypatch)
    assert fast == general


def test_calls_of_a_task_share_options_and_a_replacement_marks_only_its_nodes() -> None:
    @ct.electron(executor="thread")
    def first(x):
        return x

    @ct.electron
    def second(x):
        return x

    @ct.electron
    def other(x):
        return -x

    @ct.lattice(executor="local")
    def flow(x):
        return second(first(first(x)))

    graph = flow.build_graph(1, replacements={"second": other})
    tasks = [n for n in graph.nodes if n.electron is not None]
    assert [n.metadata["executor"] for n in tasks] == ["thread", "thread", "local"]
    assert tasks[2].metadata["replaced"] == "second"
    assert "replaced" not in tasks[0].metadata and "replaced" not in tasks[1].metadata
    assert "replaced" not in first.metadata and "executor" in first.metadata


def test_helper_and_parameter_keys_are_those_of_earlier_versions() -> None:
    """Pinned keys (computed before these fast paths): keys must not change silently."""

    @ct.electron
    def take(xs, n):
        return xs

    @ct.lattice
    def flow(x):
        return take([x, {"k": 2.5}], n="s")

    graph = flow.build_graph(7)
    keys = compute_keys(graph)
    pinned = {n.name: k.key for n, k in zip(graph.nodes, keys, strict=True) if n.electron is None}
    assert pinned == PINNED


PINNED = {
    ":electron_list:": "bab9b231b45384772516d9304cd16021ba2cdc6065fec9aed0a1f71274a6b178",
    ":parameter:7": "928c2fc7c70b42d300056553cd8009bc8e73ebc1a1a78dfad63e519f11097bd8",
    ":electron_dict:": "2692f902a87fa0fa7758f911dc97329a4a0f1037d5b41f7c5519316ebe1556c5",
    ":parameter:2.5": "c206a8c03c714c2684e0a5b67bb4bd467b9877f56f656c8744d02f93528d6e33",
    ":parameter:s": "99486f4761fb796edf6d341d159ca9a6428eef67f840f330c51ba8c6d4ca8e87",
}


def test_a_traced_lattice_pickles_as_before_it_was_traced() -> None:
    @ct.lattice
    def flow(x):
        return _task(1, 0)(x)

    before = serialize.dumps(flow)
    flow.build_graph(1)
    assert flow.transport_graph is not None
    assert serialize.dumps(flow) == before
    assert pickle.loads(before).transport_graph is None

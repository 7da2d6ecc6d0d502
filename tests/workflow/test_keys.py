"""Node keys: equal for equal work, different for any change, None with a reason otherwise."""

from __future__ import annotations

import valence as ct
from tests import workflows as wf
from valence.workflow.keys import compute_keys


def keys(lattice, *args, **kwargs):
    return compute_keys(lattice.build_graph(*args, **kwargs))


def test_same_inputs_same_keys_and_changes_propagate():
    first, again, other = (
        keys(wf.plain_howto, 1, 2),
        keys(wf.plain_howto, 1, 2),
        keys(wf.plain_howto, 1, 3),
    )
    assert [k.key for k in first] == [k.key for k in again]
    assert all(k.key for k in first)
    assert first[0].key == other[0].key  # task_0(a) does not see b
    assert first[2].key != other[2].key and first[4].key != other[4].key


def test_unhashable_dict_key_makes_node_not_reusable_with_reason():
    class Odd(str):
        pass

    @ct.lattice
    def flow(x):
        return wf.identity({Odd("a"): x})

    found = keys(flow, 1)
    assert found[1].key is None and "a dict key cannot be hashed" in found[1].reason
    assert found[0].key is None and "upstream node 1" in found[0].reason


def test_reusable_false_blocks_downstream():
    @ct.electron(reusable=False)
    def noisy(x):
        return x

    @ct.lattice
    def flow(x):
        return wf.identity(noisy(x))

    found = keys(flow, 1)
    assert found[0].key is None and "reusable=False" in found[0].reason
    assert found[2].key is None
    assert found[2].reason == "upstream node 0 (noisy) is not reusable"


def _hook_value():
    return 1


def _other_hook_value():
    return 2


def test_deps_and_hooks_are_part_of_the_key():
    def flow_with(**options):
        task = ct.electron(wf.identity.function, **options)

        @ct.lattice
        def flow(x):
            return task(x)

        return compute_keys(flow.build_graph(1))[0].key

    plain = flow_with()
    bash = flow_with(deps_bash=["echo one"])
    assert bash and plain != bash
    assert bash == flow_with(deps_bash=["echo one"])
    assert bash != flow_with(deps_bash=["echo two"])
    before = flow_with(call_before=[ct.DepsCall(_hook_value)])
    assert before != flow_with(call_before=[ct.DepsCall(_other_hook_value)])
    assert before == flow_with(call_before=[ct.DepsCall(_hook_value)])

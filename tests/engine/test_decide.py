"""The reuse rule as a pure function: records in, decisions out, no store."""

from __future__ import annotations

import dataclasses

from tests import workflows as rf
from valence import status as st
from valence.engine.decide import Context, decide, outputs_to_check
from valence.engine.prepare import prepare_dispatch


def completed(prepared, dispatch_id="previous-dispatch"):
    """The nodes of ``prepared`` as a finished previous dispatch would hold them."""
    return [
        dataclasses.replace(
            n, dispatch_id=dispatch_id, status=st.COMPLETED, output_digest=f"out-{n.node_id}"
        )
        for n in prepared.nodes
    ]


def test_same_keys_are_reused_from_the_previous_dispatch(valence_home):
    before = prepare_dispatch(rf.fan, ([1, 2],), {})
    after = prepare_dispatch(rf.fan, ([1, 2],), {})
    previous = completed(before)
    decisions = decide(Context(after.nodes, after.graph, previous, "previous-dispatch"))
    assert {(d.action, d.code) for d in decisions} == {("reuse", "reused")}
    for decision, node in zip(decisions, after.nodes, strict=True):
        source = previous[decision.reused_from[1]]  # the first node with an equal key
        assert decision.reused_from[0] == "previous-dispatch" and source.key == node.key
    assert sorted(outputs_to_check(previous, {})) == sorted(
        {n.key: n.output_digest for n in reversed(previous)}.values()
    )


def test_a_changed_input_runs_with_its_dependents_a_damaged_output_runs(valence_home):
    before = prepare_dispatch(rf.fan, ([1, 2],), {})
    after = prepare_dispatch(rf.fan, ([1, 3],), {})
    previous = completed(before)
    context = Context(after.nodes, after.graph, previous, "previous-dispatch")
    by_name: dict[str, list[tuple[str, str]]] = {}
    for d in decide(context):
        by_name.setdefault(d.name, []).append((d.action, d.code))
    assert by_name["power"] == [("reuse", "reused"), ("run", "changed_argument")]
    assert by_name["total"] == [("run", "upstream_changed")]
    damaged = dataclasses.replace(context, problems={previous[0].output_digest: "damaged"})
    assert decide(damaged)[0].code == "blob_damaged"


def test_without_a_previous_dispatch_unmatched_nodes_say_no_match(valence_home):
    prepared = prepare_dispatch(rf.fan, ([1],), {})
    context = Context(prepared.nodes, prepared.graph, None, scope_text="the store")
    codes = {d.code for d in decide(context) if d.kind == "electron"}
    assert codes == {"no_match"}


def test_force_and_reuse_off(valence_home):
    before = prepare_dispatch(rf.fan, ([1, 2],), {})
    previous = completed(before)
    forced = Context(
        before.nodes, before.graph, previous, "previous-dispatch", force=frozenset({"total"})
    )
    assert {d.name: d.code for d in decide(forced)}["total"] == "forced"
    off = Context(before.nodes, before.graph, previous, "previous-dispatch", reuse=False)
    assert {d.code for d in decide(off)} == {"reuse_off"}

"""Differential: reuse from the store with early cutoff returns what a fresh run returns.

Hypothesis generates small workflows over a catalogue of tasks (some pairs are
different code with byte-identical outputs) and an edit; the edited workflow is
dispatched with reuse (from the whole store, or as a redispatch of the original
with a replacement) and without, and every node's output must agree. The store
is shared by all examples of a run, so earlier examples are candidates too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as hs

import valence as ct
from tests import workflows as flows
from valence.backends import choose_backend

OPS = sorted(flows.CATALOGUE)
TWINS = {"add_xy": "add_alt", "add_alt": "add_xy", "mod5": "mod5_alt", "mod5_alt": "mod5"}


@hs.composite
def programs(draw):
    size = draw(hs.integers(2, 6))
    program = []
    for i in range(size):
        a = draw(hs.sampled_from([i + 1, i + 1, *range(i + 1)]))  # mostly: the previous value
        b = draw(hs.integers(0, i + 1))
        program.append((draw(hs.sampled_from(OPS)), a, b))
    return program


def finished(dispatch_id):
    result = ct.get_result(dispatch_id, wait=True, timeout=60)
    assert result.status == "COMPLETED", result.error
    return result


def early_cutoffs(result):
    nodes = choose_backend().get_nodes(result.dispatch_id)
    return sum(1 for n in nodes if (n.reason or {}).get("code") == "early_cutoff")


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    program=programs(),
    inputs=hs.tuples(hs.integers(-3, 3), hs.integers(-3, 3)),
    node=hs.integers(0, 5),
    new_op=hs.sampled_from([*OPS, "twin", "twin"]),
    new_inputs=hs.none() | hs.tuples(hs.integers(-3, 3), hs.integers(-3, 3)),
    as_redispatch=hs.booleans(),
)
def test_reuse_with_early_cutoff_equals_a_fresh_run(
    program, inputs, node, new_op, new_inputs, as_redispatch
):
    if new_op == "twin":  # the same outputs from other code: what early cutoff is for
        new_op = TWINS.get(program[node % len(program)][0], "first")
    original = flows.generated(program)
    parent = finished(ct.dispatch(original)(*inputs))
    args = new_inputs or inputs
    if as_redispatch:  # replace one task everywhere, as a redispatch of the original
        old_op = program[node % len(program)][0]
        edited_program = [(new_op if op == old_op else op, a, b) for op, a, b in program]
        redo = ct.redispatch(
            parent.dispatch_id,
            replace_electrons={old_op: flows.CATALOGUE[new_op]},
            reuse_previous_results=True,
        )
        reused = finished(redo(*args))
    else:  # edit one call site and dispatch anew, reusing from the whole store
        edited_program = list(program)
        _, a, b = edited_program[node % len(program)]
        edited_program[node % len(program)] = (new_op, a, b)
        reused = finished(
            ct.dispatch(flows.generated(edited_program), reuse_previous_results=True)(*args)
        )
    fresh = finished(ct.dispatch(flows.generated(edited_program))(*args))
    assert reused.result == fresh.result, (program, edited_program, inputs, args)
    event(f"early cutoffs: {min(early_cutoffs(reused), 3)}")

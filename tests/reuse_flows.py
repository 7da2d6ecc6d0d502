"""Workflows for reuse from the whole store and early cutoff; tasks log to $VALENCE_TEST_LOG."""

from __future__ import annotations

import valence as ct
from tests.redispatch_flows import inner, log, task_0, task_1, task_2


@ct.electron
def double(x):
    log("double")
    return x * 2


@ct.electron
def double_by_sum(x):
    log("double_by_sum")
    return x + x  # another way to the same value: its output blob is byte-identical


@ct.electron
def triple(x):
    log("triple")
    return x * 3


@ct.electron
def inc(x):
    log("inc")
    return x + 1


@ct.electron
def inc_twice(x):
    log("inc_twice")
    return x + 2


@ct.electron
def square(x):
    log("square")
    return x * x


@ct.electron(reusable=False)
def jitter(x):
    log("jitter")
    return x  # deterministic in fact, but declared not reusable


@ct.lattice
def chain(x):
    return square(inc(double(x)))


@ct.lattice
def chain_edited(x):
    return square(inc(double_by_sum(x)))


@ct.lattice
def chain_both_edited(x):
    return square(inc_twice(double_by_sum(x)))


@ct.lattice
def chain_tripled(x):
    return square(inc(triple(x)))


@ct.lattice
def after_jitter(x):
    return square(inc(jitter(x)))


@ct.lattice
def howto_product(a, b):
    return square(task_2(task_0(a), task_1(b)))


@ct.lattice
def inner_more(x):
    return inc(task_1(task_0(x)))


@ct.lattice
def nested(x):
    return square(ct.electron(inner)(x))


@ct.lattice
def nested_other_outer(x):
    return inc(ct.electron(inner)(x))


@ct.lattice
def nested_more(x):
    return square(ct.electron(inner_more)(x))


# A catalogue of two-argument tasks for generated workflows; ``*_alt`` variants are
# other code with byte-identical outputs, so edits between them exercise early cutoff.


@ct.electron(executor="thread")
def add(x, y):
    return x + y


@ct.electron(executor="thread")
def add_alt(x, y):
    return y + x


@ct.electron(executor="thread")
def sub(x, y):
    return x - y


@ct.electron(executor="thread")
def mul(x, y):
    return x * y


@ct.electron(executor="thread")
def mod5(x, y):
    return (x + y) % 5


@ct.electron(executor="thread")
def mod5_alt(x, y):
    return (x + y) - 5 * ((x + y) // 5)


@ct.electron(executor="thread")
def first(x, y):
    return x


CATALOGUE = {f.name: f for f in (add, add_alt, sub, mul, mod5, mod5_alt, first)}


def generated(program):
    """A lattice of two inputs whose node i applies ``program[i] = (op, a, b)``.

    ``a`` and ``b`` index earlier values: 0 and 1 are the inputs, 2 + j node j.
    It returns the last value and every value, so each node's output is compared.
    """

    @ct.lattice
    def flow(u, v):
        values = [u, v]
        for op, a, b in program:
            values.append(CATALOGUE[op](values[a], values[b]))
        return values[2:]

    return flow


@ct.lattice
def before_sublattice(x):
    return square(ct.electron(inner)(double(x)))


@ct.lattice
def before_sublattice_edited(x):
    return square(ct.electron(inner)(double_by_sum(x)))

"""Example workflows shared by the tests (module-level, so they pickle by value).

Two kinds live here. The plain examples (``plain_howto``, ``count_to``, ``diamond``,
``failing``, ``with_sublattice`` and their tasks) log nothing. The logged ones, for
redispatch and reuse tests, have tasks that append their name to $VALENCE_TEST_LOG
each time they run (``task_0``, ``task_1``, ``task_2``, ``double``, ``square`` and the
rest below ``log``); the two-argument catalogue for generated workflows logs nothing.
"""

from __future__ import annotations

import os
import random
import time

import valence as ct


@ct.electron
def plain_task_0(x):
    return x + 1


@ct.electron
def plain_task_1(x, y):
    return x * y


@ct.electron
def plain_task_2(x):
    return x**2


@ct.lattice
def plain_howto(a, b):
    """Covalent's redispatch how-to: plain_task_0 -> plain_task_1 -> plain_task_2."""
    r0 = plain_task_0(a)
    r1 = plain_task_1(r0, b)
    return plain_task_2(r1)


@ct.electron
def add(a, b):
    return a + b


@ct.electron
def identity(x):
    return x


@ct.electron
def shout(text):
    print(f"stdout:{text}")
    import sys

    print(f"stderr:{text}", file=sys.stderr)
    return text.upper()


@ct.electron
def boom(x):
    raise ValueError(f"boom {x}")


@ct.electron
def pair(x):
    return x, x + 1


@ct.electron
def sleepy(seconds, value):
    time.sleep(seconds)
    return value


@ct.lattice
def count_to(n, x=0):
    for _ in range(n):
        x = add(x, 1)
    return x


@ct.lattice
def diamond(x):
    a = add(x, 1)
    b = add(x, 2)
    return add(a, b)


@ct.lattice
def failing(x):
    bad = boom(x)
    good = add(x, 1)
    after = add(bad, 1)
    return [good, after]


@ct.lattice
def sub_workflow(x):
    return add(x, 100)


@ct.lattice
def with_sublattice(x):
    y = add(x, 1)
    z = ct.electron(sub_workflow)(y)
    return add(z, 1)


@ct.electron
def gated(gate_path, value):
    """Wait until ``gate_path`` exists (a cross-process gate), then return ``value``."""
    import os

    deadline = time.time() + 20
    while not os.path.exists(gate_path) and time.time() < deadline:
        time.sleep(0.005)
    return value


@ct.electron
def meet(folder, me, count):
    """Arrive at a file-based barrier of ``count`` tasks; True if all met."""
    import os

    open(os.path.join(folder, f"arrived-{me}"), "w").close()
    deadline = time.time() + 20
    while len(os.listdir(folder)) < count and time.time() < deadline:
        time.sleep(0.005)
    return len(os.listdir(folder)) >= count


# Logged workflows: their tasks write each run to $VALENCE_TEST_LOG.

SCALE = 10


def log(name: str) -> None:
    with open(os.environ["VALENCE_TEST_LOG"], "a") as fh:
        fh.write(name + "\n")


def helper(x):
    return x * SCALE


@ct.electron
def task_0(a):
    log("task_0")
    return a + 1


@ct.electron
def task_1(b):
    log("task_1")
    return b * 2


@ct.electron
def task_2(x, y):
    log("task_2")
    return x + y


@ct.electron
def task_2_redefined(x, y):
    log("task_2_redefined")
    return x * y


@ct.lattice
def howto(a, b):
    r0 = task_0(a)
    r1 = task_1(b)
    return task_2(r0, r1)


@ct.electron
def power(x, p=2):
    log(f"power({x})")
    return x**p


@ct.electron
def total(values):
    log("total")
    return sum(values)


@ct.lattice
def fan(xs, p=2):
    return total([power(x, p) for x in xs])


@ct.electron
def scaled(x):
    log("scaled")
    return helper(x)


@ct.lattice
def uses_helper(x):
    return task_0(scaled(x))


@ct.electron(reusable=False)
def noisy(x):
    log("noisy")
    return x + random.random()


@ct.lattice
def stochastic(x):
    return task_0(noisy(x)), task_1(x)


@ct.electron
def fragile(x):
    log("fragile")
    raise RuntimeError("fragile broke")


@ct.electron
def sturdy(x):
    log("sturdy")
    return x + 1000


@ct.lattice
def breaks(a, b):
    good = task_0(a)
    bad = fragile(task_1(b))
    return task_2(good, bad)


@ct.electron
def task_b(x, y=0):
    log("task_b")
    return x + y


@ct.lattice
def gains_input(x, use_a=False):
    a = task_0(100)
    b = task_b(x, y=a) if use_a else task_b(x)
    return b


@ct.lattice
def inner(x):
    return task_1(task_0(x))


@ct.lattice
def outer(x):
    return task_0(ct.electron(inner)(x))


@ct.lattice
def with_kwargs(a, b=10):
    return task_2(task_0(a), task_1(b))


# Reuse from the whole store and early cutoff.
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
def add_xy(x, y):
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


CATALOGUE = {f.name: f for f in (add_xy, add_alt, sub, mul, mod5, mod5_alt, first)}


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

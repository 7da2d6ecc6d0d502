"""Workflows for redispatch tests; every task logs that it ran to $VALENCE_TEST_LOG."""

from __future__ import annotations

import os
import random

import valence as ct

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

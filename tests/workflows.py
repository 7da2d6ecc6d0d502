"""Example workflows shared by the tests (module-level, so they pickle by value)."""

from __future__ import annotations

import time

import valence as ct


@ct.electron
def task_0(x):
    return x + 1


@ct.electron
def task_1(x, y):
    return x * y


@ct.electron
def task_2(x):
    return x**2


@ct.lattice
def howto(a, b):
    """Covalent's redispatch how-to: task_0 -> task_1 -> task_2."""
    r0 = task_0(a)
    r1 = task_1(r0, b)
    return task_2(r1)


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
def chain(n, x=0):
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

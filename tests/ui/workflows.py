"""Workflows the UI tests draw (module-level, so they travel by value)."""

from __future__ import annotations

import valence as ct
from tests.workflows import gated


@ct.electron
def load(n):
    print(f"loading {n} rows")
    return list(range(n))


@ct.electron
def normalise(rows, scale):
    return [r / scale for r in rows]


@ct.electron
def train(rows, c):
    print(f"training with C={c}")
    return {"C": c, "weights": sum(rows)}


@ct.electron
def score(model, rows):
    return round(model["weights"] / len(rows), 3)


@ct.electron
def score_v2(model, rows):
    return round(model["weights"] / (len(rows) + 1), 3)


@ct.electron
def report(model, accuracy):
    return f"C={model['C']} accuracy={accuracy}"


@ct.lattice
def pipeline(n=10, c=1.0):
    """load -> normalise -> train -> score -> report (5 tasks, plus helper nodes)."""
    rows = load(n)
    clean = normalise(rows, 2.0)
    model = train(clean, c)
    accuracy = score(model, clean)
    return report(model, accuracy)


@ct.electron
def step(x):
    return x + 1


@ct.electron
def total(values):
    return sum(values)


@ct.lattice
def wide(groups, depth):
    """``groups`` chains of ``depth`` steps, summed: groups * depth + 1 tasks."""
    ends = []
    for group in range(groups):
        x = step(group)
        for _ in range(depth - 1):
            x = step(x)
        ends.append(x)
    return total(ends)


@ct.lattice
def waiting(gate_path):
    """Runs until the file ``gate_path`` exists (then one more step)."""
    return step(gated(gate_path, 1))


@ct.electron
def chatty(gate_path):
    """Print, wait for the file ``gate_path``, print again."""
    import os
    import time

    print("hello", flush=True)
    deadline = time.time() + 30
    while not os.path.exists(gate_path) and time.time() < deadline:
        time.sleep(0.01)
    print("bye")
    return 1


@ct.lattice
def talking(gate_path):
    return chatty(gate_path)

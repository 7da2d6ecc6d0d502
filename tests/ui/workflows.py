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
def square(x):
    return x * x


@ct.lattice
def fan(n):
    """``n`` squares summed: a fan-out of ``n`` sibling tasks and one fan-in."""
    return total([square(i) for i in range(n)])


@ct.electron
def frame(n):
    import pandas as pd

    return pd.DataFrame({"x": list(range(n)), "square": [i * i for i in range(n)]})


@ct.electron
def matrix(n):
    import numpy as np

    return np.arange(n * n, dtype="float32").reshape(n, n)


@ct.electron
def figure(n):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot(range(n), [i * i for i in range(n)])
    return fig


@ct.lattice
def rich(n):
    """Outputs the node panel shows richly: a DataFrame, an array, a figure."""
    return [frame(n), matrix(n), figure(n)]


@ct.electron
def chatty(gate_path):
    """Prints a line at once, then waits for ``gate_path`` to exist."""
    import os
    import sys
    import time

    print("warming up", flush=True)
    print("a warning", file=sys.stderr, flush=True)
    deadline = time.time() + 30
    while not os.path.exists(gate_path) and time.time() < deadline:
        time.sleep(0.01)
    print("done")
    return 1


@ct.lattice
def talking(gate_path):
    return chatty(gate_path)


HOSTILE = '<img src=x onerror="window.__pwned=1">'


@ct.electron
def shout(text):
    print(f"<script>window.__pwned=2</script>{text}")
    return {HOSTILE: text}


@ct.electron
def explode(values):
    raise ValueError(f"<b onmouseover=window.__pwned=3>{values[HOSTILE]}</b>")


@ct.lattice
def hostile(text):
    """Untrusted text everywhere: input, output, stdout, a getitem key, an error."""
    loud = shout(text)
    return explode(loud), loud[HOSTILE]

"""Hypothesis strategies: workflows (``workflows()``) and input values as source text."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.oracle.components import KINDS, STDLIB, Component
from tests.oracle.model import Scope, SubCall, Task, Workflow

SCALARS = [
    "0",
    "1",
    "-3",
    "True",
    "None",
    "0.0",
    "-0.0",
    "1.5",
    "float('nan')",
    "-float('nan')",
    "struct.unpack('<d', bytes.fromhex('010000000000f87f'))[0]",
    "float('inf')",
    "'a'",
    "b'ab'",
    "b''",
    "1j",
    "complex(0.0, -0.0)",
    "decimal.Decimal('1.1')",
    "decimal.Decimal('1.10')",
    "fractions.Fraction(1, 3)",
    "datetime.date(2020, 1, 2)",
    "datetime.datetime(2020, 1, 2, 3, 4)",
    "uuid.UUID(int=5)",
    "range(3)",
    "slice(1, 2)",
]
RICH = [
    "np.array([1, 2, 3], dtype='int64')",
    "np.array([1, 2, 3], dtype='int32')",
    "np.array([1.0, 2.0, 3.0])",
    "np.array([0.0, -0.0])",
    "np.array([0.0, 0.0])",
    "np.array([float('nan'), 1.0])",
    "np.arange(6).reshape(2, 3)",
    "np.arange(6).reshape(3, 2)",
    "np.float32(1.5)",
    "np.float64(1.5)",
    "np.int64(1)",
    "pd.DataFrame({'a': [1, 2], 'b': [0.5, -0.0]})",
    "pd.DataFrame({'b': [0.5, -0.0], 'a': [1, 2]})",
    "pd.DataFrame({'a': [1.0, 2.0], 'b': [0.5, 0.0]})",
    "pd.Series([1, 2], name='s')",
    "pd.Series([1.0, 2.0], name='s')",
    "pd.Series([1, 2], index=['x', 'y'])",
    "T.Point(1, 2)",
    "T.Point(1, 2.0)",
    "T.Point(-0.0, 1)",
    "T.Color.RED",
    "T.Color.GREEN",
    "T.Level.LOW",
    "pathlib.Path('a/b.txt')",
    "pathlib.PurePosixPath('a/b.txt')",
    "pathlib.Path('a/c.txt')",
    "{'x', 'y'}",
    "{'x', 'z'}",
    "frozenset({'x', 'y'})",
]


def values(depth: int = 2, nan: bool = True) -> st.SearchStrategy[str]:
    """Source expressions of input values: scalars, rich types and containers of them."""
    pool = [v for v in SCALARS + RICH if nan or ("nan" not in v and "f87f" not in v)]
    leaf = st.sampled_from(pool)
    if depth == 0:
        return leaf
    inner = values(depth - 1, nan)
    pair = st.tuples(inner, inner)
    return st.one_of(
        leaf,
        leaf,
        pair.map(lambda p: f"[{p[0]}, {p[1]}]"),
        pair.map(lambda p: f"({p[0]}, {p[1]})"),
        pair.map(lambda p: f"{{'k': {p[0]}, 'j': {p[1]}}}"),
        pair.map(lambda p: f"{{'j': {p[1]}, 'k': {p[0]}}}"),
    )


@st.composite
def component(draw, idx: int, before: int, kinds: tuple[str, ...]) -> Component:
    kind = draw(st.sampled_from(kinds))
    params: dict[str, object] = {
        "a": draw(st.integers(1, 4)),
        "b": draw(st.integers(1, 9)),
    }
    if kind == "annot":
        params["t"] = draw(st.sampled_from(["int", "float"]))
    if kind == "stdlib":
        params["v"] = draw(st.sampled_from(sorted(STDLIB)))
    inner = None
    if kind == "helper" and before and draw(st.booleans()):
        inner = draw(st.integers(0, before - 1))
    return Component(kind, idx, params, inner)


class Names:
    def __init__(self) -> None:
        self.tasks = 0
        self.subs = 0

    def task(self) -> str:
        self.tasks += 1
        return f"t{self.tasks - 1}"

    def sub(self) -> str:
        self.subs += 1
        return f"sub{self.subs - 1}"


@st.composite
def task(draw, names: Names, inputs: list[str], ncomps: int, stochastic: bool) -> Task:
    k = draw(st.integers(1, min(2, len(inputs))))
    chosen = draw(st.lists(st.sampled_from(inputs), min_size=k, max_size=k))
    comps = draw(st.lists(st.integers(0, ncomps - 1), max_size=3)) if ncomps else []
    return Task(
        names.task(),
        chosen,
        comps,
        a=draw(st.integers(1, 4)),
        b=draw(st.integers(0, 9)),
        reusable=not stochastic or draw(st.integers(0, 7)) > 0,
        version=draw(st.none() | st.none() | st.none() | st.integers(1, 3)),
        hook=draw(st.none() | st.none() | st.none() | st.integers(1, 9)),
        bash=draw(st.none() | st.none() | st.none() | st.none() | st.integers(1, 9)),
    )


@st.composite
def scope(draw, names: Names, name: str, nparams: int, depth: int, ncomps: int, holes) -> Scope:
    result = Scope(name, nparams)
    available = list(result.params)
    for k in range(draw(st.integers(1, 3 if depth else 4))):
        if depth < 2 and draw(st.integers(0, 4)) == 0:
            n = draw(st.integers(1, min(2, len(available))))
            args = draw(st.lists(st.sampled_from(available), min_size=n, max_size=n))
            inner = draw(scope(names, names.sub(), n, depth + 1, ncomps, holes))
            result.steps.append(SubCall(inner, args))
        else:
            stochastic = depth == 0 or "reusable_in_sublattice" not in holes
            result.steps.append(draw(task(names, available, ncomps, stochastic)))
        available.append(f"v{k}")
    return result


@st.composite
def workflows(draw, holes: frozenset[str] = frozenset()) -> Workflow:
    """A workflow: components, nested sublattices, tasks and typed inputs.

    ``holes`` names features left out (component kinds, ``reusable_in_sublattice``,
    ``nan_inputs``): known holes a bounded run must not trip over.
    """
    kinds = tuple(k for k in KINDS if k not in holes)
    comps: list[Component] = []
    for i in range(draw(st.integers(0, 5)) if kinds else 0):
        comps.append(draw(component(i, i, kinds)))
    nparams = draw(st.integers(1, 3))
    names = Names()
    top = draw(scope(names, "wf", nparams, 0, len(comps), holes))
    if draw(st.booleans()):
        keep = Task("keep", [f"p{draw(st.integers(0, nparams - 1))}"], [], raw=True)
        top.steps.append(keep)
    inputs = [draw(values(nan="nan_inputs" not in holes)) for _ in range(nparams)]
    return Workflow(
        "c0", comps, top, inputs, nkw=draw(st.integers(0, nparams)), pad=draw(st.integers(0, 2))
    )

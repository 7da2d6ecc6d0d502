"""Tokens and code fingerprints: deterministic (twice, after pickling, in a new process),
type-strict, blind to cosmetic edits, sensitive to every change of behaviour."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import importlib
import json
import math
import pathlib
import subprocess
import sys
import textwrap
import threading
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import strictly_equal, values
from valence.fingerprint import Unhashable, code_fingerprint, hash_struct, value_token

Loader = Callable[..., types.ModuleType]


def check_tokenize(value: Any) -> str:
    """The dask way: the same token twice and after a cloudpickle round trip."""
    token = value_token(value)
    assert value_token(value) == token
    assert value_token(cloudpickle.loads(cloudpickle.dumps(value))) == token
    return token


@pytest.fixture
def np() -> types.ModuleType:
    return pytest.importorskip("numpy")


@pytest.fixture
def pd(np: types.ModuleType) -> types.ModuleType:
    return pytest.importorskip("pandas")


@pytest.fixture
def load(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    """Write ``source`` to ``tmp_path/name.py`` and import it afresh (a user module)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    loaded: list[str] = []

    def _load(source: str, name: str = "vl_fp_mod") -> types.ModuleType:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        loaded.append(name)
        return importlib.import_module(name)

    yield _load
    for name in loaded:
        sys.modules.pop(name, None)


# --- hash_struct ----------------------------------------------------------------------------

NEAR_COLLISIONS = [
    None,
    0,
    1,
    -1,
    0.0,
    -0.0,
    1.0,
    math.nan,
    True,
    False,
    "",
    "1",
    "True",
    b"",
    b"1",
]
NEAR_COLLISIONS += [[], (), {}, [1], (1,), [[1]], [1, 2], [(1, 2)], {1: 2}, {"1": 2}, {1: "2"}]


def test_hash_struct_tags_every_type() -> None:
    tokens = [hash_struct(v) for v in NEAR_COLLISIONS]
    assert len(set(tokens)) == len(NEAR_COLLISIONS)
    assert hash_struct(math.nan) == hash_struct(float("nan"))


def test_hash_struct_sorts_dict_keys_and_rejects_other_types() -> None:
    assert hash_struct({"a": 1, "b": [2, None]}) == hash_struct({"b": [2, None], "a": 1})
    assert hash_struct(["Node", "ab", {"x": 1}]) != hash_struct(["Node", "ab", {"x": 2}])
    with pytest.raises(TypeError, match="set"):
        hash_struct({1, 2})


# --- value_token: builtins and Hypothesis ---------------------------------------------------


class Color(enum.Enum):
    RED = 1
    BLUE = 2


class Level(enum.IntEnum):
    LOW = 1


Pair = collections.namedtuple("Pair", "a b")


@dataclasses.dataclass
class Config:
    name: str
    sizes: list[int] = dataclasses.field(default_factory=list)


class Plain:
    def __init__(self, x: Any) -> None:
        self.x = x


TZ = datetime.timezone(datetime.timedelta(hours=1))
SUPPORTED = [
    *NEAR_COLLISIONS,
    {1},
    frozenset({1}),
    bytearray(b"1"),
    1j,
    range(3),
    slice(1, 2),
    ...,
    Color.RED,
    Color.BLUE,
    Level.LOW,
    Pair(1, 2),
    Config("a", [1]),
    Config("a", [2]),
    Plain(1),
    Plain("1"),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
    datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=TZ),
    datetime.date(2024, 1, 2),
    datetime.time(3, 4),
    datetime.timedelta(days=1),
    decimal.Decimal("1.0"),
    decimal.Decimal("1.00"),
    fractions.Fraction(1, 3),
    uuid.UUID(int=1),
    pathlib.PurePosixPath("/data/x"),
    math.sqrt,
    len,
    str.upper,
    json.dumps,
    Color,
    Config,
    int,
    object(),
]


def test_supported_values_are_deterministic_and_distinct() -> None:
    tokens = [check_tokenize(v) for v in SUPPORTED]
    assert len(set(tokens)) == len(SUPPORTED)


def test_subclasses_of_builtins_are_not_their_base(
    np: types.ModuleType, pd: types.ModuleType
) -> None:
    assert value_token(Level.LOW) != value_token(1)
    assert value_token(Pair(1, 2)) != value_token((1, 2))
    assert value_token(np.float64(1.0)) != value_token(1.0)
    assert value_token(pd.Timestamp("2024-01-02")) != value_token(datetime.datetime(2024, 1, 2))


def test_dict_order_is_part_of_the_token_set_order_is_not() -> None:
    assert value_token({"a": 1, "b": 2}) != value_token({"b": 2, "a": 1})
    letters = [chr(c) for c in range(97, 123)]
    assert value_token(set(letters)) == value_token(set(reversed(letters)))


@given(values)
def test_tokens_survive_round_trips(value: Any) -> None:
    check_tokenize(value)


@given(values, values)
def test_equal_tokens_mean_strictly_equal_values(a: Any, b: Any) -> None:
    assert (value_token(a) == value_token(b)) == strictly_equal(a, b)


@given(st.lists(values, min_size=2, max_size=2))
def test_wrapping_changes_the_token(pair: list[Any]) -> None:
    assert len({value_token(pair), value_token(tuple(pair)), value_token([pair])}) == 3


# --- value_token: numpy and pandas ----------------------------------------------------------


def test_numpy_arrays_differ_by_element_dtype_and_shape(np: types.ModuleType) -> None:
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    changed = a.copy()
    changed[1, 2] = 99
    variants = [a, changed, a.astype(np.int32), a.reshape(3, 2), a.astype(np.float64), a.T]
    assert len({check_tokenize(v) for v in variants}) == len(variants)
    assert value_token(np.asfortranarray(a)) == value_token(a)
    assert value_token(a[:, ::2]) == value_token(a[:, ::2].copy())
    assert value_token(np.array([0.0])) != value_token(np.array([-0.0]))


def test_numpy_object_arrays_scalars_and_masks_are_content_hashed(np: types.ModuleType) -> None:
    assert value_token(np.array([1, "1"], dtype=object)) != value_token(
        np.array(["1", 1], dtype=object)
    )
    assert check_tokenize(np.array([{"a": 1}], dtype=object))
    assert value_token(np.int64(1)) != value_token(np.int32(1))
    assert value_token(np.datetime64("2024-01-01", "D")) != value_token(
        np.datetime64("2024-01-01", "s")
    )
    data = np.arange(3)
    masked = [np.ma.array(data, mask=[0, 1, 0]), np.ma.array(data, mask=[0, 0, 1])]
    assert value_token(masked[0]) != value_token(masked[1])


def test_pandas_frames_differ_by_element_dtype_label_and_index(pd: types.ModuleType) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [1.5, -0.0, math.nan]})
    changed = df.copy()
    changed.loc[2, "a"] = 4
    variants = [
        df,
        changed,
        df.astype({"a": "int32"}),
        df.rename(columns={"a": "z"}),
        df.set_axis([10, 11, 12]),
        df.iloc[:2],
        df.assign(c=[1.5, 0.0, math.nan]),
    ]
    assert len({check_tokenize(v) for v in variants}) == len(variants)


def test_pandas_object_columns_series_and_categoricals_are_content_hashed(
    pd: types.ModuleType,
) -> None:
    assert value_token(pd.DataFrame({"a": [1]}, dtype=object)) != value_token(
        pd.DataFrame({"a": ["1"]}, dtype=object)
    )
    s = pd.Series([1, 2], name="s")
    assert check_tokenize(s) != value_token(s.rename("t"))
    cat = pd.Categorical(["a", "b"], categories=["a", "b"])
    assert value_token(pd.Series(cat)) != value_token(
        pd.Series(pd.Categorical(["a", "b"], categories=["b", "a"]))
    )
    index = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])
    assert check_tokenize(pd.Series([1, 2], index=index)) != value_token(pd.Series([1, 2]))


# --- value_token: refusals and hooks --------------------------------------------------------


class DictLike(dict):  # type: ignore[type-arg]
    pass


class Holder:
    def __init__(self) -> None:
        self.lock = threading.Lock()


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("make", "type_name"),
    [
        (lambda tmp: open(tmp / "f.txt", "w"), "TextIOWrapper"),  # noqa: SIM115
        (lambda tmp: threading.Lock(), "_thread.lock"),
        (lambda tmp: _generator(), "generator"),
        (lambda tmp: DictLike(a=1), "DictLike"),
        (lambda tmp: Holder(), "_thread.lock"),
        (lambda tmp: [1, {"k": threading.RLock()}], "RLock"),
    ],
)
def test_unhashable_values_say_which_type(
    make: Callable[[pathlib.Path], Any], type_name: str, tmp_path: pathlib.Path
) -> None:
    value = make(tmp_path)
    with pytest.raises(Unhashable) as info:
        value_token(value)
    assert type_name in info.value.reason
    assert "__valence_token__" in info.value.reason
    if hasattr(value, "close"):
        value.close()


class Tokened:
    def __init__(self, key: str) -> None:
        self.key = key
        self.lock = threading.Lock()

    def __valence_token__(self) -> str:
        return self.key


def test_valence_token_hook_is_used() -> None:
    assert value_token(Tokened("a")) == value_token(Tokened("a")) != value_token(Tokened("b"))
    assert value_token(Tokened("a")) != value_token("a")


# --- code_fingerprint -----------------------------------------------------------------------

BASE = """
import math

SCALE = 3


def helper(x):
    return x + 1


def f(x, y=2):
    return helper(x) * SCALE + math.floor(y)
"""

COSMETIC = '''
"""A module docstring."""
import math

# a comment

SCALE = 3  # three


def unrelated():
    return 0


def helper(x):
    """Add one."""
    # why: because
    return x + 1



def f(x, y=2):
    """Docstring changed."""

    return helper(x) * SCALE + math.floor(y)  # trailing comment
'''

CHANGED = {
    "body": BASE.replace("SCALE + math", "SCALE - math"),
    "helper": BASE.replace("x + 1", "x + 2"),
    "constant": BASE.replace("SCALE = 3", "SCALE = 4"),
    "default": BASE.replace("y=2", "y=3"),
    "constant type": BASE.replace("SCALE = 3", "SCALE = 3.0"),
    "installed module": BASE.replace("import math", "import cmath as math"),
}


def test_cosmetic_edits_keep_the_fingerprint(load: Loader) -> None:
    assert code_fingerprint(load(BASE).f) == code_fingerprint(load(COSMETIC).f)


@pytest.mark.parametrize("change", sorted(CHANGED))
def test_behaviour_changes_change_the_fingerprint(load: Loader, change: str) -> None:
    assert code_fingerprint(load(BASE).f) != code_fingerprint(load(CHANGED[change]).f)


def test_closure_values_and_nested_code_are_part_of_the_fingerprint(load: Loader) -> None:
    mod = load(
        """
        def make(k):
            def add(x):
                return x + k
            return add

        def outer(x):
            return [i * 2 for i in range(x)]
        """
    )
    assert code_fingerprint(mod.make(1)) == code_fingerprint(mod.make(1))
    assert code_fingerprint(mod.make(1)) != code_fingerprint(mod.make(2))
    other = load("def outer(x):\n    return [i * 3 for i in range(x)]\n", "vl_fp_other")
    assert code_fingerprint(mod.outer) != code_fingerprint(other.outer)


def test_version_pins_the_fingerprint(load: Loader) -> None:
    old, new = load(BASE).f, load(CHANGED["body"]).f
    assert code_fingerprint(old, version="1") == code_fingerprint(new, version="1")
    assert code_fingerprint(old, version="1") != code_fingerprint(old, version="2")


RECURSIVE = """
def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)

def even(n):
    return n == 0 or odd(n - 1)

def odd(n):
    return n != 0 and even(n - 1)
"""


def test_recursion_terminates_and_order_does_not_matter(load: Loader) -> None:
    first = load(RECURSIVE)
    forward = [
        code_fingerprint(first.fact),
        code_fingerprint(first.even),
        code_fingerprint(first.odd),
    ]
    second = load(RECURSIVE)
    backward = [code_fingerprint(second.odd), code_fingerprint(second.even)]
    assert forward[1:] == backward[::-1]
    assert forward[1] != forward[2]
    assert code_fingerprint(load(RECURSIVE.replace("n - 1)", "n - 2)", 1)).fact) != forward[0]


COUNTER = """
def make():
    n = 0
    def get():
        return n
    def bump():
        nonlocal n
        n += 1
    return get, bump
"""


def test_cache_notices_rebound_and_mutated_globals(load: Loader) -> None:
    mod = load(BASE + "\nTABLE = [1, 2]\n\ndef g(i):\n    return TABLE[i]\n")
    before, g_before = code_fingerprint(mod.f), code_fingerprint(mod.g)
    mod.helper = lambda x: x + 5  # what re-running a notebook cell does
    assert code_fingerprint(mod.f) != before
    mod.TABLE.append(3)
    assert code_fingerprint(mod.g) != g_before
    mod.TABLE.pop()
    assert code_fingerprint(mod.g) == g_before
    counter = load(COUNTER, "vl_fp_cells")
    get, bump = counter.make()
    before = code_fingerprint(get)
    bump()
    assert code_fingerprint(get) != before


def test_user_module_attributes_are_followed(load: Loader) -> None:
    load("def g(x):\n    return x * 2\n", "vl_fp_helpers")
    user = load("import vl_fp_helpers\n\ndef f(x):\n    return vl_fp_helpers.g(x)\n")
    before = code_fingerprint(user.f)
    load("def g(x):\n    return x * 3\n", "vl_fp_helpers")
    user = load("import vl_fp_helpers\n\ndef f(x):\n    return vl_fp_helpers.g(x)\n")
    assert code_fingerprint(user.f) != before


def test_modules_imported_inside_a_function_are_followed(load: Loader) -> None:
    source = "def f(x):\n    import json\n    from vl_fp_local import g\n    return g(x)\n"
    load("def g(x):\n    return x * 2\n", "vl_fp_local")
    before = code_fingerprint(load(source).f)
    load("def g(x):\n    return x * 3\n", "vl_fp_local")
    assert code_fingerprint(load(source).f) != before


CLASSES = """
import dataclasses

class Model:
    factor = 2

    def predict(self, x):
        return x * self.factor

@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int = 0

def run(x):
    return Model().predict(Point(x).x)
"""


@pytest.mark.parametrize(
    "edit",
    [("factor = 2", "factor = 3"), ("x * self", "x + self"), ("y: int = 0", "y: int = 1")],
)
def test_classes_used_by_code_are_fingerprinted(load: Loader, edit: tuple[str, str]) -> None:
    before = load(CLASSES)
    after = load(CLASSES.replace(*edit))
    assert code_fingerprint(before.run) != code_fingerprint(after.run)
    assert value_token(before.Point(1)) == check_tokenize(before.Point(1))


def test_instances_of_user_classes_carry_their_class_code(load: Loader) -> None:
    before, after = load(CLASSES), load(CLASSES.replace("x * self", "x + self"))
    assert value_token(before.Model()) != value_token(after.Model())
    assert value_token(before.Point(1)) != value_token(before.Point(2))


def test_unhashable_global_is_named(load: Loader) -> None:
    mod = load(
        "import threading\nLOCK = threading.Lock()\n\ndef f():\n    with LOCK:\n        return 1\n"
    )
    with pytest.raises(Unhashable) as info:
        code_fingerprint(mod.f)
    assert "'LOCK'" in info.value.reason and "_thread.lock" in info.value.reason


def test_valence_fingerprint_hook_and_installed_functions() -> None:
    class Wrapper:
        def __valence_fingerprint__(self) -> str:
            return "abc"

    assert code_fingerprint(Wrapper()) == "abc"  # type: ignore[arg-type]
    assert code_fingerprint(json.dumps) == code_fingerprint(json.dumps)
    assert code_fingerprint(json.dumps) != code_fingerprint(json.loads)


def test_fingerprint_survives_pickling_by_value(load: Loader) -> None:
    mod = load(CLASSES + BASE)
    cloudpickle.register_pickle_by_value(mod)
    try:
        for fn in (mod.f, mod.run):
            copy = cloudpickle.loads(cloudpickle.dumps(fn))
            assert copy is not fn and code_fingerprint(copy) == code_fingerprint(fn)
        point = cloudpickle.loads(cloudpickle.dumps(mod.Point(1)))
        assert value_token(point) == value_token(mod.Point(1))
    finally:
        cloudpickle.unregister_pickle_by_value(mod)


# --- a fresh process: the redispatch situation ----------------------------------------------

SUBPROCESS_MODULE = (
    CLASSES
    + BASE
    + """
import enum

class Mode(enum.Enum):
    FAST = "fast"
"""
)

SUBPROCESS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from valence.fingerprint import code_fingerprint, value_token
import vl_fp_sub as mod
out = {"f": code_fingerprint(mod.f), "run": code_fingerprint(mod.run)}
out["set"] = value_token({"alpha", "beta", "gamma", "delta", frozenset({"x", "y"})})
out["dict"] = value_token({"b": [1, 2.5], "a": (None, b"x")})
out["lazy"] = "numpy" not in sys.modules and "pandas" not in sys.modules
out["objects"] = value_token([mod.Mode.FAST, mod.Point(1, 2), mod.Model])
import numpy as np, pandas as pd
out["array"] = value_token(np.arange(12.0).reshape(3, 4))
out["frame"] = value_token(pd.DataFrame({"a": [1, 2], "b": ["x", None]}))
print(json.dumps(out))
"""


def test_tokens_and_fingerprints_match_in_a_fresh_process(
    load: Loader, tmp_path: pathlib.Path, np: types.ModuleType, pd: types.ModuleType
) -> None:
    mod = load(SUBPROCESS_MODULE, "vl_fp_sub")
    script = tmp_path / "script.py"
    script.write_text(SUBPROCESS_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, check=True
    )
    there = json.loads(result.stdout)
    assert there.pop("lazy") is True
    here = {
        "f": code_fingerprint(mod.f),
        "run": code_fingerprint(mod.run),
        "set": value_token({"alpha", "beta", "gamma", "delta", frozenset({"x", "y"})}),
        "dict": value_token({"b": [1, 2.5], "a": (None, b"x")}),
        "objects": value_token([mod.Mode.FAST, mod.Point(1, 2), mod.Model]),
        "array": value_token(np.arange(12.0).reshape(3, 4)),
        "frame": value_token(pd.DataFrame({"a": [1, 2], "b": ["x", None]})),
    }
    assert there == here


def test_fingerprint_of_code_loaded_by_value_without_its_file(
    load: Loader, tmp_path: pathlib.Path
) -> None:
    mod = load(SUBPROCESS_MODULE, "vl_fp_gone")
    cloudpickle.register_pickle_by_value(mod)
    try:
        blob = tmp_path / "run.pkl"
        blob.write_bytes(cloudpickle.dumps([mod.run, mod.f, mod.Point(1, 2)]))
    finally:
        cloudpickle.unregister_pickle_by_value(mod)
    (tmp_path / "vl_fp_gone.py").unlink()
    script = (
        "import json, sys, cloudpickle\n"
        "from valence.fingerprint import code_fingerprint, value_token\n"
        "run, f, point = cloudpickle.loads(open(sys.argv[1], 'rb').read())\n"
        "assert 'vl_fp_gone' not in sys.modules\n"
        "print(json.dumps([code_fingerprint(run), code_fingerprint(f), value_token(point)]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(blob)], capture_output=True, text=True, check=True
    )
    expected = [code_fingerprint(mod.run), code_fingerprint(mod.f), value_token(mod.Point(1, 2))]
    assert json.loads(result.stdout) == expected

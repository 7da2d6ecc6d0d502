"""Behaviour a function carries outside ``__code__`` is part of its fingerprint, and the
fingerprint cache notices when it changes in place (``%autoreload``, attribute set later)."""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable

import pytest

from valence.fingerprint import code_fingerprint, value_token

Loader = Callable[[str], types.ModuleType]


@pytest.fixture
def load(tmp_path, monkeypatch) -> Loader:
    """Write ``source`` to a user module file and import it afresh."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.delitem(sys.modules, "vl_fn_state", raising=False)

    def _load(source: str) -> types.ModuleType:
        (tmp_path / "vl_fn_state.py").write_text(source)
        sys.modules.pop("vl_fn_state", None)
        importlib.invalidate_caches()
        return importlib.import_module("vl_fn_state")

    return _load


MODULE = """
import functools

def validated(fn):
    @functools.wraps(fn)
    def wrapper(x):
        if x > wrapper.limit:
            raise ValueError(x)
        return fn(x)
    wrapper.limit = 10
    return wrapper

@validated
def task(x: int) -> int:
    return x + 1

def helper(x):
    return x * 2

def caller(x):
    return helper(x)

def scale(x, factor=2, *, shift=0):
    return x * factor + shift

def make():
    seen = [1]
    def read():
        return seen[0]
    return read, seen

@functools.singledispatch
def describe(x):
    return "thing"

@describe.register
def _(x: int):
    return "int"

class Model:
    def __init__(self, k):
        self.k = k

    def predict(self, x):
        return x * self.k
"""


def test_in_place_code_patch_is_noticed_by_the_cache(load: Loader) -> None:
    mod = load(MODULE)
    before, caller = code_fingerprint(mod.helper), code_fingerprint(mod.caller)
    original = mod.helper.__code__
    mod.helper.__code__ = (lambda x: x * 3).__code__  # what %autoreload does
    assert code_fingerprint(mod.helper) != before
    assert code_fingerprint(mod.caller) != caller  # a cached caller sees it too
    mod.helper.__code__ = original
    assert code_fingerprint(mod.caller) == caller


def test_function_attributes_and_annotations_are_fingerprinted(load: Loader) -> None:
    mod = load(MODULE)
    before = code_fingerprint(mod.task)
    mod.task.limit = 5  # a validating decorator reads it
    assert code_fingerprint(mod.task) != before
    mod.task.limit = 10
    assert code_fingerprint(mod.task) == before
    mod.task.__annotations__["x"] = float
    assert code_fingerprint(mod.task) != before
    mod.task.__annotations__["x"] = int
    assert code_fingerprint(mod.task) == before
    mod.helper.note = {"a": [1]}
    noted = code_fingerprint(mod.helper)
    mod.helper.note["a"].append(2)  # mutated in place
    assert code_fingerprint(mod.helper) != noted


def test_wrapped_chain_defaults_and_closure_cells(load: Loader) -> None:
    mod = load(MODULE)
    inner = vars(mod.task)["__wrapped__"]
    before = code_fingerprint(mod.task)
    inner.__code__ = (lambda x: x + 2).__code__
    assert code_fingerprint(mod.task) != before
    scale = code_fingerprint(mod.scale)
    mod.scale.__defaults__ = (3,)
    assert code_fingerprint(mod.scale) != scale
    mod.scale.__defaults__ = (2,)
    mod.scale.__kwdefaults__ = {"shift": 1}
    assert code_fingerprint(mod.scale) != scale
    read, seen = mod.make()
    cell = code_fingerprint(read)
    seen[0] = 2
    assert code_fingerprint(read) != cell


def test_partials_and_bound_methods_carry_their_state(load: Loader) -> None:
    mod = load(MODULE)
    assert value_token(functools.partial(mod.scale, 2)) != value_token(
        functools.partial(mod.scale, 3)
    )
    tagged = functools.partial(mod.scale, 2)
    plain = value_token(tagged)
    tagged.tag = "x"
    assert value_token(tagged) != plain
    model = mod.Model(2)
    bound = value_token(model.predict)
    model.k = 3
    assert value_token(model.predict) != bound
    assert isinstance(model.predict, types.MethodType)


def test_singledispatch_registry_is_fingerprinted(load: Loader) -> None:
    mod = load(MODULE)
    before = code_fingerprint(mod.describe)
    assert mod.describe(1) == "int" and mod.describe("a") == "thing"  # fills its cache
    assert code_fingerprint(mod.describe) == before
    mod.describe.register(str, lambda x: "str")
    assert code_fingerprint(mod.describe) != before
    again = load(MODULE)
    assert code_fingerprint(again.describe) == before


DYNAMIC = """
import vl_fn_cfg

X = 3

def by_getattr(name):
    return getattr(vl_fn_cfg, name + "UE")

def by_vars(name):
    return vars(vl_fn_cfg)[name]

def by_globals():
    return globals()["X"]

def plain():
    return vl_fn_cfg.OTHER
"""


def test_dynamic_access_fingerprints_the_modules_it_can_reach(load: Loader, tmp_path) -> None:
    (tmp_path / "vl_fn_cfg.py").write_text("VALUE = 1\nOTHER = 2\n")
    sys.modules.pop("vl_fn_cfg", None)
    mod = load(DYNAMIC)
    cfg = sys.modules["vl_fn_cfg"]
    names = ("by_getattr", "by_vars", "by_globals", "plain")
    before = {name: code_fingerprint(getattr(mod, name)) for name in names}
    cfg.VALUE = 5  # read only through a computed name
    mod.X = 4  # read only through globals()
    after = {name: code_fingerprint(getattr(mod, name)) for name in names}
    assert [before[n] != after[n] for n in names] == [True, True, True, False]
    mod.NEW = 1  # a name added later: globals() could read it
    assert code_fingerprint(mod.by_globals) != after["by_globals"]
    sys.modules.pop("vl_fn_cfg", None)


def test_module_getattr_is_fingerprinted_for_names_it_computes(load: Loader, tmp_path) -> None:
    (tmp_path / "vl_fn_lazy.py").write_text("def __getattr__(name):\n    return len(name)\n")
    sys.modules.pop("vl_fn_lazy", None)
    mod = load("import vl_fn_lazy\n\ndef f():\n    return vl_fn_lazy.ABC\n")
    before = code_fingerprint(mod.f)
    sys.modules["vl_fn_lazy"].__getattr__ = lambda name: 2 * len(name)
    assert code_fingerprint(mod.f) != before
    sys.modules.pop("vl_fn_lazy", None)

"""Stable fingerprints of code and values: the only inputs of a reuse decision.

``hash_struct(struct)``
    sha256 of a type-tagged canonical encoding of plain nested data (None, bool, int, float,
    str, bytes, list, tuple, dict with keys sorted by their encoding). Node keys are built with it.
``value_token(value)``
    Token of a runtime value, dispatched on its type (``functools.singledispatch``; the numpy and
    pandas handlers are registered the first time a value of theirs is seen, never imported).
``code_fingerprint(fn, version=None)``
    Fingerprint of a function's compiled code plus everything it reads: defaults, closure cells,
    modules it imports and, recursively, the globals it loads (helpers, classes, constants).
``Unhashable``
    Raised when a value has no stable token. The caller marks the node not reusable with
    ``exc.reason``. No fallback: never ``id()``, a repr with addresses, random or a constant.

Policy: a miss costs a re-run, a false hit returns a wrong result, so every doubt is a miss.

- Tokens are type-tagged: ``1``, ``1.0``, ``True``, ``"1"``, ``[1]`` and ``(1,)`` all differ;
  floats are hashed by ``float.hex`` (``-0.0 != 0.0``; every NaN is the same NaN). Dicts keep
  their order in ``value_token`` (order can change a task's output); sets are sorted.
- A subclass is never hashed as its base (``IntEnum`` members, ``np.float64``, ``pd.Timestamp``
  and namedtuples have their own handlers; a ``str`` or ``dict`` subclass is ``Unhashable``).
- Code is hashed from the code object, not the source: instructions with their constants
  resolved, names, flags and exception table; never the file, line numbers or unreferenced
  constants (the docstring). Comments, docstrings and moved code keep the fingerprint, and a
  function loaded by value from a pickle fingerprints like the original.
- User code (``__main__``, files outside site-packages and the stdlib, editable installs, code
  loaded by value, lambdas and ``<locals>``) is hashed by content, following the attributes a
  function uses on user modules; objects importable from installed modules are hashed by
  qualified name and distribution version. Not seen: names reached dynamically (``getattr`` with
  a computed name, ``globals()``, ``eval``) and file contents behind a ``Path`` or a string.
- An instance of a class without a handler is hashed as its class fingerprint plus its
  ``__dict__`` and slots, only when no class in its MRO can hold hidden C-level state (each is
  ``object``, a user or dataclass class, or adds nothing: ``__slots__ = ()``). ``__eq__`` does not
  matter: same class code and same state behave the same. Anything else needs a
  ``__valence_token__()`` method on its type (whose owner then answers for its stability).
- Function and class fingerprints are cached per object; a cached one is used only after
  checking that every binding it read (globals, defaults, cells, class members, imported
  modules) still holds the same object and that every mutable value it read has the same token.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import decimal
import dis
import enum
import fractions
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import pathlib
import platform
import sys
import threading
import types
import uuid
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from valence.serialize import is_user_module

__all__ = ["Unhashable", "code_fingerprint", "hash_struct", "value_token"]


class Unhashable(Exception):
    """A value cannot be hashed stably; ``reason`` names it and says how to fix it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- canonical encoding ---------------------------------------------------------------------
# Every encoding is self-delimiting: a one-byte tag, then a fixed-size payload or an 8-byte
# length/count. Concatenations of encodings are therefore unambiguous.

_MISSING = object()


def _n(count: int) -> bytes:
    return count.to_bytes(8, "big")


def _atom(tag: bytes, payload: bytes) -> bytes:
    return tag + _n(len(payload)) + payload


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


def _join(tag: bytes, parts: list[bytes]) -> bytes:
    return tag + _n(len(parts)) + b"".join(parts)


def _record(kind: str, *parts: bytes) -> bytes:
    """A tagged record, distinct from every tuple or list: ``R kind n part...``."""
    return _join(b"R", [_ATOMS[str](kind), *parts])


_ATOMS: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda v: b"N",
    bool: lambda v: b"T" if v else b"F",
    int: lambda v: _atom(b"i", _int_bytes(v)),
    float: lambda v: _atom(b"f", v.hex().encode()),
    str: lambda v: _atom(b"s", v.encode("utf-8", "surrogatepass")),
    bytes: lambda v: _atom(b"y", v),
}


def _struct(obj: Any) -> bytes:
    encode = _ATOMS.get(type(obj))
    if encode is not None:
        return encode(obj)
    if type(obj) in (list, tuple):
        return _join(b"l" if type(obj) is list else b"t", [_struct(x) for x in obj])
    if type(obj) is dict:  # keys are distinct, so sorting key+value sorts by key
        return _join(b"D", sorted(_struct(k) + _struct(v) for k, v in obj.items()))
    raise TypeError(
        f"hash_struct takes None, bool, int, float, str, bytes, list, tuple and dict; "
        f"got {_type_name(type(obj))}"
    )


def hash_struct(struct: Any) -> str:
    """sha256 hex of the canonical encoding of plain nested data (see module docstring)."""
    return hashlib.sha256(_struct(struct)).hexdigest()


# --- value tokens ---------------------------------------------------------------------------


def value_token(value: Any) -> str:
    """Hex token of ``value``; equal tokens mean equal type and content. Raises ``Unhashable``."""
    try:
        return hashlib.sha256(_enc(value)).hexdigest()
    except RecursionError:
        raise Unhashable(_TOO_DEEP.format(_type_name(type(value)))) from None


_TOO_DEEP = "cannot hash a value of type {} stably: it contains itself or is nested too deeply"


def _enc(value: Any) -> bytes:
    encode = _EXACT.get(type(value))
    if encode is not None:
        return encode(value)
    return _enc_object(value)


def _seq(tag: bytes, items: Iterable[Any]) -> bytes:
    return _join(tag, [_enc(x) for x in items])


def _unordered(tag: bytes, items: Iterable[Any]) -> bytes:
    return _join(tag, sorted(_enc(x) for x in items))


def _pairs(tag: bytes, items: Iterable[tuple[Any, Any]]) -> bytes:
    return _join(tag, [_enc(k) + _enc(v) for k, v in items])


_EXACT: dict[type, Callable[[Any], bytes]] = {
    **_ATOMS,
    list: lambda v: _seq(b"l", v),
    tuple: lambda v: _seq(b"t", v),
    dict: lambda v: _pairs(b"d", v.items()),
    set: lambda v: _unordered(b"S", v),
    frozenset: lambda v: _unordered(b"Z", v),
    bytearray: lambda v: _atom(b"Y", bytes(v)),
    complex: lambda v: _atom(b"c", f"{v.real.hex()},{v.imag.hex()}".encode()),
    range: lambda v: _record("range", _enc(v.start), _enc(v.stop), _enc(v.step)),
    slice: lambda v: _record("slice", _enc(v.start), _enc(v.stop), _enc(v.step)),
    type(...): lambda v: b"E",
    type(NotImplemented): lambda v: b"I",
}


def _enc_object(value: Any) -> bytes:
    cls = type(value)
    if _LAZY:
        _lazy_register(cls)
    hook = getattr(cls, "__valence_token__", None)
    if hook is not None:
        return _record("hook", _enc(_type_name(cls)), _enc(hook(value)))
    fingerprint = getattr(cls, "__valence_fingerprint__", None)
    if fingerprint is not None and not isinstance(value, type):
        return _record("valence", _enc(fingerprint(value)))
    return _encode(value)


@functools.singledispatch
def _encode(value: Any) -> bytes:
    """Types without a registered handler: a few safe shapes, else ``Unhashable``."""
    cls = type(value)
    if cls is object:  # a bare sentinel: no state, no behaviour but identity
        return _record("object")
    if isinstance(value, tuple) and hasattr(cls, "_fields"):
        return _record("namedtuple", _enc(cls), _seq(b"t", value))
    ref = _installed_ref(value)
    if ref is not None:
        return ref
    if _plain_class(cls):
        return _enc_instance(value)
    raise Unhashable(_cannot(cls))


def _cannot(cls: type) -> str:
    return (
        f"cannot hash a value of type {_type_name(cls)} stably; give it a __valence_token__ "
        "method or pass a hashable value"
    )


def _tz(tz: Any) -> Any:
    """A time zone as plain data: None, a fixed offset, or a named zone."""
    if tz is None or type(tz) is datetime.timezone:
        return tz and (tz.utcoffset(None), tz.tzname(None))
    if type(tz).__module__ == "zoneinfo" or type(tz).__module__.startswith(("pytz", "dateutil")):
        return (_type_name(type(tz)), str(tz))  # the zone's key, e.g. "Europe/Paris"
    raise Unhashable(_cannot(type(tz)))


def _fields(*names: str) -> Callable[[Any], tuple[Any, ...]]:
    return lambda v: tuple(getattr(v, n) for n in names)


_LRU_WRAPPER = type(functools.lru_cache(maxsize=None)(len))
_DATACLASS_PARAMS = type(dataclasses.dataclass(type("_Probe", (), {})).__dataclass_params__)
_DATACLASS_SENTINELS = {  # MISSING and the default_factory marker of generated __init__
    type(dataclasses.MISSING),
    type(getattr(dataclasses, "_HAS_DEFAULT_FACTORY", dataclasses.MISSING)),
}

# Types whose state is a few plain attributes, hashed as a record of them. Exact types only:
# a subclass may add state or behaviour, so it gets no token from its base's entry.
_STATE: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    datetime.datetime: lambda v: (v.isoformat(), v.fold, _tz(v.tzinfo)),
    datetime.time: lambda v: (v.isoformat(), v.fold, _tz(v.tzinfo)),
    datetime.date: lambda v: (v.isoformat(),),
    datetime.timedelta: _fields("days", "seconds", "microseconds"),
    decimal.Decimal: lambda v: (str(v),),
    fractions.Fraction: _fields("numerator", "denominator"),
    uuid.UUID: _fields("bytes"),
    collections.OrderedDict: lambda v: (list(v.items()),),
    collections.Counter: lambda v: (list(v.items()),),
    collections.defaultdict: lambda v: (v.default_factory, list(v.items())),
    collections.deque: lambda v: (v.maxlen, list(v)),
    types.SimpleNamespace: lambda v: (sorted(vars(v).items()),),
    types.MappingProxyType: lambda v: (dict(v),),
    types.CodeType: lambda v: (_code_token(v),),
    types.FunctionType: lambda v: (code_fingerprint(v),),
    types.MethodType: _fields("__func__", "__self__"),
    types.MethodDescriptorType: _fields("__objclass__", "__name__"),
    types.WrapperDescriptorType: _fields("__objclass__", "__name__"),
    types.ClassMethodDescriptorType: _fields("__objclass__", "__name__"),
    types.MethodWrapperType: _fields("__self__", "__name__"),
    staticmethod: _fields("__func__"),
    classmethod: _fields("__func__"),
    property: _fields("fget", "fset", "fdel"),
    functools.cached_property: _fields("func", "attrname"),
    functools.partial: _fields("func", "args", "keywords"),
    _LRU_WRAPPER: lambda v: (v.__wrapped__, v.cache_parameters()),  # caching keeps results
    dataclasses.Field: lambda v: _field_state(v),
    _DATACLASS_PARAMS: lambda v: tuple(getattr(v, n) for n in type(v).__slots__),
    **{sentinel: lambda v: () for sentinel in _DATACLASS_SENTINELS},  # stateless markers
}


def _field_state(field: dataclasses.Field[Any]) -> tuple[Any, ...]:
    """A dataclass field without its annotation (``.type`` is not behaviour)."""
    names = [n for n in dataclasses.Field.__slots__ if n not in ("type", "_field_type")]
    kind = getattr(getattr(field, "_field_type", None), "name", None)
    return (kind, *(getattr(field, n) for n in names))


def _enc_state(value: Any) -> bytes:
    state = _STATE.get(type(value))
    if state is None:  # a subclass of a type in _STATE
        raise Unhashable(_cannot(type(value)))
    return _record(_type_name(type(value)), *(_enc(part) for part in state(value)))


for _cls in _STATE:
    _encode.register(_cls, _enc_state)


@_encode.register
def _(value: enum.Enum) -> bytes:
    return _record("enum", _enc(type(value)), _enc(value._name_), _enc(value._value_))


@_encode.register
def _(value: pathlib.PurePath) -> bytes:  # the path, not the file's content
    return _record("path", _enc(_type_name(type(value))), _enc(str(value)))


@_encode.register
def _(value: type) -> bytes:
    ref = _installed_ref(value)
    return ref if ref is not None else _record("class", _enc(_memo(value, _class_parts)))


@_encode.register
def _(value: types.BuiltinFunctionType) -> bytes:
    owner = value.__self__
    if owner is not None and not isinstance(owner, types.ModuleType):
        return _record("bound_builtin", _enc(owner), _enc(value.__name__))
    ref = _installed_ref(value)
    if ref is None:
        raise Unhashable(_cannot(type(value)))
    return ref


@_encode.register
def _(value: types.ModuleType) -> bytes:
    name = value.__name__
    if _module_kind(name) == "installed":
        return _record("module", _enc(name), _enc(_module_version(name)))
    loader = getattr(value, "__loader__", None)
    source = loader.get_source(name) if hasattr(loader, "get_source") else None
    if source is None:
        raise Unhashable(f"cannot hash user module {name!r}: its source is unavailable")
    return _record("user_module", _enc(source))


# --- instances of plain classes -------------------------------------------------------------


def _plain_class(cls: type) -> bool:
    """True when ``__dict__`` and ``__slots__`` hold all the state of ``cls`` instances."""
    return all(_adds_no_hidden_state(c) for c in cls.__mro__)


def _adds_no_hidden_state(cls: type) -> bool:
    if cls is object or "__dataclass_fields__" in vars(cls):
        return True
    python_class = bool(cls.__flags__ & _HEAPTYPE)
    if python_class and vars(cls).get("__slots__") == ():
        return True
    module = sys.modules.get(cls.__module__)
    compiled = str(getattr(module, "__file__", "") or "").endswith((".so", ".pyd"))
    return python_class and not compiled and _module_kind(cls.__module__) == "user"


_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set for classes created by a class statement


def _enc_instance(value: Any) -> bytes:
    """Class fingerprint + every attribute set on the instance (``__dict__`` or slots)."""
    try:
        items = sorted(_enc(k) + _enc(v) for k, v in _instance_state(value).items())
    except Unhashable as exc:
        raise Unhashable(f"an attribute of {_type_name(type(value))}: {exc.reason}") from None
    return _record("instance", _enc(type(value)), _join(b"D", items))


def _instance_state(value: Any) -> dict[str, Any]:
    state = dict(vars(value)) if hasattr(value, "__dict__") else {}
    for cls in type(value).__mro__:
        for name, slot in vars(cls).items():
            if isinstance(slot, types.MemberDescriptorType) and name not in state:
                with contextlib.suppress(AttributeError):  # an unset slot
                    state[name] = slot.__get__(value, cls)
    return state


# --- numpy and pandas, registered on first sight --------------------------------------------


def _lazy_register(cls: type) -> None:
    root = (getattr(cls, "__module__", None) or "").partition(".")[0]
    register = _LAZY.pop(root, None)
    if register is not None:
        register()


def _register_numpy() -> None:
    import numpy as np

    _LAZY.pop("numpy", None)
    _encode.register(np.ndarray, _enc_ndarray)
    _encode.register(np.generic, _enc_np_scalar)
    _encode.register(np.dtype, _enc_dtype)


def _register_pandas() -> None:
    import pandas as pd

    _register_numpy()
    _encode.register(pd.DataFrame, _enc_frame)
    _encode.register(pd.Series, _enc_series)
    _encode.register(pd.Index, _enc_index)
    _encode.register(pd.Timestamp, _enc_timestamp)
    _encode.register(pd.Timedelta, lambda v: _record("Timedelta", _enc(v.isoformat())))
    _encode.register(type(pd.NaT), lambda v: _record("NaT"))
    _encode.register(type(pd.NA), lambda v: _record("NA"))


_LAZY: dict[str, Callable[[], None]] = {"numpy": _register_numpy, "pandas": _register_pandas}


def _enc_dtype(dtype: Any) -> bytes:
    descr = dtype.descr if dtype.fields is not None else None
    return _record("dtype", _enc(dtype.str), _enc(descr))


def _enc_ndarray(array: Any) -> bytes:
    np = sys.modules["numpy"]
    ma = sys.modules.get("numpy.ma")
    if ma is not None and isinstance(array, ma.MaskedArray):
        mask = ma.getmaskarray(array)
        return _record("masked", _enc(array.data), _enc(mask), _enc(array.fill_value))
    if type(array) not in (np.ndarray, np.memmap, np.recarray):
        raise Unhashable(_cannot(type(array)))
    head = (_enc(_type_name(type(array))), _enc_dtype(array.dtype), _enc(array.shape))
    if array.dtype.kind in "OT":  # Python objects / variable-width strings: hash the elements
        return _record("ndarray", *head, _seq(b"l", array.ravel(order="C").tolist()))
    if array.dtype.hasobject:
        raise Unhashable("cannot hash a numpy structured array with object fields stably")
    return _record("ndarray", *head, _enc(_array_digest(array)))


def _array_digest(array: Any) -> bytes:
    np = sys.modules["numpy"]
    contiguous = np.ascontiguousarray(array).reshape(-1)
    try:
        return hashlib.sha256(memoryview(contiguous.view(np.uint8))).digest()
    except (TypeError, ValueError):
        return hashlib.sha256(contiguous.tobytes()).digest()


def _enc_np_scalar(value: Any) -> bytes:
    if value.dtype.hasobject:
        raise Unhashable("cannot hash a numpy structured scalar with object fields stably")
    return _record("npscalar", _enc_dtype(value.dtype), _enc(value.tobytes()))


def _enc_timestamp(value: Any) -> bytes:
    return _record("Timestamp", _enc(value.isoformat()), _enc(value.unit), _enc(_tz(value.tzinfo)))


def _pandas_dtype(dtype: Any) -> bytes:
    np = sys.modules["numpy"]
    if isinstance(dtype, np.dtype):
        return _enc_dtype(dtype)
    if type(dtype).__name__ == "CategoricalDtype":
        return _record("category", _enc(dtype.categories), _enc(dtype.ordered))
    text = repr(dtype)
    if " at 0x" in text:
        raise Unhashable(f"cannot hash pandas dtype {_type_name(type(dtype))} stably")
    return _record("dtype", _enc(_type_name(type(dtype))), _enc(text))


def _pandas_values(obj: Any) -> bytes:
    """Content of a Series or Index: exact bytes for numpy dtypes, elements for objects."""
    np = sys.modules["numpy"]
    if obj.dtype == object:
        return _seq(b"l", obj.tolist())
    if isinstance(obj.dtype, np.dtype):
        return _enc(obj.to_numpy())
    pd = sys.modules["pandas"]
    if isinstance(obj, pd.Index):
        hashes = pd.util.hash_pandas_object(obj)
    else:
        hashes = pd.util.hash_pandas_object(obj, index=False)
    return _enc(hashes.to_numpy().tobytes())


def _enc_index(index: Any) -> bytes:
    head = (_enc(_type_name(type(index))), _enc(list(index.names)))
    if hasattr(index, "levels"):  # MultiIndex
        return _record("MultiIndex", *head, _seq(b"l", index.levels), _seq(b"l", index.codes))
    return _record("Index", *head, _pandas_dtype(index.dtype), _pandas_values(index))


def _enc_series(series: Any) -> bytes:
    parts = (_enc(series.name), _pandas_dtype(series.dtype), _enc(series.index))
    return _record("Series", *parts, _pandas_values(series), _enc(series.attrs))


def _enc_frame(frame: Any) -> bytes:
    columns = [frame.iloc[:, i] for i in range(frame.shape[1])]
    body = [_pandas_dtype(c.dtype) + _pandas_values(c) for c in columns]
    head = (_enc(frame.columns), _enc(frame.index), _enc(frame.attrs))
    return _record("DataFrame", *head, _join(b"l", body))


# --- where code comes from ------------------------------------------------------------------


def _module_kind(name: str | None) -> str:
    """``"user"`` (hash its code) or ``"installed"`` (hash its name and version)."""
    if not isinstance(name, str) or name not in sys.modules:
        return "user"  # no module: code loaded by value or created by exec
    kind = _KINDS.get(name)
    if kind is None:
        user = is_user_module(name) or _editable(name.partition(".")[0])
        kind = _KINDS[name] = "user" if user else "installed"
    return kind


_KINDS: dict[str, str] = {}


def _distributions() -> dict[str, list[str]]:
    """Distributions by import name (rescanned when ``sys.path`` changes)."""
    return _scan_distributions(tuple(sys.path))


@functools.lru_cache(maxsize=4)
def _scan_distributions(path: tuple[str, ...]) -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


@functools.cache
def _editable(top: str) -> bool:
    """An editable install is edited in place without a version bump: hash it as code."""
    if top == "valence":
        return False
    for name in _distributions().get(top, ()):
        text = importlib.metadata.distribution(name).read_text("direct_url.json") or "{}"
        if json.loads(text).get("dir_info", {}).get("editable"):
            return True
    return False


@functools.cache
def _module_version(name: str) -> str:
    top = name.partition(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return f"python=={platform.python_version()}"
    dists = sorted(set(_distributions().get(top, ())))
    if dists:
        return ",".join(f"{d}=={importlib.metadata.version(d)}" for d in dists)
    try:  # an editable install may not map its import name (valence itself)
        return f"{top}=={importlib.metadata.version(top)}"
    except importlib.metadata.PackageNotFoundError:
        pass
    version = getattr(sys.modules.get(top), "__version__", None)
    if isinstance(version, str):
        return f"{top}=={version}"
    raise Unhashable(f"cannot tell the version of installed module {name!r}; pin it with version=")


def _by_code(obj: Any) -> bool:
    """Whether ``obj`` must be hashed by content: it is not importable from an installed module."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if _module_kind(module) == "user" or not isinstance(qualname, str) or "<" in qualname:
        return True
    if isinstance(obj, type) and not obj.__flags__ & _HEAPTYPE:
        return False  # a C type: never created dynamically
    return not _resolves(obj, module, qualname)


def _resolves(obj: Any, module: str, qualname: str) -> bool:
    target: Any = sys.modules.get(module)
    *path, last = qualname.split(".")
    for part in path:
        target = getattr(target, part, None)
    found = vars(target).get(last, _MISSING) if hasattr(target, "__dict__") else _MISSING
    return getattr(found, "__func__", found) is obj or getattr(target, last, None) is obj


def _installed_ref(obj: Any) -> bytes | None:
    """Token of an importable function/class/callable of an installed module, else None."""
    cached = _REFS.get(id(obj))
    if cached is not None and cached[0] is obj:
        return cached[1]
    module = getattr(obj, "__module__", None)
    if not callable(obj) or not isinstance(module, str) or _by_code(obj):
        return None
    qualname = obj.__qualname__
    ref = _record("ref", _enc(module), _enc(qualname), _enc(_module_version(module)))
    _REFS[id(obj)] = (obj, ref)
    return ref


_REFS: dict[int, tuple[Any, bytes]] = {}


# --- code fingerprints ----------------------------------------------------------------------


def code_fingerprint(fn: Callable[..., Any], version: str | None = None) -> str:
    """Fingerprint of ``fn``'s code and of everything it reads; ``version`` pins it by name."""
    if version is not None:
        return hash_struct(["Pinned", _qualified(fn), version])
    hook = getattr(type(fn), "__valence_fingerprint__", None)
    if hook is not None and not isinstance(fn, type):
        return str(hook(fn))
    if not isinstance(fn, types.FunctionType):
        return value_token(fn)
    try:
        ref = _installed_ref(fn)
        return hashlib.sha256(ref).hexdigest() if ref else _memo(fn, _function_parts)
    except RecursionError:
        raise Unhashable(_TOO_DEEP.format(_qualified(fn))) from None


_PYTHON = (sys.implementation.name, *sys.version_info[:2])
_DOC_FLAG = getattr(inspect, "CO_HAS_DOCSTRING", 0)
_HASCONST = frozenset(dis.hasconst)
_LOAD_GLOBALS = frozenset(dis.opmap[n] for n in ("LOAD_GLOBAL", "LOAD_NAME") if n in dis.opmap)


@functools.cache
def _code_token(code: types.CodeType) -> bytes:
    """Digest of a code object without file, line numbers or unreferenced constants."""
    header = (
        _PYTHON,
        (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount),
        code.co_flags & ~_DOC_FLAG,
        (code.co_varnames, code.co_freevars, code.co_cellvars, code.co_names),
        getattr(code, "co_exceptiontable", b""),
    )
    body = [_instruction(i, code.co_consts) for i in dis.get_instructions(code)]
    return hashlib.sha256(_record("code", _enc(header), _join(b"l", body))).digest()


def _instruction(ins: dis.Instruction, consts: tuple[Any, ...]) -> bytes:
    if ins.opcode in _HASCONST:  # the constant itself, not its index
        return _record(ins.opname, _enc(consts[ins.arg]))
    return _enc((ins.opname, ins.arg))


@functools.cache
def _code_names(code: types.CodeType) -> tuple[frozenset[str], frozenset[Any], frozenset[str]]:
    """Globals loaded, modules imported ``(level, name)`` and every name used, nested code too."""
    loads, imports, names = set(), set(), set(code.co_names)
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        if ins.opcode in _LOAD_GLOBALS:
            loads.add(ins.argval)
        elif ins.opname == "IMPORT_NAME":  # preceded by LOAD_CONST level, LOAD_CONST fromlist
            level = instructions[i - 2].argval
            imports.add((level if isinstance(level, int) else 0, ins.argval))
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            nested = _code_names(const)
            loads, imports, names = loads | nested[0], imports | nested[1], names | nested[2]
    return frozenset(loads), frozenset(imports), frozenset(names)


def _function_parts(fn: types.FunctionType) -> list[bytes]:
    loads, imports, attrs = _code_names(fn.__code__)
    cells = zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
    return [
        _enc(fn.__code__),
        _defaults(fn),
        _join(b"l", [_cell(fn, name, cell, attrs) for name, cell in cells]),
        _join(b"l", [_global(fn, name, attrs) for name in sorted(loads)]),
        _join(b"l", [_import(fn, level, name, attrs) for level, name in sorted(imports)]),
    ]


def _import(fn: types.FunctionType, level: int, name: str, attrs: frozenset[str]) -> bytes:
    """A module imported inside the function, hashed like a module global."""
    absolute = "." * level + name
    top = name.partition(".")[0]
    installed = top in sys.stdlib_module_names or (top in _distributions() and not _editable(top))
    if not level and name not in sys.modules and installed:  # its version is enough
        _note("items", (sys.modules, name, _MISSING))
        return _enc(name) + _record("module", _enc(name), _enc(_module_version(name)))
    try:  # what calling fn would do
        absolute = importlib.util.resolve_name(absolute, fn.__globals__.get("__package__"))
        module = importlib.import_module(absolute)
    except Exception as exc:
        raise Unhashable(f"{_qualified(fn)} imports {absolute!r}, which fails: {exc}") from None
    _note("items", (sys.modules, absolute, module))
    return _enc(absolute) + _ref(module, attrs)


def _defaults(fn: types.FunctionType) -> bytes:
    _note("attrs", (fn, "__defaults__", fn.__defaults__))
    _note("attrs", (fn, "__kwdefaults__", fn.__kwdefaults__))
    try:
        return _ref(fn.__defaults__, frozenset()) + _ref(fn.__kwdefaults__, frozenset())
    except Unhashable as exc:
        raise Unhashable(f"a default argument of {_qualified(fn)}: {exc.reason}") from None


def _cell(fn: types.FunctionType, name: str, cell: Any, attrs: frozenset[str]) -> bytes:
    value = _cell_contents(cell)
    _note("cells", (cell, value))
    if value is _MISSING:
        return _record("empty_cell")
    try:
        return _ref(value, attrs)
    except Unhashable as exc:
        raise Unhashable(f"closure variable {name!r} of {_qualified(fn)}: {exc.reason}") from None


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING


def _global(fn: types.FunctionType, name: str, attrs: frozenset[str]) -> bytes:
    value = fn.__globals__.get(name, _MISSING)
    _note("items", (fn.__globals__, name, value))
    if value is _MISSING:
        builtin = fn.__builtins__.get(name, _MISSING)
        _note("items", (fn.__builtins__, name, builtin))
        return _enc((name, "builtin" if builtin is not _MISSING else "unbound"))
    try:
        return _enc(name) + _ref(value, attrs)
    except Unhashable as exc:
        raise Unhashable(f"global {name!r} of {_qualified(fn)}: {exc.reason}") from None


def _ref(value: Any, attrs: frozenset[str], seen: frozenset[str] = frozenset()) -> bytes:
    """Token of a value read by code: user modules by the attributes the code uses."""
    if isinstance(value, types.ModuleType) and _module_kind(value.__name__) == "user":
        return _user_module(value, attrs, seen)
    token = _enc(value)
    if not _frozen(value):
        owners = tuple(_stack()[1].values())  # the context its encoding depends on
        _note("mutables", (value, hashlib.sha256(token).digest(), owners))
    return token


def _user_module(module: types.ModuleType, attrs: frozenset[str], seen: frozenset[str]) -> bytes:
    if module.__name__ in seen:
        return _record("module_cycle", _enc(module.__name__))
    namespace, seen = vars(module), seen | {module.__name__}
    parts = []
    for name in sorted(attrs):
        value = namespace.get(name, _MISSING)
        _note("items", (namespace, name, value))
        if value is not _MISSING:
            parts.append(_enc(name) + _ref(value, attrs, seen))
    return _record("user_module", *parts)


_FROZEN_TYPES = frozenset(
    {type(None), bool, int, float, complex, str, bytes, range, type(...), type(NotImplemented)}
    | {datetime.datetime, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal}
    | {fractions.Fraction, uuid.UUID, types.FunctionType, types.BuiltinFunctionType}
    | {types.MethodDescriptorType, types.WrapperDescriptorType, types.CodeType, types.ModuleType}
    | {staticmethod, classmethod, property, _LRU_WRAPPER}
)


def _frozen(value: Any) -> bool:
    """Immutable all the way down (functions and classes record their own reads)."""
    cls = type(value)
    if cls in _FROZEN_TYPES or isinstance(value, (type, enum.Enum, pathlib.PurePath)):
        return True
    return cls in (tuple, frozenset) and all(_frozen(x) for x in value)


_CLASS_SKIP = frozenset(
    {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__slotnames__"}
    | {"__annotations__", "__annotate__", "__annotate_func__", "__annotations_cache__"}
    | {"__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__"}
    | {"__type_params__", "_abc_impl", "_value2member_map_"}  # caches filled on use
)
# Descriptors implied by __slots__ / namedtuple _fields, which are hashed.
_IMPLIED = (types.MemberDescriptorType, types.GetSetDescriptorType)


def _class_parts(cls: type) -> list[bytes]:
    members = dict(vars(cls))
    _note("members", (cls, tuple(members.items())))
    _note("attrs", (cls, "__bases__", cls.__bases__))
    head = [
        _enc(cls.__module__),
        _enc(cls.__qualname__),
        _enc(type(cls)),
        _seq(b"t", cls.__bases__),
    ]
    kept = sorted((n, v) for n, v in members.items() if n not in _CLASS_SKIP and not _implied(v))
    return head + [_member(cls, name, value) for name, value in kept]


_ENUM_TABLES = frozenset({"_member_map_", "_member_names_", "_unhashable_values_"})


def _implied(value: Any) -> bool:
    return isinstance(value, _IMPLIED) or type(value).__name__ == "_tuplegetter"


def _member(cls: type, name: str, value: Any) -> bytes:
    try:
        if isinstance(cls, enum.EnumMeta) and name in _ENUM_TABLES:  # fixed once created
            return _enc(name) + _enc(value)
        return _enc(name) + _ref(value, frozenset())
    except Unhashable as exc:
        raise Unhashable(f"attribute {name!r} of class {_qualified(cls)}: {exc.reason}") from None


# --- validated, cycle-safe memo of function and class fingerprints --------------------------


class _Frame:
    """What one fingerprint read; stored with the result and re-checked before each reuse."""

    __slots__ = ("attrs", "cells", "deps", "hex", "items", "members", "mutables", "open")

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any, Any]] = []  # (mapping, key, value or _MISSING)
        self.attrs: list[tuple[Any, str, Any]] = []  # (object, attribute, value)
        self.cells: list[tuple[Any, Any]] = []  # (cell, contents)
        self.members: list[tuple[type, tuple[Any, ...]]] = []  # (class, vars items)
        self.mutables: list[tuple[Any, bytes, tuple[Any, ...]]] = []  # (value, digest, active)
        self.deps: dict[int, Any] = {}  # every function/class reached, by id (kept alive)
        self.open: set[int] = set()  # ids of enclosing objects replaced by a cycle marker
        self.hex = ""

    def bindings_hold(self) -> bool:
        """Every name, attribute, cell and class member read still holds the same object."""
        return (
            all(m.get(k, _MISSING) is v for m, k, v in self.items)
            and all(getattr(o, a, _MISSING) is v for o, a, v in self.attrs)
            and all(_cell_contents(c) is v for c, v in self.cells)
            and all(_same_members(c, snapshot) for c, snapshot in self.members)
        )

    def absorb(self, other: _Frame) -> None:
        for name in ("items", "attrs", "cells", "members", "mutables"):
            getattr(self, name).extend(getattr(other, name))
        self.deps.update(other.deps)
        self.open |= other.open


def _same_token(value: Any, digest: bytes, owners: tuple[Any, ...]) -> bool:
    """Re-hash a mutable value with the objects that were being fingerprinted back then."""
    _, active = _stack()
    added = [o for o in owners if id(o) not in active]
    active.update((id(o), o) for o in added)
    try:
        return hashlib.sha256(_enc(value)).digest() == digest
    finally:
        for o in added:
            del active[id(o)]


def _same_members(cls: type, snapshot: tuple[tuple[str, Any], ...]) -> bool:
    now = tuple(vars(cls).items())
    return len(now) == len(snapshot) and all(
        a[0] == b[0] and a[1] is b[1] for a, b in zip(now, snapshot, strict=True)
    )


_MEMO: weakref.WeakKeyDictionary[Any, _Frame] = weakref.WeakKeyDictionary()
_local = threading.local()


def _stack() -> tuple[list[_Frame], dict[int, Any]]:
    """This thread's frames (innermost last) and the objects being fingerprinted, by id."""
    try:
        return _local.frames, _local.active
    except AttributeError:
        _local.frames, _local.active, _local.trusted = [], {}, frozenset()
        return _local.frames, _local.active


def _note(field: str, entry: tuple[Any, ...]) -> None:
    """Record a read in the fingerprint being computed (see ``_Frame``)."""
    frames, _ = _stack()
    if frames:
        getattr(frames[-1], field).append(entry)


def _memo(obj: Any, parts: Callable[[Any], list[bytes]]) -> str:
    """Hex fingerprint of a function or class, from the cache when still valid.

    An object met again while its own fingerprint is being computed (recursion) becomes a
    cycle marker; results that contain a marker for an enclosing object are not cached, and a
    cached result is not used inside the computation of an object it reached, so the value
    never depends on which object was fingerprinted first.
    """
    frames, active = _stack()
    if id(obj) in active:
        frames[-1].open.add(id(obj))
        return hash_struct(["Cycle", _qualified(obj)])
    entry = _MEMO.get(obj)
    if entry is not None and entry.deps.keys().isdisjoint(active) and _still_valid(obj, entry):
        if frames:
            frames[-1].absorb(entry)
        return entry.hex
    return _compute(obj, parts, frames, active)


def _still_valid(obj: Any, entry: _Frame) -> bool:
    """Re-check ``entry`` in the context it was computed in (``obj`` being fingerprinted).

    While an entry's mutable values are re-hashed, the entries it reached need no check of
    their own: their reads are part of this entry's, checked first.
    """
    if id(obj) in _local.trusted:
        return True
    if not entry.bindings_hold():
        return False
    if not entry.mutables:
        return True
    frames, active = _stack()
    frames.append(_Frame())  # reads made while re-checking are already in ``entry``
    active[id(obj)], trusted = obj, _local.trusted
    _local.trusted = trusted | entry.deps.keys()
    try:
        return all(_same_token(v, d, owners) for v, d, owners in entry.mutables)
    finally:
        frames.pop()
        del active[id(obj)]
        _local.trusted = trusted


def _compute(
    obj: Any, parts: Callable[[Any], list[bytes]], frames: list[_Frame], active: dict[int, Any]
) -> str:
    frame = _Frame()
    frames.append(frame)
    active[id(obj)] = obj
    try:
        kind = "class" if isinstance(obj, type) else "function"
        frame.hex = hashlib.sha256(_record(kind, *parts(obj))).hexdigest()
    finally:
        frames.pop()
        del active[id(obj)]
    frame.open.discard(id(obj))
    frame.deps[id(obj)] = obj
    if not frame.open:
        _MEMO[obj] = frame
    if frames:
        frames[-1].absorb(frame)
    return frame.hex


# --- names ----------------------------------------------------------------------------------


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", repr(cls))
    return name if module in (None, "builtins") else f"{module}.{name}"


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}" if name else _type_name(type(obj))

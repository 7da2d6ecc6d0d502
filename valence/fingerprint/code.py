"""``code_fingerprint``: a function's compiled code plus everything it reads.

Code is hashed from the code object (instructions with constants resolved, names, flags),
never the file or line numbers. Defaults, closure cells, attributes and annotations, imported
modules and globals are hashed with it, following the attributes the function uses on user
modules (all of them when it reaches names dynamically).
"""

from __future__ import annotations

import datetime
import decimal
import dis
import enum
import fractions
import functools
import hashlib
import importlib
import importlib.util
import inspect
import logging
import operator
import pathlib
import re
import struct
import sys
import types
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any

from valence.fingerprint.cache import _cell_contents, _memo, _note, _note_import, _stack
from valence.fingerprint.encoding import _MISSING, _join, _record, hash_struct
from valence.fingerprint.origin import _installed_top, _module_kind, _module_version
from valence.fingerprint.reasons import _TOO_DEEP, Unhashable, _qualified
from valence.fingerprint.values import (
    _LRU_WRAPPER,
    _enc,
    _installed_ref,
    _register_state,
    value_token,
)


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
    if _is_singledispatch(fn):
        return _singledispatch_parts(fn)
    _note("attrs", (fn, "__code__", fn.__code__))  # replaced in place by %autoreload
    loads, imports, attrs = _code_names(fn.__code__)
    if not attrs.isdisjoint(_WHOLE_NAMESPACE):  # names computed at run time: read everything
        loads = loads | frozenset(_names_of(fn.__globals__))
    if not attrs.isdisjoint(_DYNAMIC):
        attrs = _ALL
    cells = zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True)
    return [
        _enc(fn.__code__),
        _defaults(fn),
        _join(b"l", [_cell(fn, name, cell, attrs) for name, cell in cells]),
        _join(b"l", [_global(fn, name, attrs) for name in sorted(loads)]),
        _join(b"l", [_import(fn, level, name, attrs) for level, name in sorted(imports)]),
        _attributes(fn),
    ]


# Set on functions by valence itself (the source text kept for loading by value).
_OWN_ATTRIBUTES = frozenset({"__valence_source__"})


def _attributes(fn: types.FunctionType) -> bytes:
    """``__dict__`` (decorators keep state and ``__wrapped__`` there) and ``__annotations__``."""
    namespace, annotations = vars(fn), fn.__annotations__
    _note("members", (fn, tuple(namespace.items())))
    _note("attrs", (fn, "__annotations__", annotations))
    _note("members", (annotations, tuple(annotations.items())))
    kept = sorted((n, v) for n, v in namespace.items() if n not in _OWN_ATTRIBUTES)
    try:
        parts = [_enc(name) + _ref(value, frozenset()) for name, value in kept]
        hints = [_enc(name) + _ref(value, frozenset()) for name, value in annotations.items()]
        return _join(b"l", parts) + _join(b"l", hints)
    except Unhashable as exc:
        raise Unhashable(f"an attribute of {_qualified(fn)}: {exc.reason}") from None


def _is_singledispatch(fn: types.FunctionType) -> bool:
    namespace = vars(fn)
    return "registry" in namespace and "dispatch" in namespace and "__wrapped__" in namespace


def _singledispatch_parts(fn: types.FunctionType) -> list[bytes]:
    """A ``functools.singledispatch`` function: its registry (type -> implementation)."""
    _note("members", (fn, tuple(vars(fn).items())))
    try:
        return [_record("singledispatch"), _ref(fn.registry, frozenset())]  # type: ignore[attr-defined]
    except Unhashable as exc:
        raise Unhashable(f"an implementation of {_qualified(fn)}: {exc.reason}") from None


def _import(fn: types.FunctionType, level: int, name: str, attrs: frozenset[str]) -> bytes:
    """A module imported inside the function, hashed like a module global."""
    absolute = "." * level + name
    top = name.partition(".")[0]
    installed = top in sys.stdlib_module_names or _installed_top(top)
    if not level and name not in sys.modules and installed:  # its version is enough
        _note("items", (sys.modules, name, _MISSING))
        return _enc(name) + _record("module", _enc(name), _enc(_module_version(name)))
    try:  # what calling fn would do
        absolute = importlib.util.resolve_name(absolute, fn.__globals__.get("__package__"))
        module = importlib.import_module(absolute)
    except Exception as exc:
        raise Unhashable(f"{_qualified(fn)} imports {absolute!r}, which fails: {exc}") from None
    _note("items", (sys.modules, absolute, module))
    if _module_kind(module.__name__) == "user":
        _note_import(absolute)
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


# Builtins that reach names computed at run time; the second set reads the caller's globals.
_WHOLE_NAMESPACE = frozenset({"globals", "eval", "exec"})
_DYNAMIC = _WHOLE_NAMESPACE | {"getattr", "vars", "__dict__", "__getattribute__"}
_ALL = frozenset({"*"})  # marker: every attribute of the user modules the code reads


class _Names:
    """The public names of a namespace: a mutable value whose token is the sorted names."""

    __slots__ = ("namespace",)

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace


def _public_names(namespace: dict[str, Any]) -> list[str]:
    return sorted(n for n in namespace if not (n.startswith("__") and n.endswith("__")))


def _names_of(namespace: dict[str, Any]) -> list[str]:
    """Every name but dunders; a name added later invalidates cached fingerprints."""
    marker = _Names(namespace)
    _note("mutables", (marker, hashlib.sha256(_enc(marker)).digest(), ()))
    return _public_names(namespace)


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
    names = _names_of(namespace) if attrs is _ALL else sorted(attrs)
    for name in names:
        value = namespace.get(name, _MISSING)
        _note("items", (namespace, name, value))
        if value is not _MISSING:
            parts.append(_enc(name) + _ref(value, attrs, seen))
    if "__getattr__" not in names and len(parts) < len(names):  # PEP 562: computed attributes
        hook = namespace.get("__getattr__", _MISSING)
        _note("items", (namespace, "__getattr__", hook))
        if hook is not _MISSING:
            parts.append(_enc("__getattr__") + _ref(hook, attrs, seen))
    return _record("user_module", *parts)


_FROZEN_TYPES = frozenset(
    {type(None), bool, int, float, complex, str, bytes, range, type(...), type(NotImplemented)}
    | {datetime.datetime, datetime.date, datetime.time, datetime.timedelta, decimal.Decimal}
    | {fractions.Fraction, uuid.UUID, types.FunctionType, types.BuiltinFunctionType}
    | {types.MethodDescriptorType, types.WrapperDescriptorType, types.CodeType, types.ModuleType}
    | {staticmethod, classmethod, property, _LRU_WRAPPER}
    | {re.Pattern, struct.Struct, datetime.timezone, zoneinfo.ZoneInfo, logging.Logger}
    | {operator.itemgetter, operator.attrgetter, operator.methodcaller}
    | {types.GenericAlias, types.UnionType, logging.RootLogger}  # a logger's token is its name
)


def _frozen(value: Any) -> bool:
    """Immutable all the way down (functions and classes record their own reads)."""
    cls = type(value)
    if cls in _FROZEN_TYPES or isinstance(value, (type, enum.Enum, pathlib.PurePath)):
        return True
    return cls in (tuple, frozenset) and all(_frozen(x) for x in value)


_register_state(types.CodeType, lambda v: (_code_token(v),))
_register_state(_Names, lambda v: (_public_names(v.namespace),))
_register_state(types.FunctionType, lambda v: (code_fingerprint(v),))

"""``value_token``: tokens of runtime values, dispatched on their exact type.

Builtins, containers and stdlib value types are handled here, as are installed callables
(by reference), modules and instances of plain classes. Other modules register their own
handlers on ``_encode``: ``code`` (functions, code objects), ``classes`` (classes) and
``arrays`` (numpy and pandas, on first sight).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import ipaddress
import logging
import operator
import pathlib
import re
import struct
import sys
import types
import typing
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any

from valence.fingerprint.encoding import _ATOMS, _atom, _float_bytes, _join, _record
from valence.fingerprint.origin import _HEAPTYPE, _by_code, _module_kind, _module_version
from valence.fingerprint.reasons import _TOO_DEEP, Unhashable, _cannot, _type_name


def value_token(value: Any) -> str:
    """Hex token of ``value``; equal tokens mean equal type and content. Raises ``Unhashable``."""
    try:
        return hashlib.sha256(_enc(value)).hexdigest()
    except RecursionError:
        raise Unhashable(_TOO_DEEP.format(_type_name(type(value)))) from None


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
    complex: lambda v: _atom(b"c", _float_bytes(v.real) + b"," + _float_bytes(v.imag)),
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


# --- stdlib value types ---------------------------------------------------------------------


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
# a subclass may add state or behaviour, so it gets no token from its base's entry. ``code``
# adds code objects and functions with ``_register_state``.
_STATE: dict[type, Callable[[Any], tuple[Any, ...]]] = {
    datetime.datetime: lambda v: (v.isoformat(), v.fold, _tz(v.tzinfo)),
    datetime.time: lambda v: (v.isoformat(), v.fold, _tz(v.tzinfo)),
    datetime.date: lambda v: (v.isoformat(),),
    datetime.timedelta: _fields("days", "seconds", "microseconds"),
    decimal.Decimal: lambda v: (str(v),),
    fractions.Fraction: _fields("numerator", "denominator"),
    uuid.UUID: _fields("bytes"),
    datetime.timezone: lambda v: (v.utcoffset(None), v.tzname(None)),
    zoneinfo.ZoneInfo: lambda v: (v.key,),
    logging.Logger: _fields("name"),  # a logger is its name: ``getLogger`` returns the same one
    logging.RootLogger: _fields("name"),
    re.Pattern: _fields("pattern", "flags"),
    struct.Struct: _fields("format"),
    operator.itemgetter: lambda v: v.__reduce__()[1:],
    operator.attrgetter: lambda v: v.__reduce__()[1:],
    operator.methodcaller: lambda v: v.__reduce__(),  # (partial(methodcaller, name, **kw), args)
    ipaddress.IPv4Address: lambda v: (v.packed,),
    ipaddress.IPv6Address: lambda v: (v.packed, v.scope_id),
    ipaddress.IPv4Network: lambda v: (str(v),),
    ipaddress.IPv6Network: lambda v: (str(v),),
    ipaddress.IPv4Interface: lambda v: (str(v),),
    ipaddress.IPv6Interface: lambda v: (str(v),),
    types.GenericAlias: lambda v: (v.__origin__, v.__args__),
    types.UnionType: lambda v: (v.__args__,),
    collections.OrderedDict: lambda v: (list(v.items()),),
    collections.Counter: lambda v: (list(v.items()),),
    collections.defaultdict: lambda v: (v.default_factory, list(v.items())),
    collections.deque: lambda v: (v.maxlen, list(v)),
    types.SimpleNamespace: lambda v: (sorted(vars(v).items()),),
    types.MappingProxyType: lambda v: (dict(v),),
    types.MethodType: _fields("__func__", "__self__"),
    types.MethodDescriptorType: _fields("__objclass__", "__name__"),
    types.WrapperDescriptorType: _fields("__objclass__", "__name__"),
    types.ClassMethodDescriptorType: _fields("__objclass__", "__name__"),
    types.MethodWrapperType: _fields("__self__", "__name__"),
    staticmethod: _fields("__func__"),
    classmethod: _fields("__func__"),
    property: _fields("fget", "fset", "fdel"),
    functools.cached_property: _fields("func", "attrname"),
    functools.partial: lambda v: (v.func, v.args, v.keywords, vars(v)),
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


def _register_state(cls: type, state: Callable[[Any], tuple[Any, ...]]) -> None:
    _STATE[cls] = state
    _encode.register(cls, _enc_state)


for _cls in _STATE:
    _encode.register(_cls, _enc_state)


@_encode.register
def _(value: enum.Enum) -> bytes:
    return _record("enum", _enc(type(value)), _enc(value._name_), _enc(value._value_))


@_encode.register
def _(value: typing._Final) -> bytes:  # type: ignore[name-defined]  # Optional[int], TypeVar...
    text = repr(value)  # names what it refers to by qualified name
    if " at 0x" in text:
        raise Unhashable(_cannot(type(value)))
    return _record("typing", _enc(_type_name(type(value))), _enc(text))


@_encode.register
def _(value: pathlib.PurePath) -> bytes:  # the path, not the file's content
    return _record("path", _enc(_type_name(type(value))), _enc(str(value)))


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


# --- installed callables, by reference ------------------------------------------------------


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


# --- numpy and pandas, registered on first sight (see arrays) -------------------------------


def _lazy_register(cls: type) -> None:
    root = (getattr(cls, "__module__", None) or "").partition(".")[0]
    register = _LAZY.pop(root, None)
    if register is not None:
        register()


_LAZY: dict[str, Callable[[], None]] = {}  # top-level module -> registration; see ``arrays``

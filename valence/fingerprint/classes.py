"""Class fingerprints: module, name, metaclass, bases and every member that is behaviour."""

from __future__ import annotations

import enum
import types
from typing import Any

from valence.fingerprint.cache import _memo, _note
from valence.fingerprint.code import _ref
from valence.fingerprint.encoding import _record
from valence.fingerprint.reasons import Unhashable, _qualified
from valence.fingerprint.values import _enc, _encode, _installed_ref, _seq


@_encode.register
def _(value: type) -> bytes:
    ref = _installed_ref(value)
    return ref if ref is not None else _record("class", _enc(_memo(value, _class_parts)))


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

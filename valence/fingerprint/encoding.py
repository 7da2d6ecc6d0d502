"""``hash_struct``: sha256 of a type-tagged canonical encoding of plain nested data.

Every encoding is self-delimiting: a one-byte tag, then a fixed-size payload or an 8-byte
length/count. Concatenations of encodings are therefore unambiguous. ``values`` builds value
tokens from the same atoms and records.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

from valence.fingerprint.reasons import _type_name

_MISSING = object()


def _n(count: int) -> bytes:
    return count.to_bytes(8, "big")


def _atom(tag: bytes, payload: bytes) -> bytes:
    return tag + _n(len(payload)) + payload


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 8) // 8, "big", signed=True)


def _float_bytes(value: float) -> bytes:
    """``float.hex`` (keeps -0.0 apart); a NaN by its bits: sign and payload are observable."""
    if value != value:
        return b"nan:" + struct.pack(">d", value)
    return value.hex().encode()


def _join(tag: bytes, parts: list[bytes]) -> bytes:
    return tag + _n(len(parts)) + b"".join(parts)


def _record(kind: str, *parts: bytes) -> bytes:
    """A tagged record, distinct from every tuple or list: ``R kind n part...``."""
    return _join(b"R", [_ATOMS[str](kind), *parts])


_ATOMS: dict[type, Callable[[Any], bytes]] = {
    type(None): lambda v: b"N",
    bool: lambda v: b"T" if v else b"F",
    int: lambda v: _atom(b"i", _int_bytes(v)),
    float: lambda v: _atom(b"f", _float_bytes(v)),
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


def hash_flat(struct: tuple[Any, ...]) -> str:
    """sha256 of a tuple of str, int, None and such tuples: the hot path for node keys.

    For these types ``repr`` is already canonical and unambiguous (strings are
    quoted and escaped, tuples delimited), so it serves as the encoding and
    costs a few microseconds instead of a full tagged walk.
    """
    return hashlib.sha256(repr(struct).encode()).hexdigest()

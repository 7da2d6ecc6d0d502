"""Hypothesis strategies for values valence hashes and stores, and the equality they imply."""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import strategies as st

#: Scalars of every builtin type whose tokens must never collide (1, 1.0, True, "1", b"1").
atoms = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-2, max_value=2)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1.0, math.nan])
    | st.text(max_size=8)
    | st.sampled_from(["", "1", "0", "True", "None"])
    | st.binary(max_size=8)
    | st.complex_numbers(allow_nan=False)
)

#: Hashable scalars (dict keys, set elements); no NaN, whose set/dict behaviour is by identity.
keys = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=3)
    | st.floats(allow_nan=False)
    | st.text(max_size=4)
    | st.binary(max_size=4)
)

hashables = st.recursive(
    keys, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
        | st.binary(max_size=4).map(bytearray)
    )


#: Nested builtin values: lists, tuples, dicts, sets and frozensets of the atoms.
values = st.recursive(atoms, _containers, max_leaves=16)


def strictly_equal(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down; floats by ``float.hex``; dicts in order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):  # by bits: -0.0 and NaN sign and payload are observable
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, complex):
        return strictly_equal(a.real, b.real) and strictly_equal(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return strictly_equal(list(a.items()), list(b.items()))
    if isinstance(a, (set, frozenset)):
        return len(a) == len(b) and all(any(strictly_equal(x, y) for y in b) for x in a)
    return bool(a == b)

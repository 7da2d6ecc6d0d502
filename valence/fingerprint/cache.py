"""Validated, cycle-safe memo of function and class fingerprints.

A fingerprint records every read it made (``_Frame``); a cached one is reused only while
those bindings still hold the same objects and every mutable value read has the same token.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from valence.fingerprint.encoding import _MISSING, _record, hash_struct
from valence.fingerprint.reasons import _qualified
from valence.fingerprint.values import _enc


class _Frame:
    """What one fingerprint read; stored with the result and re-checked before each reuse."""

    __slots__ = ("attrs", "cells", "deps", "hex", "imports", "items", "members", "mutables", "open")

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any, Any]] = []  # (mapping, key, value or _MISSING)
        self.attrs: list[tuple[Any, str, Any]] = []  # (object, attribute, value)
        self.cells: list[tuple[Any, Any]] = []  # (cell, contents)
        self.members: list[tuple[Any, tuple[Any, ...]]] = []  # (class/function/dict, items)
        self.mutables: list[tuple[Any, bytes, tuple[Any, ...]]] = []  # (value, digest, active)
        self.imports: set[str] = set()  # user modules imported inside a body: found on sys.path
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
        self.imports |= other.imports
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


def _same_members(owner: Any, snapshot: tuple[tuple[str, Any], ...]) -> bool:
    """The namespace of a class or function (or a dict) holds the same objects, in order."""
    now = tuple((owner if type(owner) is dict else vars(owner)).items())
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


def _note_import(module: str) -> None:
    frames, _ = _stack()
    if frames:
        frames[-1].imports.add(module)
    else:
        _collect_names({module})


def _collect_names(names: set[str]) -> None:
    found = getattr(_local, "imports", None)
    if found is not None:
        found |= names


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
        else:
            _collect(entry)
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
    else:
        _collect(frame)
    return frame.hex


def _collect(frame: _Frame) -> None:
    _collect_names(frame.imports)


@contextlib.contextmanager
def user_imports() -> Iterator[set[str]]:
    """Collect the user modules that fingerprints computed inside resolved from ``sys.path``.

    They come from the environment, not from the code pickled with a dispatch: a redispatch
    from the stored code must fingerprint them again.
    """
    outer = getattr(_local, "imports", None)
    _local.imports = found = set()
    try:
        yield found
    finally:
        _local.imports = outer
        if outer is not None:
            outer |= found


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return _MISSING

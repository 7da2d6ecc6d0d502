"""Why a value has no token: ``Unhashable`` and the names its messages use."""

from __future__ import annotations

from typing import Any


class Unhashable(Exception):
    """A value cannot be hashed stably; ``reason`` names it and says how to fix it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_TOO_DEEP = "cannot hash a value of type {} stably: it contains itself or is nested too deeply"


def _cannot(cls: type) -> str:
    return (
        f"cannot hash a value of type {_type_name(cls)} stably; give it a __valence_token__ "
        "method or pass a hashable value"
    )


def _type_name(cls: type) -> str:
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", repr(cls))
    return name if module in (None, "builtins") else f"{module}.{name}"


def _qualified(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return f"{module}.{name}" if name else _type_name(type(obj))

"""Source lines for tracebacks of functions that travelled by value.

cloudpickle names the code of a function pickled by value ``<dynamic-code>``,
so a traceback from it shows no source. Electrons and lattices carry their
source text (``__valence_source__``, captured when decorated); here that text
is registered with :mod:`linecache` under a name of the function's own, and the
code objects are renamed to match, so tracebacks read as they would locally.
"""

from __future__ import annotations

import linecache
import types
from typing import Any

_DYNAMIC = "<dynamic-code>"


def restore_source(function: Any) -> None:
    """Give a by-value function's tracebacks its source lines (idempotent)."""
    code = getattr(function, "__code__", None)
    source = getattr(function, "__valence_source__", None)
    if not isinstance(code, types.CodeType) or code.co_filename != _DYNAMIC or not source:
        return
    name = f"<valence {getattr(function, '__module__', '?')}.{function.__qualname__}>"
    lines = [""] * (code.co_firstlineno - 1) + source.splitlines(keepends=True)
    linecache.cache[name] = (sum(map(len, lines)), None, lines, name)
    function.__code__ = _renamed(code, name)


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)

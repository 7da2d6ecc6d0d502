"""``gc_paused``: the cyclic garbage collector off while many long-lived objects are built.

Tracing, keying and writing a large graph allocate tens of thousands of records
(and row tuples) that all stay alive; the collector's repeated passes over the
growing heap cost more than the work itself. Reference counting still frees
garbage; collection resumes (if it was on) when the block ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (usable as a decorator)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

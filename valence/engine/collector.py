"""The garbage collector's oldest generation runs rarely while large dispatches run.

A full collection walks every tracked object of the process, and a large
dispatch holds many (its graph, its records): with CPython's default
thresholds a 10,000-task fan triggered about six of them while it ran, a third
of its run time. While a dispatch of at least :data:`LARGE` nodes runs in this
process, the third threshold is raised to :data:`RARE` (young generations are
collected as usual, so short-lived cycles still go at once); it is put back
when the last such dispatch ends, unless someone else changed it meanwhile.
"""

from __future__ import annotations

import gc
import threading

LARGE = 1000
"""Nodes from which a dispatch holds the collector (smaller ones change nothing)."""
RARE = 100
"""The third threshold while held (CPython's default is 10)."""

_lock = threading.Lock()
_holders = 0
_saved: int | None = None  # the third threshold to put back


def hold() -> None:
    """A large dispatch starts: collect the oldest generation rarely."""
    global _holders, _saved
    with _lock:
        _holders += 1
        if _holders == 1:
            first, second, third = gc.get_threshold()
            if third < RARE:
                _saved = third
                gc.set_threshold(first, second, RARE)


def release() -> None:
    """A large dispatch ended: the last one puts the threshold back."""
    global _holders, _saved
    with _lock:
        _holders = max(0, _holders - 1)
        if _holders or _saved is None:
            return
        first, second, third = gc.get_threshold()
        if third == RARE:  # not changed by anyone else meanwhile
            gc.set_threshold(first, second, _saved)
        _saved = None

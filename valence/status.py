"""Status values. Each is a ``str``, so it compares equal to Covalent's strings.

``bool(status)`` is False only for NEW_OBJECT, as in Covalent.
"""

from __future__ import annotations


class Status(str):
    """A dispatch or node status that compares equal to its plain string."""

    def __bool__(self) -> bool:
        return self != "NEW_OBJECT"

    def __repr__(self) -> str:
        return f"Status({str.__str__(self)!r})"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def STATUS(self) -> str:
        """The plain string, as Covalent's ``Status.STATUS``."""
        return str.__str__(self)


NEW_OBJECT = Status("NEW_OBJECT")
STARTING = Status("STARTING")
PENDING_REUSE = Status("PENDING_REUSE")
PENDING_REPLACEMENT = Status("PENDING_REPLACEMENT")
RUNNING = Status("RUNNING")
PENDING_BACKEND = Status("PENDING_BACKEND")  # a task waiting for a worker: queued
DISPATCHING = Status("DISPATCHING")
DISPATCHING_SUBLATTICE = DISPATCHING
POSTPROCESSING = Status("POSTPROCESSING")
PENDING_POSTPROCESSING = Status("PENDING_POSTPROCESSING")
POSTPROCESSING_FAILED = Status("POSTPROCESSING_FAILED")
COMPLETED = Status("COMPLETED")
FAILED = Status("FAILED")
CANCELLED = Status("CANCELLED")

TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
TERMINAL_STATUSES = frozenset(str.__str__(s) for s in TERMINAL)


def is_terminal(status: str | None) -> bool:
    """``ct.status.is_terminal(x)``: COMPLETED, FAILED or CANCELLED (strings accepted)."""
    return str(status) in TERMINAL_STATUSES


KNOWN = frozenset(v for v in list(globals().values()) if isinstance(v, Status))


def as_status(value: str | None) -> Status:
    """Wrap a stored status string."""
    return Status(value or NEW_OBJECT)

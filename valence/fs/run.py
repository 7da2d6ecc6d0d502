"""Runs a task's file transfers where the task runs (called by ``executors.hooks``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from valence.errors import FileTransferError
from valence.fs.enums import Order
from valence.fs.transfer import FileTransfer

__all__ = ["after_task", "before_task"]


def before_task(transfers: Sequence[FileTransfer]) -> list[Any]:
    """Create temp files, run the BEFORE transfers; the ``(from, to)`` pairs, in order."""
    pairs = []
    for transfer in transfers:
        hook, move = transfer.cp()
        pairs.append(_guarded(transfer, hook))
        if transfer.order is Order.BEFORE:
            _guarded(transfer, move)
    return pairs


def after_task(transfers: Sequence[FileTransfer]) -> None:
    """Run the AFTER transfers, in order."""
    for transfer in transfers:
        if transfer.order is Order.AFTER:
            _guarded(transfer, transfer.cp()[1])


def _guarded(transfer: FileTransfer, step: Callable[[], Any]) -> Any:
    what = f"file transfer {transfer.from_file.uri} -> {transfer.to_file.uri}"
    try:
        return step()
    except FileTransferError as exc:
        raise FileTransferError(f"{what} failed: {exc}") from exc
    except Exception as exc:
        raise FileTransferError(f"{what} failed: {type(exc).__name__}: {exc}") from exc

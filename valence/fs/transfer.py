"""``FileTransfer`` and its factories ``TransferFromRemote`` / ``TransferToRemote``.

A transfer names a source, a destination, when it runs (``Order.BEFORE`` or
``Order.AFTER`` the task) and a strategy; without one the strategy follows the
schemes: local to local ``Shutil``, ``http(s)`` ``HTTP``, any other scheme
``FSSpec``. ``register_downloader``/``register_uploader`` map a scheme to
your own strategy class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from valence.fs.enums import Order
from valence.fs.file import File
from valence.fs.strategies import HTTP, FileTransferStrategy, FSSpec, Shutil

__all__ = [
    "FileTransfer",
    "TransferFromRemote",
    "TransferToRemote",
    "register_downloader",
    "register_uploader",
]

_downloaders: dict[str, type[FileTransferStrategy]] = {"http": HTTP, "https": HTTP}
_uploaders: dict[str, type[FileTransferStrategy]] = {"http": HTTP, "https": HTTP}


def register_downloader(scheme: str, cls: type[FileTransferStrategy]) -> None:
    """Use ``cls`` to download files whose URL has ``scheme``."""
    _downloaders[scheme] = cls


def register_uploader(scheme: str, cls: type[FileTransferStrategy]) -> None:
    """Use ``cls`` to upload files whose URL has ``scheme``."""
    _uploaders[scheme] = cls


def guess_transfer_strategy(from_file: File, to_file: File) -> FileTransferStrategy:
    """The strategy the schemes imply (Covalent's rule, with fsspec for other schemes)."""
    if from_file.is_remote:
        return _downloaders.get(from_file.scheme, FSSpec)()
    if to_file.is_remote:
        return _uploaders.get(to_file.scheme, FSSpec)()
    return Shutil()


def _as_file(value: Any, role: str) -> File:
    if isinstance(value, File):
        return value
    if value is None or isinstance(value, (str, Path)):
        return File(value)
    raise TypeError(
        f"FileTransfer {role} must be a path or URL string, a ct.fs.File or None, "
        f"not {type(value).__name__}"
    )


class FileTransfer:
    """Move ``from_file`` to ``to_file`` before or after a task (``@ct.electron(files=[...])``).

    The task receives ``files=[(from_path, to_path), ...]``, one pair per
    transfer in order. A local file a BEFORE transfer reads is part of the
    task's key by content, so a redispatch with reuse reruns the task when
    that file changed.
    """

    def __init__(
        self,
        from_file: File | str | Path | None = None,
        to_file: File | str | Path | None = None,
        order: Order | str = Order.BEFORE,
        strategy: FileTransferStrategy | None = None,
    ) -> None:
        self.from_file = _as_file(from_file, "from_file")
        self.to_file = _as_file(to_file, "to_file")
        try:
            self.order = Order(order)
        except ValueError:
            raise ValueError(
                f"FileTransfer order must be ct.fs.Order.BEFORE or ct.fs.Order.AFTER, not {order!r}"
            ) from None
        if strategy is not None and not isinstance(strategy, FileTransferStrategy):
            raise TypeError(
                "FileTransfer strategy must be a ct.fs_strategies strategy instance "
                f"(e.g. ct.fs_strategies.Rsync()), not {type(strategy).__name__}"
            )
        if self.from_file.is_remote and self.to_file.is_remote:
            raise ValueError(
                f"FileTransfer from {self.from_file.uri} to {self.to_file.uri}: remote to remote "
                "transfers are not supported; make one side a local path"
            )
        self.strategy = strategy or guess_transfer_strategy(self.from_file, self.to_file)

    def cp(self) -> tuple[Any, Any]:
        """Covalent's pair of callables: (pre-transfer hook, the transfer)."""
        hook = self.strategy.pre_transfer_hook(self.from_file, self.to_file)
        if self.from_file.is_remote:
            move = self.strategy.download(self.from_file, self.to_file)
        elif self.to_file.is_remote:
            move = self.strategy.upload(self.from_file, self.to_file)
        else:
            move = self.strategy.cp(self.from_file, self.to_file)
        return hook, move

    def __valence_token__(self) -> list[Any]:
        """Names, order, strategy and, for what the task reads, the content."""
        from valence.fs.digest import source_token

        read = source_token(self.from_file, self.strategy) if self.order is Order.BEFORE else None
        return [self.from_file, self.to_file, self.order.value, self.strategy, read]

    def __repr__(self) -> str:
        return (
            f"FileTransfer({self.from_file!r}, {self.to_file!r}, order={self.order.name}, "
            f"strategy={self.strategy!r})"
        )


def TransferFromRemote(
    from_filepath: str,
    to_filepath: str | None = None,
    strategy: FileTransferStrategy | None = None,
    order: Order = Order.BEFORE,
) -> FileTransfer:
    """A transfer that fetches a remote file before the task runs."""
    is_dir = str(from_filepath).endswith("/")
    if is_dir and not str(to_filepath or "").endswith("/"):
        raise ValueError(
            f"TransferFromRemote({from_filepath!r}) copies a directory: give a destination "
            "directory path ending with '/'"
        )
    source = File(from_filepath, is_remote=True, is_dir=is_dir)
    return FileTransfer(source, File(to_filepath, is_dir=is_dir), order, strategy)


def TransferToRemote(
    to_filepath: str,
    from_filepath: str | None = None,
    strategy: FileTransferStrategy | None = None,
    order: Order = Order.AFTER,
) -> FileTransfer:
    """A transfer that sends a local file to a remote place after the task ran."""
    is_dir = bool(from_filepath) and str(from_filepath).endswith("/")
    if is_dir and not str(to_filepath).endswith("/"):
        raise ValueError(
            f"TransferToRemote(from {from_filepath!r}) copies a directory: give a destination "
            "directory path ending with '/'"
        )
    dest = File(to_filepath, is_remote=True, is_dir=is_dir)
    return FileTransfer(File(from_filepath, is_dir=is_dir), dest, order, strategy)


def check_files(value: Any) -> list[FileTransfer] | None:
    """``files=`` as given to ``@ct.electron``: a list of FileTransfer (or None)."""
    if value is None:
        return None
    items = [value] if isinstance(value, FileTransfer) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, FileTransfer) for i in items):
        raise TypeError(
            "files= takes a list of ct.fs.FileTransfer objects (e.g. "
            "[ct.fs.FileTransfer('in.csv', '/tmp/in.csv')]), not "
            f"{type(value).__name__}"
        )
    return list(items) or None

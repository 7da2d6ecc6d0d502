"""The strategy interface, as Covalent defines it: each method returns a callable.

``cp`` (local to local), ``download`` (remote source) and ``upload`` (remote
destination) return a function of no arguments that moves the bytes where the
task runs. ``pre_transfer_hook`` returns the function that creates temp files
and gives the task its ``(from, to)`` pair. ``__valence_token__`` is what a
task's key sees of the strategy: its class and settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from valence.errors import FileTransferError
from valence.fs.file import File

__all__ = ["FileTransferStrategy", "atomic_target", "local_target"]


class FileTransferStrategy:
    """Base class of transfer strategies; subclasses override what they support."""

    def cp(self, from_file: File, to_file: File) -> Callable[[], None]:
        raise NotImplementedError(f"{type(self).__name__} cannot copy between local paths")

    def download(self, from_file: File, to_file: File) -> Callable[[], None]:
        raise NotImplementedError(f"{type(self).__name__} cannot download remote files")

    def upload(self, from_file: File, to_file: File) -> Callable[[], None]:
        raise NotImplementedError(f"{type(self).__name__} cannot upload to remote files")

    def pre_transfer_hook(
        self, from_file: File, to_file: File, return_value_type: str = "from_to"
    ) -> Callable[[], Any]:
        """Create the temp files a transfer names; return ``(from, to)`` for the task."""
        pair = (from_file.filepath, to_file.filepath)
        temps = [f.filepath for f in (from_file, to_file) if f.is_temp_file]

        def hook() -> Any:
            for path in temps:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                Path(path).touch()
            if return_value_type == "to":
                return pair[1]
            return pair[0] if return_value_type == "from" else pair

        return hook

    def __valence_token__(self) -> list[Any]:
        return [type(self).__module__, type(self).__qualname__, _settings(self)]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and _settings(self) == _settings(other)

    def __hash__(self) -> int:
        return hash((type(self), repr(_settings(self))))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in _settings(self))
        return f"{type(self).__name__}({shown})"


def _settings(strategy: Any) -> list[tuple[str, Any]]:
    return sorted((k, v) for k, v in vars(strategy).items() if not k.startswith("_"))


def local_target(path: str) -> Path:
    """A local destination path with its parent directory created."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


@contextmanager
def atomic_target(path: str) -> Iterator[Any]:
    """Write a file under a temporary name next to ``path``; rename it in place on success.

    A transfer that fails (or a worker killed mid-way) never leaves a
    half-written destination behind.
    """
    target = local_target(path)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(temp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def copy_local(source: str, dest: str, is_dir: bool) -> None:
    """Copy a file (atomically) or a directory tree between local paths."""
    if not os.path.exists(source):
        raise FileTransferError(f"cannot copy {source}: no such file or directory")
    if is_dir or os.path.isdir(source):
        if not os.path.isdir(source):
            raise FileTransferError(f"cannot copy folder {source}: it is not a directory")
        shutil.copytree(source.rstrip("/"), dest.rstrip("/") or "/", dirs_exist_ok=True)
        return
    if dest.endswith("/") or os.path.isdir(dest):
        dest = os.path.join(dest, os.path.basename(source))
    with atomic_target(dest) as out, open(source, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
    shutil.copymode(source, dest)

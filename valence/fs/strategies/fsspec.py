"""``FSSpec``: any file system fsspec knows (``memory://``, ``s3://``, ``gs://``, ...).

Install ``valence[files]`` (fsspec) plus the file system's own package (s3fs,
gcsfs, adlfs, ...). ``storage_options`` are passed to the file system, e.g.
``FSSpec(anon=True)`` or ``FSSpec(key=..., secret=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from valence.errors import FileTransferError
from valence.fs.file import File
from valence.fs.strategies.base import FileTransferStrategy, local_target

__all__ = ["FSSpec", "filesystem"]


def filesystem(file: File, storage_options: dict[str, Any]) -> tuple[Any, str]:
    """The fsspec file system and path for ``file`` (a folder's contents: ending in ``/``)."""
    try:
        import fsspec
    except ImportError:
        raise FileTransferError(
            f"transferring {file.uri} needs fsspec; install valence[files]"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(file.uri, **storage_options)
    except (ImportError, ValueError) as exc:
        raise FileTransferError(f"fsspec cannot open {file.uri}: {exc}") from None
    if file.is_dir and file.filepath.endswith("/"):
        path = path.rstrip("/") + "/"
    return fs, path


class FSSpec(FileTransferStrategy):
    """Download from or upload to an fsspec URL; ``cp`` copies within one file system."""

    def __init__(self, **storage_options: Any) -> None:
        self.storage_options = storage_options

    def download(self, from_file: File, to_file: File) -> Callable[[], None]:
        def download() -> None:
            fs, path = filesystem(from_file, self.storage_options)
            dest = to_file.filepath
            local_target(dest.rstrip("/") + ("/x" if from_file.is_dir else ""))
            _call(fs.get, path, dest, from_file, recursive=from_file.is_dir)

        return download

    def upload(self, from_file: File, to_file: File) -> Callable[[], None]:
        def upload() -> None:
            fs, path = filesystem(to_file, self.storage_options)
            _call(fs.put, from_file.filepath, path, from_file, recursive=from_file.is_dir)

        return upload

    def cp(self, from_file: File, to_file: File) -> Callable[[], None]:
        def copy() -> None:
            fs, source = filesystem(from_file, self.storage_options)
            _, dest = filesystem(to_file, self.storage_options)
            _call(fs.copy, source, dest, from_file, recursive=from_file.is_dir)

        return copy


def _call(method: Any, source: str, dest: str, file: File, **kwargs: Any) -> None:
    try:
        method(source, dest, **kwargs)
    except FileNotFoundError:
        raise FileTransferError(f"cannot transfer {file.uri}: no such file") from None
    except OSError as exc:
        raise FileTransferError(f"transferring {file.uri} failed: {exc}") from None


def _hide(self: FSSpec) -> str:
    return f"FSSpec({', '.join(f'{k}=...' for k in sorted(self.storage_options))})"


FSSpec.__repr__ = _hide  # type: ignore[method-assign]  # settings may hold secrets

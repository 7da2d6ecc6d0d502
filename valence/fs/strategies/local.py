"""``Shutil``: local copies in the task's own process."""

from __future__ import annotations

from collections.abc import Callable

from valence.fs.file import File
from valence.fs.strategies.base import FileTransferStrategy, copy_local

__all__ = ["Shutil"]


class Shutil(FileTransferStrategy):
    """Copy between local paths (a file atomically, a folder as a tree)."""

    def cp(self, from_file: File, to_file: File) -> Callable[[], None]:
        source, dest, is_dir = from_file.filepath, to_file.filepath, from_file.is_dir

        def copy() -> None:
            copy_local(source, _folder_dest(from_file, dest), is_dir)

        return copy


def _folder_dest(from_file: File, dest: str) -> str:
    """``include_folder``: the folder itself goes inside the destination."""
    if from_file.is_dir and from_file.include_folder:
        name = from_file.filepath.rstrip("/").rsplit("/", 1)[-1]
        return dest.rstrip("/") + "/" + name
    return dest

"""``File`` and ``Folder``: a path or URL, whether it is remote, whether it is a directory.

A plain path or a ``file://`` URL is local; ``http(s)://`` and every other scheme
(anything fsspec knows, e.g. ``memory://``, ``s3://``) are remote. ``File()``
without a path names a fresh temporary file (``/tmp/<uuid>``), created just
before the transfer runs.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["File", "Folder"]

_LOCAL_SCHEMES = frozenset({"file"})


class File:
    """A file (or, with ``is_dir``/a trailing ``/``, a directory) to transfer."""

    def __init__(
        self,
        filepath: str | Path | None = None,
        is_remote: bool = False,
        is_dir: bool = False,
        include_folder: bool = False,
    ) -> None:
        if filepath is not None and not isinstance(filepath, (str, Path)):
            raise TypeError(f"ct.fs.File takes a path or URL string, not {type(filepath).__name__}")
        self.id = str(uuid.uuid4())
        self._temp = filepath is None
        text = self.get_temp_filepath() if filepath is None else str(filepath)
        if not text:
            raise ValueError("ct.fs.File needs a non-empty path or URL (or None for a temp file)")
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if len(scheme) == 1:  # a Windows drive letter, not a scheme
            scheme = ""
        self.scheme = scheme or "file"
        self._remote_flag = bool(is_remote)
        self._is_dir = bool(is_dir) or text.endswith("/")
        self._include_folder = bool(include_folder)
        self._netloc, self._query = parts.netloc, parts.query
        if self.scheme == "file":
            path = parts.path if scheme else text
            self._path = posixpath.normpath(path) if path else path
            self._netloc = self._query = ""
        else:
            self._path = parts.path
        self._text = text

    # ------------------------------------------------------------------ Covalent's API

    @property
    def is_temp_file(self) -> bool:
        return self._temp

    def get_temp_filepath(self) -> str:
        return str(Path(tempfile.gettempdir()) / self.id)

    @property
    def is_remote(self) -> bool:
        """Remote by scheme, or forced (rsync over ssh names a remote ``file://`` path)."""
        return self._remote_flag or self.scheme not in _LOCAL_SCHEMES

    @property
    def is_dir(self) -> bool:
        return self._is_dir

    @property
    def include_folder(self) -> bool:
        return self._include_folder

    @property
    def filepath(self) -> str:
        """The path part; a directory whose contents are transferred ends with ``/``."""
        path = self._path
        if self.is_dir and not self._include_folder:
            return path.rstrip("/") + "/"
        return path.rstrip("/") if self.is_dir and path != "/" else path

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            path = self.filepath
            absolute = os.path.abspath(path) + ("/" if path.endswith("/") else "")
            return "file://" + absolute
        return urlunsplit((self.scheme, self._netloc, self.filepath, self._query, ""))

    def touch(self) -> None:
        Path(self.filepath).touch()

    # ------------------------------------------------------------------ valence

    def __valence_token__(self) -> list[Any]:
        """What a task key sees: a temp file's random name does not count."""
        where = "temp" if self._temp else self.uri
        return [where, self.is_remote, self.is_dir, self._include_folder]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__valence_token__() == other.__valence_token__()

    def __hash__(self) -> int:
        return hash(repr(self.__valence_token__()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._text!r})"


class Folder(File):
    """A directory; without ``include_folder`` only its contents are transferred."""

    def __init__(
        self,
        filepath: str | Path | None = None,
        is_remote: bool = False,
        is_dir: bool = True,
        include_folder: bool = False,
    ) -> None:
        super().__init__(filepath, is_remote, is_dir, include_folder)

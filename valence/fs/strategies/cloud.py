"""Covalent's ``S3``, ``GCloud`` and ``Blob`` strategy names: use fsspec URLs instead.

valence moves cloud files with :class:`FSSpec` (``s3://``, ``gs://``, ``az://``
URLs and the file system's package), so these names only explain that.
"""

from __future__ import annotations

from typing import Any

from valence.fs.strategies.base import FileTransferStrategy

__all__ = ["S3", "Blob", "GCloud"]


class _Replaced(FileTransferStrategy):
    _url = ""
    _package = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"ct.fs_strategies.{type(self).__name__} is not provided by valence: name the file "
            f"as a {self._url} URL (the FSSpec strategy is chosen for it) and install "
            f"{self._package}; pass credentials as ct.fs_strategies.FSSpec(**storage_options)"
        )


class S3(_Replaced):
    _url, _package = "s3://bucket/key", "s3fs"


class GCloud(_Replaced):
    _url, _package = "gs://bucket/key", "gcsfs"


class Blob(_Replaced):
    _url, _package = "az://container/path", "adlfs"

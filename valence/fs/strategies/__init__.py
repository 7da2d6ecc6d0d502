"""Transfer strategies (``ct.fs_strategies``): how a ``FileTransfer`` moves bytes.

``Shutil`` (local copy), ``Rsync`` (local, or over ssh with ``host=``),
``HTTP`` (download and upload), ``FSSpec`` (any fsspec URL; Covalent's ``S3``,
``GCloud`` and ``Blob`` names explain how to use it instead). Subclass
``FileTransferStrategy`` for your own.
"""

from __future__ import annotations

from valence.fs.strategies.base import FileTransferStrategy
from valence.fs.strategies.cloud import S3, Blob, GCloud
from valence.fs.strategies.fsspec import FSSpec
from valence.fs.strategies.http import HTTP
from valence.fs.strategies.local import Shutil
from valence.fs.strategies.rsync import Rsync

__all__ = ["HTTP", "S3", "Blob", "FSSpec", "FileTransferStrategy", "GCloud", "Rsync", "Shutil"]

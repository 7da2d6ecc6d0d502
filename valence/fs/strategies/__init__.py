"""Transfer strategies (``ct.fs_strategies``): how a ``FileTransfer`` moves bytes.

``Shutil`` (local copy), ``Rsync`` (local, or over ssh with ``host=``),
``HTTP`` (download and upload), ``FSSpec`` (any fsspec URL). Subclass
``FileTransferStrategy`` for your own.
"""

from __future__ import annotations

from valence.fs.strategies.base import FileTransferStrategy
from valence.fs.strategies.fsspec import FSSpec
from valence.fs.strategies.http import HTTP
from valence.fs.strategies.local import Shutil
from valence.fs.strategies.rsync import Rsync

__all__ = ["HTTP", "FSSpec", "FileTransferStrategy", "Rsync", "Shutil"]

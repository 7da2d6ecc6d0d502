"""File transfers (``ct.fs``): move files before or after a task, where it runs.

```python
@ct.electron(files=[ct.fs.FileTransfer("data.csv", "/tmp/work/data.csv")])
def clean(files=None):
    source, local_copy = files[0]
    ...
```

``File``/``Folder`` name a path or URL; ``FileTransfer(from_file, to_file,
order=Order.BEFORE, strategy=None)`` moves one; ``TransferFromRemote`` and
``TransferToRemote`` are the usual shapes. Strategies live in
``ct.fs_strategies``. The content of what a task reads is part of its key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from valence.lazy import Table, lazy_exports

if TYPE_CHECKING:
    from valence.fs import enums, strategies
    from valence.fs.enums import Order
    from valence.fs.file import File, Folder
    from valence.fs.transfer import (
        FileTransfer,
        TransferFromRemote,
        TransferToRemote,
        register_downloader,
        register_uploader,
    )

# Imported on first use: ``valence.fs.digest`` (every dispatch) needs none of them.
_LAZY: Table = {
    "enums": ("valence.fs.enums", None),
    "strategies": ("valence.fs.strategies", None),
    "Order": ("valence.fs.enums", "Order"),
    "File": ("valence.fs.file", "File"),
    "Folder": ("valence.fs.file", "Folder"),
    "FileTransfer": ("valence.fs.transfer", "FileTransfer"),
    "TransferFromRemote": ("valence.fs.transfer", "TransferFromRemote"),
    "TransferToRemote": ("valence.fs.transfer", "TransferToRemote"),
    "register_downloader": ("valence.fs.transfer", "register_downloader"),
    "register_uploader": ("valence.fs.transfer", "register_uploader"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "File",
    "FileTransfer",
    "Folder",
    "Order",
    "TransferFromRemote",
    "TransferToRemote",
    "enums",
    "register_downloader",
    "register_uploader",
    "strategies",
]

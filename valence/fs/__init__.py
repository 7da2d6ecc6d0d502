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

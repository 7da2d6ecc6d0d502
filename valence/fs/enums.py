"""Covalent's file-transfer enumerations (``ct.fs.Order`` and friends)."""

from __future__ import annotations

import enum


class Order(str, enum.Enum):
    """When a transfer runs: before the task (it reads the file) or after (it wrote it)."""

    BEFORE = "before"
    AFTER = "after"


class FileSchemes(str, enum.Enum):
    File = "file"
    S3 = "s3"
    Blob = "blob"
    GCloud = "gs"
    Globus = "globus"
    HTTP = "http"
    HTTPS = "https"
    FTP = "ftp"

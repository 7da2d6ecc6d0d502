"""``HTTP``: download from and upload (PUT) to http(s) URLs, with the standard library."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

from valence.errors import FileTransferError
from valence.fs.file import File
from valence.fs.strategies.base import FileTransferStrategy, atomic_target

__all__ = ["HTTP"]

_CHUNK = 1 << 20


class HTTP(FileTransferStrategy):
    """GET a URL into a local file; PUT a local file to a (e.g. presigned) URL."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout

    def download(self, from_file: File, to_file: File) -> Callable[[], None]:
        url, dest, timeout = from_file.uri, to_file.filepath, self.timeout

        def download() -> None:
            with (
                _open(urllib.request.Request(url), timeout) as response,
                atomic_target(dest) as out,
            ):
                for chunk in read_all(response, url):
                    out.write(chunk)

        return download

    def upload(self, from_file: File, to_file: File) -> Callable[[], None]:
        source, url, timeout = from_file.filepath, to_file.uri, self.timeout

        def upload() -> None:
            if not os.path.isfile(source):
                raise FileTransferError(f"cannot upload {source} to {url}: no such file")
            size = os.path.getsize(source)
            with open(source, "rb") as body:
                request = urllib.request.Request(url, data=body, method="PUT")
                request.add_header("Content-Length", str(size))
                request.add_header("Content-Type", "application/octet-stream")
                with _open(request, timeout):
                    pass

        return upload


def read_all(response: Any, url: str) -> Iterator[bytes]:
    """The body in chunks; a body shorter than its Content-Length is an error, not a file."""
    expected = response.headers.get("Content-Length")
    received = 0
    while chunk := response.read(_CHUNK):
        received += len(chunk)
        yield chunk
    if expected is not None and expected.isdigit() and received != int(expected):
        raise FileTransferError(
            f"GET {url} failed: the connection closed after {received} of {expected} bytes"
        )


def _open(request: urllib.request.Request, timeout: float):  # type: ignore[no-untyped-def]
    what = f"{request.get_method()} {request.full_url}"
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise FileTransferError(f"{what} failed: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FileTransferError(f"{what} failed: {reason}") from None

"""``Rsync``: local copies with ``rsync -a``, or to and from a host over ssh."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

from valence.errors import FileTransferError
from valence.fs.file import File
from valence.fs.strategies.base import FileTransferStrategy, local_target

__all__ = ["Rsync"]

_OUTPUT_LIMIT = 2000


class Rsync(FileTransferStrategy):
    """rsync between local paths; with ``host``, over ssh (as ``user``, with a key)."""

    def __init__(self, user: str = "", host: str = "", private_key_path: str | None = None):
        self.user = user or ""
        self.host = host or ""
        self.private_key_path = private_key_path
        if private_key_path and not os.path.exists(private_key_path):
            raise FileNotFoundError(
                f"Rsync(private_key_path={private_key_path!r}): no such file; give the path "
                "of the ssh private key to use"
            )

    def _remote(self, file: File) -> str:
        if not self.host:
            raise ValueError(
                f"Rsync needs host= (and usually user=) to reach the remote file {file.uri}"
            )
        prefix = f"{self.user}@{self.host}" if self.user else self.host
        return f"{prefix}:{file.filepath}"

    def _ssh(self) -> list[str]:
        ssh = "ssh"
        if self.private_key_path:
            ssh += f" -i {self.private_key_path}"
        return ["-e", ssh]

    def get_rsync_cmd(self, from_file: File, to_file: File) -> list[str]:
        return ["rsync", "-a", from_file.filepath, to_file.filepath]

    def cp(self, from_file: File, to_file: File) -> Callable[[], None]:
        return _runner(self.get_rsync_cmd(from_file, to_file), to_file.filepath)

    def download(self, from_file: File, to_file: File) -> Callable[[], None]:
        command = ["rsync", "-a", *self._ssh(), self._remote(from_file), to_file.filepath]
        return _runner(command, to_file.filepath)

    def upload(self, from_file: File, to_file: File) -> Callable[[], None]:
        command = ["rsync", "-a", *self._ssh(), from_file.filepath, self._remote(to_file)]
        return _runner(command, None)


def _runner(command: list[str], local_dest: str | None) -> Callable[[], None]:
    def run() -> None:
        if shutil.which("rsync") is None:
            raise FileTransferError(
                "the Rsync strategy needs the rsync program where the task runs; install it "
                "(e.g. apt-get install rsync) or use ct.fs_strategies.Shutil for local copies"
            )
        if local_dest is not None:
            local_target(local_dest)
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-_OUTPUT_LIMIT:]
            raise FileTransferError(
                f"`{' '.join(command)}` failed with exit code {done.returncode}: {output}"
            )

    return run

"""A worker writing large outputs into the store's blob location (``executors.outputs``).

Runs ``worker.run_serialized`` in this process and in fresh processes, as a
remote worker would; the Dask cluster's own workers are in ``test_dask.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from tests.executor_contract import large_output, make_spec
from valence import serialize
from valence.blobfiles import INLINE_LIMIT, FsspecBlobFiles, digest_of, open_blob_files
from valence.errors import BlobMissingError
from valence.executors.base import BlobTarget
from valence.executors.local import LocalExecutor
from valence.executors.outputs import blob_target, read_stored
from valence.executors.worker import run_serialized

OUT_OF_PROCESS = LocalExecutor(workers=1)  # only to build specs without the live function
SIZE = 2 * INLINE_LIMIT


def _run(target: BlobTarget | None, size: int = SIZE):
    spec = make_spec(OUT_OF_PROCESS, large_output, size)
    spec.blob_target = target
    return run_serialized(serialize.dumps(spec), "large_output")


@pytest.mark.parametrize("scheme", ["file", "local", "memory"])
def test_a_large_output_goes_to_the_blob_url(tmp_path: Path, scheme: str) -> None:
    where = f"valence-{tmp_path.name}" if scheme == "memory" else str(tmp_path / "b")
    url = f"{scheme}://{where}"
    outcome = _run(blob_target(url))
    assert outcome.ok and outcome.output_stored and outcome.output_bytes is None
    assert outcome.output_digest is not None
    assert serialize.loads(read_stored(url, outcome.output_digest)) == b"v" * SIZE


def test_the_database_location_gives_workers_no_target() -> None:
    assert blob_target("db://") is None


def test_a_failed_write_sends_the_output_back_and_says_so(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'b'}"
    target = blob_target(url)
    data = serialize.dumps(large_output(SIZE))
    (tmp_path / "b" / digest_of(data)[:2]).write_text("a file where a directory goes")
    outcome = _run(target)
    assert outcome.ok and not outcome.output_stored and outcome.output_bytes == data
    assert "could not write the output to the blob store" in outcome.stderr


def test_a_damaged_stored_output_is_refused_by_the_dispatcher(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'b'}"
    outcome = _run(blob_target(url))
    assert outcome.output_digest is not None
    files = open_blob_files(url)
    assert isinstance(files, FsspecBlobFiles)
    key = f"{files.root}/{outcome.output_digest[:2]}/{outcome.output_digest[2:]}"
    files.fs.pipe_file(key, b"\0" * SIZE)
    with pytest.raises(BlobMissingError, match="does not match its digest"):
        read_stored(url, outcome.output_digest)


def test_processes_writing_one_digest_at_once_never_show_a_partial_blob(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'b'}"
    open_blob_files(url).token()
    data = bytes(range(256)) * 64 * 8  # 128 KiB
    digest = digest_of(data)
    script = textwrap.dedent(
        """
        import sys
        from valence.blobfiles import FsspecBlobFiles
        import fsspec
        files = FsspecBlobFiles(sys.argv[1], fsspec.filesystem("file"), sys.argv[2])
        data = bytes(range(256)) * 64 * 8
        for _ in range(30):
            files._checked.clear()  # write every time, as fresh processes would
            files.write(sys.argv[3], data)
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, url, str(tmp_path / "b"), digest],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        reader = FsspecBlobFiles(url)
        while not stop.is_set():
            if reader.exists(digest):
                seen.append(len(reader.read(digest)))  # raises if partial or damaged

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        stop.set()
        thread.join()
    assert seen and set(seen) == {len(data)}
    assert open_blob_files(url).read(digest) == data
    assert list(open_blob_files(url).iterate()) == [digest]  # no temporary files left

"""Files really move: local copies, rsync, HTTP(S) download/upload, fsspec URLs."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

import valence as ct
from valence.errors import FileTransferError
from valence.fs.strategies import HTTP, FSSpec, Rsync, Shutil


def run(task, *args):
    @ct.lattice
    def flow():
        return task(*args)

    return ct.dispatch_sync(flow)()


def test_local_copy_before_passes_files_pairs(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("mares eat oats\n")
    dest = tmp_path / "deep" / "copy.txt"

    @ct.electron(files=[ct.fs.FileTransfer(str(src), str(dest))])
    def read(files=None):
        from_file, to_file = files[0]
        return from_file, to_file, pathlib.Path(to_file).read_text()

    result = run(read)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == (str(src), str(dest), "mares eat oats\n")
    assert dest.read_text() == "mares eat oats\n"


def test_after_transfer_copies_what_the_task_wrote_from_a_temp_file(tmp_path, monkeypatch):
    dest = tmp_path / "out" / "result.txt"
    xfer = ct.fs.FileTransfer(None, str(dest), order=ct.fs.Order.AFTER)

    @ct.electron(files=[xfer])
    def write(files=None):
        temp, _ = files[0]
        assert os.path.exists(temp)  # created for the task before it ran
        with open(temp, "w") as fh:
            fh.write("written by the task")
        return temp

    result = run(write)
    assert result.status == ct.status.COMPLETED, result.error
    assert dest.read_text() == "written by the task"


def test_transfers_run_in_worker_processes(tmp_path):
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    dest = tmp_path / "copy.bin"

    @ct.electron(executor="local", files=[ct.fs.FileTransfer(str(src), str(dest))])
    def size(files=None):
        return os.getpid(), os.path.getsize(files[0][1])

    result = run(size)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result[0] != os.getpid()
    assert result.result[1] == 256000
    assert dest.read_bytes() == src.read_bytes()


def test_folder_contents_and_include_folder(tmp_path):
    src = tmp_path / "data"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    flat, nested = tmp_path / "flat", tmp_path / "nested"
    xfers = [
        ct.fs.FileTransfer(ct.fs.Folder(str(src)), ct.fs.Folder(str(flat))),
        ct.fs.FileTransfer(ct.fs.Folder(str(src), include_folder=True), ct.fs.Folder(str(nested))),
    ]

    @ct.electron(files=xfers)
    def listing(files=None):
        return sorted(
            os.path.relpath(os.path.join(d, f), files[0][1])
            for d, _, fs in os.walk(files[0][1])
            for f in fs
        )

    result = run(listing)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == ["a.txt", os.path.join("sub", "b.txt")]
    assert (nested / "data" / "sub" / "b.txt").read_text() == "b"


def test_missing_source_fails_the_task_with_the_path(tmp_path):
    dest = tmp_path / "never.txt"

    @ct.electron(files=[ct.fs.FileTransfer(str(tmp_path / "absent.txt"), str(dest))])
    def read(files=None):
        return "ran"

    result = run(read)
    assert result.status == ct.status.FAILED
    assert "FileTransferError" in result.error and "absent.txt" in result.error
    assert not dest.exists()


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_rsync_local_paths(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("via rsync")
    dest = tmp_path / "r" / "out.txt"

    @ct.electron(files=[ct.fs.FileTransfer(str(src), str(dest), strategy=Rsync())])
    def read(files=None):
        return pathlib.Path(files[0][1]).read_text()

    result = run(read)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "via rsync"


@pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")
def test_rsync_over_ssh_runs_the_ssh_command_line(tmp_path, monkeypatch):
    """A stand-in ``ssh`` on PATH runs the remote side locally: the real rsync protocol."""
    fake = tmp_path / "bin" / "ssh"
    fake.parent.mkdir()
    log = tmp_path / "ssh.log"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'while [ "$#" -gt 0 ]; do case "$1" in -i|-l) shift 2;; -*) shift;; *) break;; esac; done\n'
        'shift\nexec sh -c "$*"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    key = tmp_path / "id_test"
    key.write_text("not a real key")
    remote = tmp_path / "remote.txt"
    remote.write_text("from the far side")
    back = tmp_path / "uploaded.txt"
    strategy = Rsync(user="me", host="example.invalid", private_key_path=str(key))
    xfers = [
        ct.fs.TransferFromRemote(str(remote), str(tmp_path / "local.txt"), strategy=strategy),
        ct.fs.TransferToRemote(str(back), str(tmp_path / "local.txt"), strategy=strategy),
    ]

    @ct.electron(files=xfers)
    def read(files=None):
        return pathlib.Path(files[0][1]).read_text()

    result = run(read)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "from the far side"
    assert back.read_text() == "from the far side"
    assert f"-i {key} -l me example.invalid rsync --server" in log.read_text()


def test_http_download_and_upload(tmp_path, file_server):
    file_server.files["/data/in.csv"] = b"a,b\n1,2\n"
    local = tmp_path / "dl" / "in.csv"
    out = tmp_path / "out.csv"
    xfers = [
        ct.fs.TransferFromRemote(f"{file_server.url}/data/in.csv", str(local)),
        ct.fs.TransferToRemote(f"{file_server.url}/up/out.csv", str(out)),
    ]
    assert all(isinstance(x.strategy, HTTP) for x in xfers)

    @ct.electron(files=xfers)
    def double(files=None):
        data = pathlib.Path(files[0][1]).read_text()
        with open(files[1][0], "w") as fh:
            fh.write(data * 2)
        return len(data)

    result = run(double)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == 8
    assert file_server.files["/up/out.csv"] == b"a,b\n1,2\n" * 2


def test_https_download_to_a_temp_file_and_upload(tls_file_server):
    """Covalent's qa_http_file_transfer shape: no destination means a temp file."""
    tls_file_server.files["/datasets.csv"] = b"Dataset Name,rows\nx,1\n"
    xfers = [
        ct.fs.TransferFromRemote(f"{tls_file_server.url}/datasets.csv"),
        ct.fs.TransferToRemote(f"{tls_file_server.url}/copy.csv", None),
    ]

    @ct.electron(files=xfers)
    def get_remote_file(files=[]):  # noqa: B006 - Covalent's own spelling
        _, dest_path = files[0]
        text = pathlib.Path(dest_path).read_text()
        pathlib.Path(files[1][0]).write_text(text.upper())
        return text

    @ct.electron
    def first_line(text):
        return text.splitlines()[0]

    @ct.lattice
    def workflow():
        return first_line(get_remote_file())

    result = ct.dispatch_sync(workflow)()
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "Dataset Name,rows"
    assert tls_file_server.files["/copy.csv"] == b"DATASET NAME,ROWS\nX,1\n"


def test_https_with_an_untrusted_certificate_fails_clearly(tls_file_server, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    tls_file_server.files["/a.txt"] = b"a"

    @ct.electron(files=[ct.fs.TransferFromRemote(f"{tls_file_server.url}/a.txt")])
    def read(files=None):
        return 1

    result = run(read)
    assert result.status == ct.status.FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in result.error


@pytest.mark.parametrize(
    ("path", "words"), [("/nope", "HTTP 404"), ("/cut", "closed after 10 of 1000 bytes")]
)
def test_http_failure_fails_the_task_and_leaves_no_partial_file(tmp_path, file_server, path, words):
    folder = tmp_path / "downloads"
    folder.mkdir()
    local = folder / "dl.txt"

    @ct.electron(files=[ct.fs.TransferFromRemote(f"{file_server.url}{path}", str(local))])
    def read(files=None):
        return "ran"

    result = run(read)
    assert result.status == ct.status.FAILED
    assert words in result.error and "FileTransferError" in result.error
    assert list(folder.iterdir()) == []


def test_fsspec_memory_download_and_upload(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/bucket/in.txt", b"in memory")
    local = tmp_path / "m.txt"
    xfers = [
        ct.fs.TransferFromRemote("memory://bucket/in.txt", str(local)),
        ct.fs.TransferToRemote("memory://bucket/out.txt", str(local)),
    ]
    assert all(isinstance(x.strategy, FSSpec) for x in xfers)

    @ct.electron(executor="thread", files=xfers)  # memory:// lives in this process
    def upper(files=None):
        path = files[0][1]
        text = pathlib.Path(path).read_text()
        with open(path, "w") as fh:
            fh.write(text.upper())
        return text

    result = run(upper)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "in memory"
    assert memory.cat_file("/bucket/out.txt") == b"IN MEMORY"


def test_fsspec_local_file_system(tmp_path):
    pytest.importorskip("fsspec")
    src = tmp_path / "src.txt"
    src.write_text("local fsspec")
    xfer = ct.fs.TransferFromRemote(f"file://{src}", str(tmp_path / "got.txt"), strategy=FSSpec())

    @ct.electron(executor="local", files=[xfer])
    def read(files=None):
        return pathlib.Path(files[0][1]).read_text()

    result = run(read)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == "local fsspec"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: ct.electron(files="a.txt"), TypeError, "list of ct.fs.FileTransfer"),
        (lambda: ct.fs.FileTransfer("a", "b", order="sideways"), ValueError, "Order.BEFORE"),
        (lambda: ct.fs.FileTransfer("a", "b", strategy="rsync"), TypeError, "strategy"),
        (lambda: ct.fs.FileTransfer("http://x/a", "memory://b"), ValueError, "remote to remote"),
        (lambda: ct.fs.FileTransfer(3, "b"), TypeError, "from_file"),
        (lambda: ct.fs.TransferFromRemote("http://x/dir/", "local"), ValueError, "ending with '/'"),
        (lambda: Rsync(private_key_path="/no/such/key"), FileNotFoundError, "private key"),
        (lambda: ct.fs_strategies.S3(region_name="x"), NotImplementedError, "s3://.*s3fs"),
        (lambda: ct.fs_strategies.GCloud(), NotImplementedError, "gs://.*gcsfs"),
        (lambda: ct.fs_strategies.Blob(), NotImplementedError, "az://.*adlfs"),
    ],
)
def test_bad_transfer_definitions_are_refused(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_task_without_files_parameter_is_refused_when_traced(tmp_path):
    @ct.electron(files=[ct.fs.FileTransfer(str(tmp_path / "a"), str(tmp_path / "b"))])
    def no_files():
        return 1

    @ct.lattice
    def flow():
        return no_files()

    with pytest.raises(TypeError, match="files"):
        ct.dispatch(flow)()


def test_shutil_strategy_refuses_remote_operations():
    with pytest.raises(NotImplementedError):
        Shutil().download(ct.fs.File("http://x/a"), ct.fs.File("b"))
    with pytest.raises(FileTransferError):
        Shutil().cp(ct.fs.File("/no/such/source"), ct.fs.File("/tmp/x"))()


def test_fsspec_folder_contents_down_and_up(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/tree/dir/a.txt", b"A")
    memory.pipe("/tree/dir/s/b.txt", b"B")
    local = f"{tmp_path}/got/"
    xfers = [
        ct.fs.TransferFromRemote("memory://tree/dir/", local),
        ct.fs.TransferToRemote("memory://tree/up/", local),
    ]

    @ct.electron(executor="thread", files=xfers)
    def listing(files=None):
        root = files[0][1]
        return sorted(
            os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
        )

    result = run(listing)
    assert result.status == ct.status.COMPLETED, result.error
    assert result.result == ["a.txt", os.path.join("s", "b.txt")]
    assert sorted(memory.find("/tree/up")) == ["/tree/up/a.txt", "/tree/up/s/b.txt"]

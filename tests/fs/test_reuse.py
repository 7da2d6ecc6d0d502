"""A file a task reads is part of its key by content: a changed file is never a stale reuse."""

from __future__ import annotations

import os
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import valence as ct
from valence.fs.digest import file_digest

both_modes = pytest.mark.both_modes


def finish(did):
    result = ct.get_result(did, wait=True, timeout=60)
    assert result.status == ct.status.COMPLETED, result.error
    return result


def reuse(did):
    return finish(ct.redispatch(did, reuse_previous_results=True)())


def node(result, name):
    return next(n for n in result.get_all_node_results() if n["node_name"] == name)


def reader(src, dest):
    @ct.electron(files=[ct.fs.FileTransfer(str(src), str(dest))])
    def count_words(files=None):
        return len(pathlib.Path(files[0][1]).read_text().split())

    @ct.electron
    def double(n):
        return 2 * n

    @ct.lattice
    def flow():
        return double(count_words())

    return flow


@both_modes
def test_changed_content_reruns_unchanged_is_reused(tmp_path):
    src, dest = tmp_path / "words.txt", tmp_path / "copy.txt"
    src.write_text("one two three")
    first = finish(ct.dispatch(reader(src, dest))())
    assert first.result == 6

    same = reuse(first.dispatch_id)
    assert same.result == 6
    assert node(same, "count_words")["reused_from"] is not None

    src.write_text("one two three four")
    changed = reuse(same.dispatch_id)
    assert changed.result == 8
    ran = node(changed, "count_words")
    assert ran["reused_from"] is None
    assert ran["reason"]["code"] == "new_code" and "file" in ran["reason"]["text"]
    assert node(changed, "double")["reused_from"] is None


def test_same_size_same_mtime_rewrite_is_still_seen(tmp_path):
    """An edit that keeps the size and puts the old mtime back (the cache's worst case)."""
    src, dest = tmp_path / "w.txt", tmp_path / "c.txt"
    src.write_text("aaaa bbbb")
    old = os.stat(src)
    os.utime(src, ns=(old.st_atime_ns, old.st_mtime_ns - 10_000_000_000))  # not racy: cached
    first = finish(ct.dispatch(reader(src, dest))())
    stamp = os.stat(src)
    src.write_text("aaaa")  # fewer words, then pad to the same size
    src.write_text("aaaa     ")
    os.utime(src, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.stat(src).st_size == stamp.st_size and os.stat(src).st_mtime_ns == stamp.st_mtime_ns
    again = reuse(first.dispatch_id)
    assert again.result == 2
    assert node(again, "count_words")["reused_from"] is None


def test_file_inside_a_sublattice_is_seen(tmp_path):
    src, dest = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("x y")

    @ct.electron(files=[ct.fs.FileTransfer(str(src), str(dest))])
    def words(files=None):
        return pathlib.Path(files[0][1]).read_text().split()

    @ct.electron
    @ct.lattice
    def inner():
        return words()

    @ct.lattice
    def outer():
        return inner()

    first = finish(ct.dispatch(outer)())
    assert first.result == ["x", "y"]
    assert reuse(first.dispatch_id).result == ["x", "y"]
    src.write_text("x y z")
    assert reuse(first.dispatch_id).result == ["x", "y", "z"]


def test_missing_source_makes_the_task_not_reusable_with_a_reason(tmp_path):
    produced, dest = tmp_path / "made.txt", tmp_path / "copy.txt"

    @ct.electron
    def make():
        produced.write_text("made during the run")
        return 1

    @ct.electron(files=[ct.fs.FileTransfer(str(produced), str(dest))])
    def read(files=None):
        return pathlib.Path(files[0][1]).read_text()

    @ct.lattice
    def flow():
        first = make()
        return ct.wait(read(), [first])

    result = finish(ct.dispatch(flow)())
    assert result.result == "made during the run"
    produced.unlink()
    plan = ct.redispatch(result.dispatch_id, reuse_previous_results=True).plan()
    text = str(plan)
    assert "does not exist when the workflow is dispatched" in text


def test_http_source_content_is_the_key(tmp_path, file_server):
    file_server.files["/n.txt"] = b"1 2 3"
    dest = tmp_path / "n.txt"

    @ct.electron(files=[ct.fs.TransferFromRemote(f"{file_server.url}/n.txt", str(dest))])
    def total(files=None):
        return sum(int(x) for x in pathlib.Path(files[0][1]).read_text().split())

    @ct.lattice
    def flow():
        return total()

    first = finish(ct.dispatch(flow)())
    assert first.result == 6
    same = reuse(first.dispatch_id)
    assert node(same, "total")["reused_from"] is not None
    file_server.files["/n.txt"] = b"1 2 3 4"
    changed = reuse(first.dispatch_id)
    assert changed.result == 10 and node(changed, "total")["reused_from"] is None
    file_server.etags["/n.txt"] = '"v1"'  # a strong ETag is trusted without a download
    file_server.requests.clear()
    finish(ct.redispatch(changed.dispatch_id, reuse_previous_results=True)())
    assert ("HEAD", "/n.txt") in file_server.requests


def test_fsspec_memory_source_content_is_the_key(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe("/keyed/in.txt", b"abc")
    dest = tmp_path / "m.txt"

    @ct.electron(files=[ct.fs.TransferFromRemote("memory://keyed/in.txt", str(dest))])
    def size(files=None):
        return len(pathlib.Path(files[0][1]).read_text())

    @ct.lattice
    def flow():
        return size()

    first = finish(ct.dispatch(flow)())
    assert node(reuse(first.dispatch_id), "size")["reused_from"] is not None
    memory.pipe("/keyed/in.txt", b"abcd")
    assert reuse(first.dispatch_id).result == 4


def test_after_transfers_and_temp_files_do_not_block_reuse(tmp_path):
    out = tmp_path / "out.txt"

    @ct.electron(files=[ct.fs.FileTransfer(None, str(out), order=ct.fs.Order.AFTER)])
    def write(files=None):
        pathlib.Path(files[0][0]).write_text("w")
        return 1

    @ct.lattice
    def flow():
        return write()

    first = finish(ct.dispatch(flow)())
    assert node(reuse(first.dispatch_id), "write")["reused_from"] is not None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=2, max_size=6))
def test_digest_follows_content_through_rewrites(tmp_path_factory, contents):
    path = tmp_path_factory.mktemp("d") / "f.bin"
    for data in contents:
        path.write_bytes(data)
        import hashlib

        assert file_digest(str(path)) == hashlib.sha256(data).hexdigest()

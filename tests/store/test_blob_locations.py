"""The store's large blobs at every kind of location: a directory, fsspec URLs, the database.

Each location runs the same checks through the public ``Store`` API: round trip,
write-once, a lost or damaged blob found on read and repaired by a put,
concurrent writers of one digest, deletion, and ``fsck``. ``local://`` is
fsspec's own local file system (the generic fsspec path, with real files), so
the checks hold for the code that serves ``s3://`` and ``gs://`` too.
PostgreSQL runs when ``VALENCE_TEST_POSTGRES_URL`` is set (see ``conftest.py``).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from importlib.util import find_spec
from pathlib import Path

import fsspec
import pytest
from sqlalchemy import update

from tests.contracts import make_dispatch, make_nodes
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from valence.blobfiles import INLINE_LIMIT, FsspecBlobFiles, LocalBlobFiles, digest_of
from valence.errors import BlobCorruptError, BlobMissingError, ConfigError, StoreError
from valence.store import Store
from valence.store.blobs import DatabaseBlobFiles
from valence.store.tables import blob_data

LOCATIONS = ["dir", "file-url", "local-fsspec", "memory", "db-sqlite", "db-postgres"]


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test PostgreSQL server in a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip(SKIP_REASON)
    with fresh_schema() as url:
        yield url.render_as_string(hide_password=False)


def _location(kind: str, tmp_path: Path) -> str:
    return {
        "dir": str(tmp_path / "blobs"),
        "file-url": f"file://{tmp_path / 'blobs'}",
        "local-fsspec": f"local://{tmp_path / 'remote'}",
        "memory": f"memory://valence-test-{uuid.uuid4().hex}",
        "db-sqlite": "db://",
        "db-postgres": "db://",
    }[kind]


@pytest.fixture(params=LOCATIONS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    kind = request.param
    with ExitStack() as stack:
        if kind == "db-postgres":
            url = stack.enter_context(postgres_schema())
        else:
            url = f"sqlite:///{tmp_path / 'v.db'}"
        yield stack.enter_context(Store.open(url, _location(kind, tmp_path)))


def damage(store: Store, digest: str, data: bytes) -> None:
    """Replace the stored bytes of ``digest`` behind the store's back."""
    files = store._files
    if isinstance(files, LocalBlobFiles):
        files.path(digest).write_bytes(data)
    elif isinstance(files, FsspecBlobFiles):
        files.fs.pipe_file(f"{files.root}/{digest[:2]}/{digest[2:]}", data)
    else:
        assert isinstance(files, DatabaseBlobFiles)
        with store._engine.begin() as conn:
            conn.execute(update(blob_data).where(blob_data.c.digest == digest).values(data=data))


def lose(store: Store, digest: str) -> None:
    files = store._files
    if isinstance(files, DatabaseBlobFiles):
        files.delete(digest)
    elif isinstance(files, LocalBlobFiles):
        files.path(digest).unlink()
    else:
        assert isinstance(files, FsspecBlobFiles)
        files.fs.rm_file(f"{files.root}/{digest[:2]}/{digest[2:]}")


@pytest.mark.parametrize("size", [INLINE_LIMIT, INLINE_LIMIT + 1, 5 * INLINE_LIMIT])
def test_round_trip_and_write_once(store: Store, size: int) -> None:
    data = os.urandom(size)
    key = store.put_blob(data)
    assert key == digest_of(data)
    assert store.get_blob(key) == data
    assert store._files.exists(key) == (size > INLINE_LIMIT)
    assert list(store._files.iterate()) == ([key] if size > INLINE_LIMIT else [])
    assert store.put_blob(data) == key
    assert store.get_blob(key) == data


def test_a_lost_or_damaged_blob_is_found_on_read_and_repaired_by_a_put(store: Store) -> None:
    data = os.urandom(3 * INLINE_LIMIT)
    key = store.put_blob(data)
    lose(store, key)
    with pytest.raises(BlobMissingError, match=f"{key}.* is missing"):
        store.get_blob(key)
    store.put_blob(data)
    assert store.get_blob(key) == data
    for bad in (data[:10], bytes(len(data))):  # shorter, then same size
        damage(store, key, bad)
        with pytest.raises(BlobCorruptError, match="damaged"):
            store.get_blob(key)
        assert store.blob_problems([key]) == {key: "damaged"}
        store.put_blob(data)
        assert store.get_blob(key) == data


def test_concurrent_writers_of_one_digest(store: Store) -> None:
    data = os.urandom(4 * INLINE_LIMIT)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            barrier.wait()
            for _ in range(3):
                store.put_blob(data)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.get_blob(digest_of(data)) == data
    assert list(store._files.iterate()) == [digest_of(data)]  # no temporary files counted


def test_fsck_names_damaged_and_missing_blobs(store: Store) -> None:
    damaged, missing, fine = (os.urandom(INLINE_LIMIT + i) for i in (1, 2, 3))
    blobs = {digest_of(b): b for b in (damaged, missing, fine)}
    nodes = [
        replace(node, output_digest=digest_of(value))
        for node, value in zip(make_nodes("d", 3), (damaged, missing, fine), strict=True)
    ]
    store.record_dispatch(make_dispatch("d"), nodes, [], blobs)
    damage(store, digest_of(damaged), bytes(len(damaged)))
    lose(store, digest_of(missing))
    report = store.fsck()
    assert report.problems == {digest_of(damaged): "damaged", digest_of(missing): "missing"}
    assert any("dispatch d node 0" in user for user in report.users[digest_of(damaged)])


def test_delete_blobs_removes_them_from_the_location(store: Store) -> None:
    loose = os.urandom(INLINE_LIMIT + 7)
    key = store.put_blob(loose)
    assert store.delete_blobs([key]) == 1
    assert not store._files.exists(key)
    with pytest.raises(BlobMissingError):
        store.get_blob(key)


def test_a_second_store_on_the_same_url_shares_the_blobs(tmp_path: Path) -> None:
    url = f"local://{tmp_path / 'remote'}"
    db = f"sqlite:///{tmp_path / 'v.db'}"
    data = os.urandom(2 * INLINE_LIMIT)
    with Store.open(db, url) as one:
        key = one.put_blob(data)
    fresh = FsspecBlobFiles(url, fsspec.filesystem("file"), str(tmp_path / "remote"))
    assert fresh.read(key) == data  # another process's view: nothing cached
    with Store.open(db, url) as two:
        assert two.get_blob(key) == data
        assert two._files.token() == fresh.read_token()


# -- bad locations: one clear error at start, nothing written --------------------------


@pytest.mark.parametrize(
    ("url", "error", "words"),
    [
        ("nosuchproto://bucket/x", ConfigError, "nosuchproto"),
        pytest.param(
            "gs://bucket/x",
            ConfigError,
            "gcsfs",
            marks=pytest.mark.skipif(bool(find_spec("gcsfs")), reason="gcsfs is installed"),
        ),
        ("ftp://127.0.0.1:9/blobs", StoreError, "cannot use the blob store ftp://127.0.0.1:9"),
    ],
)
def test_an_unusable_url_fails_at_open_and_writes_nothing(
    tmp_path: Path, url: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words) as raised:
        Store.open(f"sqlite:///{tmp_path / 'db' / 'v.db'}", url)
    assert "VALENCE_BLOB_URL" in str(raised.value)
    assert not (tmp_path / "db").exists()  # no database file was made


def test_a_location_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("not a directory")
    for url in (f"file://{tmp_path / 'plain' / 'blobs'}", f"local://{tmp_path / 'plain' / 'b'}"):
        with pytest.raises(StoreError, match="cannot use the blob store"):
            Store.open(f"sqlite:///{tmp_path / 'db' / 'v.db'}", url)
    assert not (tmp_path / "db").exists()


def test_a_local_directory_keeps_its_private_modes(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}", f"file://{tmp_path / 'b'}") as store:
        key = store.put_blob(os.urandom(INLINE_LIMIT + 1))
        path = tmp_path / "b" / key[:2] / key[2:]
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
        assert oct((tmp_path / "b").stat().st_mode & 0o777) == "0o700"


def test_the_blob_url_comes_from_the_file_and_the_environment(
    valence_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import valence as ct
    from valence.config import load_settings

    assert load_settings().blobs == str(valence_home / "blobs")
    ct.set_config("blobs.url", "memory://from-file")
    assert ct.get_config("blobs.url") == "memory://from-file"
    assert load_settings().blobs == "memory://from-file"
    monkeypatch.setenv("VALENCE_BLOB_URL", "db://")
    assert load_settings().blobs == "db://"

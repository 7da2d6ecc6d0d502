"""Two "hosts" sharing only a database and a blob URL: one reuses what the other made.

Each host is a fresh Python process with its own ``VALENCE_HOME`` (so nothing
local is shared); both point ``VALENCE_DATABASE_URL`` at one database
(PostgreSQL when ``VALENCE_TEST_POSTGRES_URL`` is set, else one SQLite file)
and ``VALENCE_BLOB_URL`` at one blob store: an fsspec URL (``local://``, the
code that serves ``s3://``) or ``db://``. In one process, ``memory://`` serves
the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import valence as ct
from tests.store.test_blob_locations import postgres_schema
from valence.blobfiles import INLINE_LIMIT, open_blob_files
from valence.errors import ConfigError

SIZE = 3 * INLINE_LIMIT

FIRST_HOST = textwrap.dedent(
    f"""
    import json
    import valence as ct

    @ct.electron
    def make(n):
        return b"x" * n

    @ct.electron
    def measure(data):
        return len(data)

    @ct.lattice
    def flow(n):
        return measure(make(n))

    dispatch_id = ct.dispatch(flow)({SIZE})
    result = ct.get_result(dispatch_id, wait=True)
    print(json.dumps({{"id": dispatch_id, "status": str(result.status), "result": result.result}}))
    """
)

SECOND_HOST = textwrap.dedent(
    """
    import json, sys
    import valence as ct

    parent = sys.argv[1]
    new_id = ct.redispatch(parent, reuse_previous_results=True)()
    result = ct.get_result(new_id, wait=True)
    made = ct.get_result(parent).get_node_result(0)["output"].get_deserialized()
    print(json.dumps({
        "status": str(result.status),
        "result": result.result,
        "reused": [(n["reused_from"] or {}).get("dispatch_id") == parent
                   for n in result.get_all_node_results() if n["node_name"] in ("make", "measure")],
        "made": len(made),
    }))
    """
)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    if os.environ.get("VALENCE_TEST_POSTGRES_URL"):
        with postgres_schema() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'shared.db'}"


def _host(tmp_path: Path, name: str, env: dict[str, str], script: str, *args: str) -> dict:
    home = tmp_path / name
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, **env, "VALENCE_HOME": str(home), "VALENCE_EXECUTOR": "thread"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert not (home / "blobs").exists() or not any((home / "blobs").rglob("*/*"))
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("blobs", ["local", "db"])
def test_redispatch_on_another_host_reuses_what_the_first_made(
    tmp_path: Path, database: str, blobs: str
) -> None:
    url = f"local://{tmp_path / 'bucket'}" if blobs == "local" else "db://"
    env = {"VALENCE_DATABASE_URL": database, "VALENCE_BLOB_URL": url}
    first = _host(tmp_path, "host-a", env, FIRST_HOST)
    assert first["status"] == "COMPLETED" and first["result"] == SIZE
    if blobs == "local":
        assert len(list(open_blob_files(url).iterate())) >= 1  # the large output is there
    second = _host(tmp_path, "host-b", env, SECOND_HOST, first["id"])
    assert second == {"status": "COMPLETED", "result": SIZE, "reused": [True, True], "made": SIZE}
    fsck = subprocess.run(
        [sys.executable, "-m", "valence.cli.main", "fsck"],
        env={**os.environ, **env, "VALENCE_HOME": str(tmp_path / "host-c")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert f"large blobs: {url}" in fsck.stdout and "0 damaged, 0 missing" in fsck.stdout


def test_a_memory_url_serves_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"memory://valence-{tmp_path.name}"
    monkeypatch.setenv("VALENCE_BLOB_URL", url)

    @ct.electron
    def make(n):
        return b"m" * n

    @ct.lattice
    def flow(n):
        return make(n)

    result = ct.dispatch_sync(flow)(SIZE)
    assert str(result.status) == "COMPLETED" and result.result == b"m" * SIZE
    assert len(list(open_blob_files(url).iterate())) >= 1
    again = ct.get_result(
        ct.redispatch(result.dispatch_id, reuse_previous_results=True)(), wait=True
    )
    assert again.result == b"m" * SIZE
    assert again.get_node_result(0)["reused_from"]["dispatch_id"] == result.dispatch_id


def test_a_bad_blob_url_stops_the_first_dispatch_with_one_clear_error(
    valence_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALENCE_BLOB_URL", "nosuchproto://bucket/valence")

    @ct.electron
    def one():
        return 1

    @ct.lattice
    def flow():
        return one()

    with pytest.raises(ConfigError, match=r"nosuchproto.*VALENCE_BLOB_URL"):
        ct.dispatch(flow)()
    assert not (valence_home / "valence.db").exists()

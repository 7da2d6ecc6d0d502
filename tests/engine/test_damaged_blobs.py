"""Damaged and missing blobs, for real: bytes flipped in files and rows of a SQLite store.

Reading a damaged value raises BlobCorruptError (never a wrong value); re-running
its producer rewrites it; a redispatch that would reuse it runs the producer again.
"""

from __future__ import annotations

import sqlite3

import pytest

import valence as ct
from valence.errors import BlobCorruptError, BlobMissingError

BIG = 20_000  # above the 8 KiB inline limit: stored as a file


@ct.electron
def produce(n):
    return b"%d" % n * n


@ct.electron
def size(data):
    return len(data)


@ct.lattice
def flow(n):
    return size(produce(n))


def home_paths(valence_home):
    return valence_home / "valence.db", valence_home / "blobs"


def damage(valence_home, digest: str) -> None:
    """Flip one byte of the blob ``digest`` where it is stored (file or row), same size."""
    db, blobs = home_paths(valence_home)
    path = blobs / digest[:2] / digest[2:]
    if path.exists():
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    with sqlite3.connect(db) as conn:
        (data,) = conn.execute("SELECT data FROM blobs WHERE digest = ?", (digest,)).fetchone()
        data = bytearray(data)
        data[len(data) // 2] ^= 0xFF
        conn.execute("UPDATE blobs SET data = ? WHERE digest = ?", (bytes(data), digest))


def output_digest(dispatch_id, node_id=0):
    from valence.engine.embedded import get_embedded

    return get_embedded().store.get_node(dispatch_id, node_id).output_digest


@pytest.mark.parametrize("n", [7, BIG], ids=["inline", "file"])
def test_a_damaged_output_raises_and_force_rerun_rewrites_it(valence_home, n):
    first = ct.dispatch_sync(flow)(n)
    assert first.result == len(b"%d" % n * n)
    damage(valence_home, output_digest(first.dispatch_id))
    with pytest.raises(BlobCorruptError, match=r"damaged.*no longer matches its sha256"):
        first.get_node_result(0)["output"]
    again = ct.redispatch(first.dispatch_id, force_rerun=["produce"], reuse_previous_results=True)
    rerun = ct.get_result(again(), wait=True, timeout=60)
    assert rerun.status == "COMPLETED", rerun.error
    assert rerun.get_node_result(0)["reason"]["code"] == "forced"
    fresh = ct.get_result(first.dispatch_id)  # the same blob, rewritten
    assert fresh.get_node_result(0)["output"].get_deserialized() == b"%d" % n * n


@pytest.mark.parametrize("how", ["damaged", "missing"])
@pytest.mark.parametrize("n", [7, BIG], ids=["inline", "file"])
def test_a_redispatch_runs_again_a_node_whose_output_is_damaged_or_missing(valence_home, n, how):
    first = ct.dispatch_sync(flow)(n)
    digest = output_digest(first.dispatch_id)
    db, blobs = home_paths(valence_home)
    if how == "damaged":
        damage(valence_home, digest)
    elif (blobs / digest[:2] / digest[2:]).exists():
        (blobs / digest[:2] / digest[2:]).unlink()
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM blobs WHERE digest = ?", (digest,))
    with pytest.raises(BlobMissingError):  # BlobCorruptError is a BlobMissingError
        first.get_node_result(0)["output"]
    plan = ct.redispatch(first.dispatch_id, reuse_previous_results=True).plan()
    decisions = {d.name: d for d in plan.decisions}
    assert decisions["produce"].action == "run"
    assert decisions["produce"].code == f"blob_{how}"
    assert decisions["size"].action == "reuse"  # its own output is intact
    new_id = ct.redispatch(first.dispatch_id, reuse_previous_results=True)()
    second = ct.get_result(new_id, wait=True, timeout=60)
    assert second.status == "COMPLETED", second.error
    assert second.result == first.result
    assert second.get_node_result(0)["reason"]["code"] == f"blob_{how}"
    assert ct.get_result(first.dispatch_id).get_node_result(0)["output"].get_deserialized() == (
        b"%d" % n * n
    )


@pytest.mark.slow
def test_fsck_reports_damaged_and_missing_blobs_and_who_uses_them(valence_home):
    from tests.server.processes import valence

    healthy = valence("fsck")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    small, big = ct.dispatch_sync(flow)(7), ct.dispatch_sync(flow)(BIG)
    assert valence("fsck").returncode == 0
    damaged = [output_digest(small.dispatch_id), output_digest(big.dispatch_id)]
    for digest in damaged:
        damage(valence_home, digest)
    db, _ = home_paths(valence_home)
    missing = big.get_node_result(2)["output"]  # size(): an inline result row, deleted
    missing_digest = output_digest(big.dispatch_id, 2)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM blobs WHERE digest = ?", (missing_digest,))
    assert missing.get_deserialized() == BIG * len(b"%d" % BIG)

    report = valence("fsck")
    assert report.returncode == 1, report.stdout
    text = report.stdout
    assert "database integrity: ok" in text
    assert "2 damaged, 1 missing" in text
    for digest in damaged:
        assert f"damaged blob {digest}" in text
    assert f"missing blob {missing_digest}" in text
    assert f"dispatch {small.dispatch_id} node 0 (produce): output" in text
    assert f"dispatch {big.dispatch_id} node 0 (produce): output" in text
    assert f"dispatch {big.dispatch_id} node 2 (size): output" in text
    assert f"dispatch {big.dispatch_id}: result" in text

    for dispatch in (small, big):  # the repair the report suggests
        new_id = ct.redispatch(dispatch.dispatch_id, reuse_previous_results=True)()
        assert ct.get_result(new_id, wait=True, timeout=60).status == "COMPLETED"
    repaired = valence("fsck")
    assert repaired.returncode == 0, repaired.stdout
    assert "0 damaged, 0 missing" in repaired.stdout

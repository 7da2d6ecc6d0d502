"""Large-blob write and read cost per blob store location, through ``Store``.

For each location (a directory, fsspec's local file system, fsspec memory,
``db://`` on SQLite, and ``db://`` on PostgreSQL when ``--postgres URL`` is
given) it writes N distinct blobs of SIZE bytes with ``put_blob``, writes them
all again (the write-once path), then reads them back (every read checks the
digest). Printed: microseconds per blob for each step, best of ``--repeat``.

    python benchmarks/blobs.py                      # N = 300, SIZE = 64 KiB
    python benchmarks/blobs.py --n 1000 --size 16384 --postgres postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valence.store import Store


def _one(db_url: str, blobs: str, n: int, size: int) -> dict[str, float]:
    values = [os.urandom(size) for _ in range(n)]
    times = {}
    with Store.open(db_url, blobs) as store:
        for step in ("put", "put again"):
            start = time.perf_counter()
            digests = [store.put_blob(value) for value in values]
            times[step] = (time.perf_counter() - start) / n * 1e6
        start = time.perf_counter()
        for digest in digests:
            store.get_blob(digest)
        times["get"] = (time.perf_counter() - start) / n * 1e6
    return times


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """``url`` in a fresh schema, dropped afterwards."""
    from sqlalchemy import create_engine, make_url
    from sqlalchemy.pool import NullPool

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()


def _postgres_run(url: str, n: int, size: int) -> dict[str, float]:
    with _postgres_schema(url) as scoped:
        return _one(scoped, "db://", n, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--size", type=int, default=64 * 1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=os.environ.get("VALENCE_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n, size = args.n, args.size
        cases = {
            "directory": lambda i: _one(
                f"sqlite:///{root / f'd{i}.db'}", str(root / f"d{i}"), n, size
            ),
            "fsspec local://": lambda i: _one(
                f"sqlite:///{root / f'l{i}.db'}", f"local://{root / f'l{i}'}", n, size
            ),
            "fsspec memory://": lambda i: _one(
                f"sqlite:///{root / f'm{i}.db'}", f"memory://bench-{i}", n, size
            ),
            "db:// SQLite": lambda i: _one(f"sqlite:///{root / f's{i}.db'}", "db://", n, size),
        }
        if args.postgres:
            cases["db:// PostgreSQL"] = lambda i: _postgres_run(args.postgres, n, size)
        print(f"{n} blobs of {size} bytes, µs per blob (best of {args.repeat})")
        print(f"{'location':<20} {'put':>10} {'put again':>10} {'get':>10}")
        for name, run in cases.items():
            runs = [run(i) for i in range(args.repeat)]
            best = {step: min(run[step] for run in runs) for step in runs[0]}
            print(
                f"{name:<20} {best['put']:>10.0f} {best['put again']:>10.0f} {best['get']:>10.0f}"
            )


if __name__ == "__main__":
    main()

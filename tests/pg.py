"""PostgreSQL for tests: ``VALENCE_TEST_POSTGRES_URL`` and a fresh schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL, create_engine, make_url
from sqlalchemy.pool import NullPool

POSTGRES_URL = os.environ.get("VALENCE_TEST_POSTGRES_URL")
SKIP_REASON = "set VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://... to run the PostgreSQL tests"


@contextmanager
def fresh_schema(before_drop=lambda: None) -> Iterator[URL]:
    """A new schema in the test database, as a store URL; dropped afterwards.

    ``before_drop`` runs first at the end (release connections into the schema).
    """
    assert POSTGRES_URL, SKIP_REASON
    schema = f"valence_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        before_drop()
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()

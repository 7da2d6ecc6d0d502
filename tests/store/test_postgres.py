"""The store contract on PostgreSQL, when ``VALENCE_TEST_POSTGRES_URL`` names a database.

Each test gets a fresh schema (dropped afterwards), e.g.::

    VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://user@127.0.0.1:5432/valence_test
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.pool import NullPool

from tests.contracts import StoreContract

POSTGRES_URL = os.environ.get("VALENCE_TEST_POSTGRES_URL")

if not POSTGRES_URL:
    pytest.skip(
        "set VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://... to run the store on PostgreSQL",
        allow_module_level=True,
    )


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self) -> Iterator[str]:
        assert POSTGRES_URL
        schema = f"valence_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL, poolclass=NullPool)
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        finally:
            admin.dispose()

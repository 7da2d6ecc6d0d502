"""The store contract on PostgreSQL, when ``VALENCE_TEST_POSTGRES_URL`` names a database.

Each test gets a fresh schema (dropped afterwards), e.g.::

    VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://user@127.0.0.1:5432/valence_test
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contracts import StoreContract
from tests.pg import POSTGRES_URL, fresh_schema

if not POSTGRES_URL:
    pytest.skip(
        "set VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://... to run the store on PostgreSQL",
        allow_module_level=True,
    )


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self) -> Iterator[str]:
        with fresh_schema() as url:
            yield url.render_as_string(hide_password=False)

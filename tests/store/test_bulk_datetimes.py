"""Node updates bind aware datetimes to SQLite exactly as SQLAlchemy would, naive ones never."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as hs
from sqlalchemy.dialects import sqlite

from tests.contracts import make_dispatch, make_nodes
from valence.store import Store
from valence.store.bulk import _sqlite_utc
from valence.store.tables import UTCDateTime

_dialect = sqlite.dialect()
_reference = UTCDateTime().dialect_impl(_dialect).bind_processor(_dialect)
zones = hs.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), hs.integers(-23 * 60, 23 * 60)
)
aware = hs.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 30), timezones=zones)


@given(aware)
def test_the_fast_binding_is_sqlalchemys(value: datetime) -> None:
    assert _sqlite_utc(value) == _reference(value)


def test_a_naive_datetime_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        _sqlite_utc(datetime(2024, 1, 1))
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "blobs") as store:
        record = make_dispatch()
        did = record.dispatch_id
        store.record_dispatch(record, make_nodes(did, 2), [])
        with pytest.raises(ValueError, match="naive datetime"):
            store.record_transitions(
                nodes=[
                    (did, 0, {"status": "RUNNING", "start_time": datetime.now(timezone.utc)}),
                    (did, 1, {"status": "RUNNING", "start_time": datetime(2024, 1, 1)}),
                ]
            )
        assert [store.get_node(did, i).status for i in (0, 1)] == ["NEW_OBJECT"] * 2


def test_times_read_back_equal_what_was_written(tmp_path: Path) -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=east)
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}", tmp_path / "blobs") as store:
        record = make_dispatch()
        did = record.dispatch_id
        store.record_dispatch(record, make_nodes(did, 2), [])
        store.record_transitions(nodes=[(did, 0, {"start_time": when, "end_time": when})])
        node = store.get_node(did, 0)
        assert node.start_time == node.end_time == when
        assert node.start_time.tzinfo == timezone.utc

"""The rows of a new dispatch read back exactly as given, however sparse or oddly typed.

The insert leaves out columns that are None in every row and binds ``str``
subclasses (statuses) as plain strings; neither may change what is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select

from tests.contracts import make_dispatch
from tests.pg import POSTGRES_URL, SKIP_REASON, fresh_schema
from valence import status as st
from valence.store import Store, bulk
from valence.store.records import EdgeRecord, NodeRecord

DIGEST = "ab" * 32
META = {"executor": "thread", "params": [["x", "POSITIONAL_OR_KEYWORD", False]]}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(f"sqlite:///{tmp_path / 'valence.db'}", tmp_path / "blobs")
        yield opened
        opened.close()
        return
    if not POSTGRES_URL:
        pytest.skip(SKIP_REASON)
    holder: list[Store] = []
    with fresh_schema(lambda: holder[0].close()) as url:
        holder.append(Store.open(url.render_as_string(hide_password=False), tmp_path / "blobs"))
        yield holder[0]


# Each optional node field: None, or a value of its type (statuses as Status or str).
OPTIONAL = {
    "key": hs.just(DIGEST),
    "not_reusable": hs.text(max_size=5),
    "function_digest": hs.just(DIGEST),
    "value_digest": hs.just(DIGEST),
    "metadata": hs.sampled_from([{}, META]),
    "executor": hs.sampled_from(["thread", st.RUNNING]),
    "error": hs.text(max_size=5),
    "reused_from_node": hs.integers(0, 9),
    "reason": hs.sampled_from([{"why": "new"}, {"a": [1, None]}]),
}


@hs.composite
def node_rows(draw: hs.DrawFn, dispatch_id: str) -> list[NodeRecord]:
    """Rows where each optional column is never, sometimes or always set."""
    count = draw(hs.integers(1, 6))
    share = {name: draw(hs.sampled_from(["never", "some", "always"])) for name in OPTIONAL}
    nodes = []
    for i in range(count):
        status = draw(hs.sampled_from([st.NEW_OBJECT, st.COMPLETED, "RUNNING", "FAILED"]))
        node = NodeRecord(dispatch_id, i, f"task_{i}", "electron", status)
        for name, strategy in OPTIONAL.items():
            if share[name] == "always" or (share[name] == "some" and draw(hs.booleans())):
                value = draw(strategy)
                setattr(node, name, dict(value) if isinstance(value, dict) else value)
        nodes.append(node)
    return nodes


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=hs.data())
def test_sparse_rows_read_back_as_given(store: Store, data: hs.DataObject) -> None:
    dispatch = make_dispatch(status=st.NEW_OBJECT)
    nodes = data.draw(node_rows(dispatch.dispatch_id))
    edges = [
        EdgeRecord(dispatch.dispatch_id, i - 1, i, "x", "arg" if i % 2 else "kwarg", i % 2 or None)
        for i in range(1, len(nodes))
    ]
    store.record_dispatch(dispatch, nodes, edges)
    assert store.get_nodes(dispatch.dispatch_id) == nodes
    assert store.get_edges(dispatch.dispatch_id) == edges
    assert store.get_dispatch(dispatch.dispatch_id) == replace(dispatch)


def test_statuses_are_stored_as_plain_strings(store: Store) -> None:
    dispatch = make_dispatch()
    nodes = [NodeRecord(dispatch.dispatch_id, i, "t", "electron", st.NEW_OBJECT) for i in range(3)]
    store.record_dispatch(dispatch, nodes, [])
    found = store.get_nodes(dispatch.dispatch_id)
    assert [n.status for n in found] == ["NEW_OBJECT"] * 3
    assert all(isinstance(n.status, str) for n in found)


def test_a_column_with_a_default_is_bound_even_when_all_none(tmp_path: Path) -> None:
    """Leaving a column out would store its default: one with a default is always bound."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("plain", String),
        Column("dflt", String, default="d"),
        Column("server", String, server_default="s"),
    )
    table.metadata.create_all(engine)
    names = ("id", "plain", "dflt", "server")
    with engine.begin() as conn:
        bulk.insert_tuples(
            conn, table.insert(), names, [(1, None, None, None), (2, None, None, None)]
        )
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, None, None, None), (2, None, None, None)]

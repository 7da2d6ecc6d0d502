"""Dispatch and redispatch on PostgreSQL, embedded and through a server.

Runs a representative set of the behavioural tests with ``VALENCE_DATABASE_URL``
pointing at ``VALENCE_TEST_POSTGRES_URL`` (a fresh schema per test), e.g.::

    VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://user:pw@127.0.0.1:5432/valence_test

``.ci/run`` starts a local PostgreSQL server and sets it.
"""

from __future__ import annotations

import os
import sys

import pytest

POSTGRES_URL = os.environ.get("VALENCE_TEST_POSTGRES_URL")

if not POSTGRES_URL:
    pytest.skip(
        "set VALENCE_TEST_POSTGRES_URL=postgresql+psycopg://... to run dispatches on PostgreSQL",
        allow_module_level=True,
    )

from tests.engine.test_dispatch import (  # noqa: E402, F401
    test_bad_arguments_write_nothing,
    test_cancel_whole_dispatch_keeps_completed_results,
    test_failure_propagates_and_independent_branches_finish,
    test_howto_result_and_nodes,
    test_result_readable_from_another_process,
    test_sublattice_runs_as_linked_child_dispatch,
)
from tests.engine.test_group_commit import (  # noqa: E402, F401
    test_kill_in_a_group_commit_loses_nothing_a_reader_saw,
)
from tests.engine.test_redispatch import (  # noqa: E402, F401
    task_log,
    test_covalent_howto_replacement_with_reuse,
    test_failed_then_fixed_reruns_only_what_must,
    test_plan_previews_without_running,
    test_redispatch_of_redispatch_reuses_transitively,
    test_reused_output_is_the_same_blob_and_parent_is_immutable,
)
from tests.engine.test_reuse_store import (  # noqa: E402, F401
    test_dispatch_with_reuse_runs_nothing_already_computed,
    test_early_cutoff_reuses_dependents_of_a_byte_identical_output,
    test_purge_keeps_what_another_dispatch_reuses,
    test_redispatch_reuse_from_any_and_from_listed_dispatches,
    test_redispatch_with_early_cutoff_in_the_parent_scope,
    test_sublattice_reused_whole_or_inside_from_another_workflow,
)
from tests.engine.test_row_copy import (  # noqa: E402, F401
    test_one_changed_input_of_a_fan,
    test_rows_gone_from_the_previous_dispatch_write_nothing,
    test_the_copy_writes_what_the_records_say,
)
from tests.pg import fresh_schema  # noqa: E402
from tests.server.conftest import api, runtime, server  # noqa: E402, F401
from tests.server.test_fuzz import test_generated_requests_never_get_a_server_error  # noqa: E402, F401
from tests.server.test_hostile import (  # noqa: E402, F401
    finished,
    test_out_of_range_parameters_get_a_4xx,
)
from tests.server.test_purge import (  # noqa: E402, F401
    test_reused_sublattice_run_is_kept_until_nothing_reuses_it,
)
from tests.test_bad_input import (  # noqa: E402, F401
    test_cancel_refuses_ids_that_are_not_nodes_and_changes_nothing,
    test_dispatch_ids_are_checked_and_matched_in_any_case,
)


def _release_embedded() -> None:
    embedded = sys.modules.get("valence.engine.embedded")
    if embedded is not None:
        embedded.reset()  # release its connections before the schema goes


@pytest.fixture
def valence_db(valence_home, monkeypatch):
    """A fresh schema in the PostgreSQL database, as the store's URL (dropped afterwards)."""
    with fresh_schema(_release_embedded) as url:
        monkeypatch.setenv("VALENCE_DATABASE_URL", url.render_as_string(hide_password=False))
        yield url


def test_dispatches_really_land_in_postgres(valence_db):
    import valence as ct
    from tests import workflows as wf
    from valence.engine.embedded import get_embedded

    result = ct.dispatch_sync(wf.plain_howto)(1, 2)
    assert result.result == 16
    assert get_embedded().store.where.startswith("postgresql+psycopg://")

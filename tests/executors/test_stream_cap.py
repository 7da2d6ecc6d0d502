"""What a task prints is kept up to VALENCE_MAX_STREAM_BYTES per stream, with a note."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from valence.executors.base import TaskSpec
from valence.executors.worker import run_task


def printer(chunks, to_stderr):
    import sys

    for chunk in chunks:
        (sys.stderr if to_stderr else sys.stdout).write(chunk)


@given(
    chunks=st.lists(st.text(max_size=40), max_size=30),
    limit=st.integers(min_value=1, max_value=200),
    to_stderr=st.booleans(),
)
def test_kept_output_is_a_prefix_within_the_limit(chunks, limit, to_stderr):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VALENCE_MAX_STREAM_BYTES", str(limit))
        outcome = run_task(TaskSpec("d", 0, "printer", printer, None, "", (chunks, to_stderr)))
    assert outcome.ok, outcome.error
    written = "".join(chunks)
    text, other = (
        (outcome.stderr, outcome.stdout) if to_stderr else (outcome.stdout, outcome.stderr)
    )
    assert other == ""
    total = len(written.encode())
    if total <= limit:
        assert text == written
        return
    kept, note = text.split("\n[valence: ")
    assert written.startswith(kept) and len(kept.encode()) <= limit
    dropped = int(note.split(" ")[0])
    assert dropped == total - limit  # bytes of a character cut at the limit count as kept
    assert f"keeps {limit} bytes per stream (VALENCE_MAX_STREAM_BYTES)" in note


def test_a_bad_limit_fails_the_task_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("VALENCE_MAX_STREAM_BYTES", "lots")
    outcome = run_task(TaskSpec("d", 0, "printer", printer, None, "", (["x"], False)))
    assert not outcome.ok
    assert "VALENCE_MAX_STREAM_BYTES='lots' is not a number of bytes" in outcome.error

"""Covalent's electron options: accepted ones are honoured, others are errors naming them."""

from __future__ import annotations

import pytest

import valence as ct


def test_covalents_backend_alias_sets_the_executor():
    @ct.electron(backend="inline")
    def task():
        return 1

    assert task.metadata["executor"] == "inline"
    with pytest.raises(TypeError, match="both executor= and backend="):
        ct.electron(task.function, backend="inline", executor="thread")

"""The public surface is curated: ``valence.__all__`` is a decision, documented in the README.

A new public name fails ``test_all_is_the_curated_list`` until it is added below
and described in the README; a name imported into ``valence/__init__.py`` by
accident fails ``test_no_accidental_public_names``.
"""

from __future__ import annotations
import __future__

import types
from pathlib import Path

import valence as ct

# Names Covalent's package exports, kept with Covalent's meaning.
COVALENT = {
    "DepsBash",
    "DepsCall",
    "DepsModule",
    "DepsPip",
    "Lepton",
    "TransportableObject",
    "cancel",
    "dispatch",
    "dispatch_sync",
    "electron",
    "executor",
    "fs",
    "fs_strategies",
    "get_config",
    "get_context",
    "get_result",
    "lattice",
    "leptons",
    "redispatch",
    "reload_config",
    "set_config",
    "status",
    "triggers",
    "wait",
}
# valence's own additions: the classes the decorators return, the result view,
# the error root, and stopping the triggers this process runs.
VALENCE = {"Electron", "Lattice", "Result", "ValenceError", "stop_triggers"}

README = (Path(__file__).parents[1] / "README.md").read_text()


def test_all_is_the_curated_list():
    assert len(set(ct.__all__)) == len(ct.__all__), "a name is listed twice"
    assert set(ct.__all__) == COVALENT | VALENCE


def test_every_exported_name_exists():
    missing = [name for name in ct.__all__ if not hasattr(ct, name)]
    assert missing == []


def test_every_exported_name_is_documented():
    undocumented = [name for name in ct.__all__ if f"ct.{name}" not in README]
    assert undocumented == []


def test_no_accidental_public_names():
    """Every public attribute that is not a submodule is exported (modules are by __all__)."""
    extra = {
        name
        for name, value in vars(ct).items()
        if not name.startswith("_")
        and name not in ct.__all__
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations  # ``from __future__ import annotations``
    }
    assert extra == set()


def test_star_import_gives_exactly_all():
    namespace: dict[str, object] = {}
    exec("from valence import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(ct.__all__)

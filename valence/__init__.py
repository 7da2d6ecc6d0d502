"""valence: a Python workflow orchestrator with Covalent's API and provably safe redispatch.

``import valence as ct`` runs Covalent workflow code unchanged.

Only the workflow layer (``electron``, ``lattice``, the ``Deps*`` classes) is
imported with the package; everything else (the client, the store and its
SQLAlchemy, executors, file transfer, leptons, triggers) is imported on first
use of its name, so ``import valence`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from valence.errors import ValenceError
from valence.lazy import Table, lazy_exports
from valence.workflow.deps import DepsBash, DepsCall, DepsModule, DepsPip
from valence.workflow.electron import Electron, electron
from valence.workflow.lattice import Lattice, lattice
from valence.workflow.tracing import wait

if TYPE_CHECKING:
    from valence import executor, fs, leptons, status, triggers
    from valence.client import cancel, dispatch, dispatch_sync, get_result, redispatch
    from valence.config import get_config, reload_config, set_config
    from valence.executors.worker import get_context
    from valence.fs import strategies as fs_strategies
    from valence.leptons import Lepton
    from valence.results import Result
    from valence.transportable import TransportableObject
    from valence.triggers import stop_triggers

from valence._version import __version__ as __version__

# Public name -> (module, attribute or None for the module itself), imported on first use.
_LAZY: Table = {
    "executor": ("valence.executor", None),
    "fs": ("valence.fs", None),
    "leptons": ("valence.leptons", None),
    "status": ("valence.status", None),
    "triggers": ("valence.triggers", None),
    "cancel": ("valence.client", "cancel"),
    "dispatch": ("valence.client", "dispatch"),
    "dispatch_sync": ("valence.client", "dispatch_sync"),
    "get_result": ("valence.client", "get_result"),
    "redispatch": ("valence.client", "redispatch"),
    "get_config": ("valence.config", "get_config"),
    "reload_config": ("valence.config", "reload_config"),
    "set_config": ("valence.config", "set_config"),
    "get_context": ("valence.executors.worker", "get_context"),
    "fs_strategies": ("valence.fs.strategies", None),
    "Lepton": ("valence.leptons", "Lepton"),
    "Result": ("valence.results", "Result"),
    "TransportableObject": ("valence.transportable", "TransportableObject"),
    "stop_triggers": ("valence.triggers", "stop_triggers"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "DepsBash",
    "DepsCall",
    "DepsModule",
    "DepsPip",
    "Electron",
    "Lattice",
    "Lepton",
    "Result",
    "TransportableObject",
    "ValenceError",
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
    "stop_triggers",
    "triggers",
    "wait",
]

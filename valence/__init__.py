"""valence: a Python workflow orchestrator with Covalent's API and provably safe redispatch.

``import valence as ct`` runs Covalent workflow code unchanged.
"""

from __future__ import annotations

from valence import executor, fs, leptons, status, triggers
from valence._version import __version__ as __version__
from valence.client import cancel, dispatch, dispatch_sync, get_result, redispatch
from valence.config import get_config, reload_config, set_config
from valence.errors import ValenceError
from valence.executors.worker import get_context
from valence.fs import strategies as fs_strategies
from valence.leptons import Lepton
from valence.results import Result
from valence.transportable import TransportableObject
from valence.triggers import stop_triggers
from valence.workflow.deps import DepsBash, DepsCall, DepsModule, DepsPip
from valence.workflow.electron import Electron, electron
from valence.workflow.lattice import Lattice, lattice
from valence.workflow.tracing import wait

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

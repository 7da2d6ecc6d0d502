"""``ct.executor``: the executor classes, as Covalent's ``covalent.executor`` module.

``ct.executor.LocalExecutor(workers=4)``, ``ct.executor.DaskExecutor(...)``,
``ct.executor.ThreadExecutor``, ``ct.executor.InlineExecutor``, Covalent's base
classes ``ct.executor.BaseExecutor`` / ``AsyncBaseExecutor`` (implement ``run``;
also importable from ``valence.executor.base``) and valence's own seam
``ct.executor.Executor`` (implement ``submit``).
Classes of installed plugins (entry-point group ``valence.executors``) are
found by class name too: ``ct.executor.SlurmExecutor`` loads the plugin whose
entry point names a class ``SlurmExecutor``.
"""

from __future__ import annotations

from typing import Any

from valence.executor.base import AsyncBaseExecutor, BaseExecutor
from valence.executors import ENTRY_POINT_GROUP
from valence.executors.base import Executor
from valence.executors.dask import DaskExecutor
from valence.executors.local import InlineExecutor, LocalExecutor, ThreadExecutor

__all__ = [
    "AsyncBaseExecutor",
    "BaseExecutor",
    "DaskExecutor",
    "Executor",
    "InlineExecutor",
    "LocalExecutor",
    "ThreadExecutor",
]


def __getattr__(name: str) -> Any:
    """A plugin's executor class, by class name."""
    from importlib.metadata import entry_points

    if name.startswith("__"):
        raise AttributeError(name)

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value.rpartition(":")[2] == name:
            cls = entry.load()
            globals()[name] = cls
            return cls
    raise AttributeError(
        f"valence.executor has no executor class {name!r}; installed executors: "
        f"{', '.join(sorted(ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)))}"
    )

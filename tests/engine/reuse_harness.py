"""Workflows as real module files, and redispatches in a fresh interpreter."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

REDISPATCH = """
import json, sys
import valence as ct
from valence.engine.embedded import get_embedded

opts = json.loads(sys.argv[2])
args = opts.pop("args", [])
rid = ct.redispatch(sys.argv[1], **opts)(*args)
result = ct.get_result(rid, wait=True, timeout=120)
store = get_embedded().store


def walk(dispatch_id, prefix):
    out = {}
    for node in store.get_nodes(dispatch_id):
        if node.kind in ("electron", "sublattice"):
            out[prefix + node.name] = (node.reason or {}).get("code")
        if node.sub_dispatch_id:
            out.update(walk(node.sub_dispatch_id, prefix + node.name + "/"))
    return out


print(json.dumps({"status": str(result.status), "result": result.result,
                  "error": result.error, "codes": walk(rid, ""), "id": rid}))
"""


def write_module(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


def import_fresh(directory: Path, name: str, monkeypatch: Any) -> types.ModuleType:
    """Import ``name`` from ``directory`` as a user module (no stale bytecode)."""
    monkeypatch.syspath_prepend(str(directory))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def redispatch_fresh(
    dispatch_id: str, home: Path, *, path: Path | None = None, **options: Any
) -> dict[str, Any]:
    """``ct.redispatch(dispatch_id, **options)(*args)`` in a new interpreter (other hash seed).

    ``path`` goes on PYTHONPATH (the user's project); returns status, result, error and the
    reason code of every task by name (``sublattice/inner`` inside sublattices).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(VALENCE_HOME=str(home), PYTHONHASHSEED="123", PYTHONDONTWRITEBYTECODE="1")
    if path is not None:
        env["PYTHONPATH"] = str(path)
    out = subprocess.run(
        [sys.executable, "-c", REDISPATCH, dispatch_id, json.dumps(options)],
        cwd=home.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])

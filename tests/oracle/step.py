"""One oracle step in a fresh interpreter: ``python -m tests.oracle.step jobs.json out.json``.

``dispatch``: import the workflow module, dispatch it, wait. ``redispatch``: redispatch
the parent with reuse, then the same redispatch with reuse off, then (when the edited
module is importable) a fresh dispatch of it. Each run reports its result in canonical
form, its status and error, and the tasks that really ran (from the run log the tasks
append to). The outcome is written as JSON to the job's ``out`` path.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import valence as ct
from tests.oracle.canon import canon


def _ran(log: Path) -> list[str]:
    names = log.read_text().split() if log.exists() else []
    log.write_text("")
    return sorted(names)


def _reasons(result: Any, prefix: str = "") -> dict[str, str]:
    """Every task's reuse decision, inside sublattices too (``sub/inner``)."""
    found: dict[str, str] = {}
    for n in result.get_all_node_results():
        if n["kind"] not in ("electron", "sublattice"):
            continue
        name = prefix + n["node_name"].removeprefix(":sublattice:")
        reason = n["reason"] or {}
        found[name] = f"{reason.get('code', '')}: {reason.get('text', '')}"
        if n["sublattice_result"] is not None:
            found.update(_reasons(n["sublattice_result"], name + "/"))
    return found


def _report(dispatch_id: str, log: Path) -> dict[str, Any]:
    result = ct.get_result(dispatch_id, wait=True, timeout=240)
    value = result.result if result.status == ct.status.COMPLETED else None
    return {
        "id": dispatch_id,
        "status": str(result.status),
        "error": str(result.error or ""),
        "result": canon(value),
        "ran": _ran(log),
        "reasons": _reasons(result),
    }


def _inputs(path: str | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if path is None:
        return (), {}
    space = runpy.run_path(path)
    return space["ARGS"], space["KWARGS"]


def _replacements(job: dict[str, Any]) -> dict[str, Any]:
    replace: dict[str, Any] = {}
    if job["replace_all"]:
        module = importlib.import_module(job["module"])
        replace.update({name: getattr(module, name) for name in job["tasks"]})
    if job["alt"]:
        alt = importlib.import_module(job["alt_module"])
        replace[job["alt_task"]] = getattr(alt, job["alt"])
    return replace


def _bound(params: list[str], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {**dict(zip(params, args, strict=False)), **kwargs}


def _input_canon(job: dict[str, Any]) -> dict[str, list[str]]:
    """Per lattice parameter: the canonical form of its old and of its new value."""
    old = _bound(job["params"], *_inputs(job["original_inputs"]))
    new = _bound(job["params"], *_inputs(job["inputs"])) if job["inputs"] else old
    return {p: [repr(canon(old[p])), repr(canon(new[p]))] for p in job["params"]}


def redispatch(job: dict[str, Any], log: Path) -> dict[str, Any]:
    replace = _replacements(job)
    args, kwargs = _inputs(job["inputs"])
    out: dict[str, Any] = {"inputs": _input_canon(job)}
    for label, reuse in (("reuse", True), ("fresh", False)):
        rid = ct.redispatch(
            job["parent"], replace_electrons=replace or None, reuse_previous_results=reuse
        )(*args, **kwargs)
        out[label] = _report(rid, log)
    if job["replace_all"] and not job["alt"]:
        module = importlib.import_module(job["module"])
        args, kwargs = _inputs(job["inputs"] or job["original_inputs"])
        out["dispatch"] = _report(ct.dispatch(module.wf)(*args, **kwargs), log)
    return out


def dispatch(job: dict[str, Any], log: Path) -> dict[str, Any]:
    module = importlib.import_module(job["module"])
    args, kwargs = _inputs(job["inputs"])
    return {"dispatch": _report(ct.dispatch(module.wf)(*args, **kwargs), log)}


def main() -> None:
    """Run every job of the file in turn (one interpreter start for several workflows)."""
    jobs = json.loads(Path(sys.argv[1]).read_text())
    log = Path(os.environ["ORACLE_RUNLOG"])
    out = [
        dispatch(job, log) if job["mode"] == "dispatch" else redispatch(job, log) for job in jobs
    ]
    Path(sys.argv[2]).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

"""Run one oracle example: dispatch, edit, redispatch in a fresh interpreter, compare.

``check(workflow, edit, options, tmp)`` raises ``Mismatch`` with a report (the workflow
source, the edit, what ran against what should have, every decision's reason) when a
redispatch with reuse differs from the same redispatch with reuse off.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.oracle.edits import Edit
from tests.oracle.model import Scope, Task, Workflow

REPO = Path(__file__).resolve().parents[2]


class Mismatch(AssertionError):
    """A redispatch with reuse did not equal the same redispatch with reuse off."""


@dataclass(frozen=True)
class Options:
    """How one case of an example is redispatched."""

    replace_all: bool  # the redispatch replaces every task by the edited module's
    delete_module: bool  # the main module file is gone when the redispatch runs


@dataclass(frozen=True)
class Case:
    workflow: Workflow
    edit: Edit
    options: Options


@dataclass(frozen=True)
class Example:
    """Several cases run by one pair of interpreters (startup paid once)."""

    cases: list[Case]
    executor: str  # thread | inline | local (the process pool)
    seeds: tuple[int, int]  # PYTHONHASHSEED of the dispatch and of the redispatch

    def __repr__(self) -> str:  # the full report comes with the failure
        edits = "; ".join(f"{c.edit.text} {c.options}" for c in self.cases)
        return f"<{self.executor}, seeds {self.seeds}: {edits}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis prints it
        printer.text(repr(self))


def expected_runs(
    wf: Workflow,
    changed: set[str],
    dirty_params: set[str],
    same_output: bool = False,
    replaced: bool = False,
    rekeyed: frozenset[str] = frozenset(),
    pinned: frozenset[str] = frozenset(),
    may: list[str] | None = None,
) -> list[str]:
    """Tasks that must run: changed or not reusable, and everything downstream.

    Three flags per variable: its key changed, its value changed, and it descends
    from a ``reusable=False`` task in the same graph (tainted). A consumer of a changed
    or tainted value must run. A consumer whose inputs changed only in key (the
    producer ran again but returned the same value: a same-output edit, a sublattice
    re-expanded around reused tasks) may be reused by early cutoff, so with a ``may``
    list it goes there (either outcome is right; the result comparison still guards
    staleness). A sublattice's tasks are keyed by the values they receive, so inside it
    only changed values count; a sublattice in which a ``reusable=False`` task ran taints
    its output. ``replaced``: the redispatch replaces tasks, which (a known loss of
    reuse, not a stale result) re-expands every sublattice node.
    """
    ran: list[str] = []
    maybe = ran if may is None else may

    def walk(
        scope: Scope, keys: set[str], values: set[str], soft: set[str], taint: set[str]
    ) -> tuple[bool, bool, bool]:
        """Whether a task in ``scope`` must run, whether one may, whether one is stochastic."""
        must_run = may_run = stochastic = False
        for k, step in enumerate(scope.steps):
            var, ins = f"v{k}", set(step.inputs)
            if isinstance(step, Task):
                edited = step.name in changed
                own = (edited and step.name not in pinned) or step.name in rekeyed
                tainted = not step.reusable or bool(taint & ins)
                hit = own or tainted or bool(values & ins)
                moved = (edited and hit and not same_output) or bool(values & ins)
                soft_hit = not hit and bool((keys | soft) & ins)
                stochastic = stochastic or not step.reusable
                ran.extend([step.name] * hit)
                maybe.extend([step.name] * soft_hit)
            else:
                inner = {f"x{j}" for j, v in enumerate(step.inputs) if v in values}
                inner_must, inner_may, inner_stochastic = walk(
                    step.scope, set(inner), inner, set(), set()
                )
                moved = f"v{len(step.scope.steps) - 1}" in inner
                tainted = inner_stochastic or bool(taint & ins)
                stochastic = stochastic or inner_stochastic
                hit = inner_must or bool((keys | taint) & ins)
                soft_hit = not hit and (replaced or inner_may or bool(soft & ins))
            keys.update([var] * (hit or (soft_hit and moved)))
            soft.update([var] * (soft_hit and not moved))
            values.update([var] * moved)
            taint.update([var] * tainted)
            must_run = must_run or hit
            may_run = may_run or soft_hit
        return must_run, may_run, stochastic

    walk(wf.top, set(dirty_params), set(dirty_params), set(), set())
    if may is not None:
        may.sort()
    return sorted(ran)


def _write(root: Path, files: dict[str, str]) -> None:
    shutil.rmtree(root / "site-packages", ignore_errors=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def alt_source(task: Task) -> str:
    params = [f"y{i}" for i in range(len(task.inputs))] + ["extra=0"] * (task.hook is not None)
    return (
        "import os\n\n\n"
        f"def alt_{task.name}({', '.join(params)}):\n"
        '    with open(os.environ["ORACLE_RUNLOG"], "a") as log:\n'
        f'        log.write("{task.name}\\n")\n'
        f"    return 1000003 + {len(task.inputs)}" + " + extra" * (task.hook is not None) + "\n"
    )


def _run(root: Path, mode: str, jobs: list[dict[str, Any]], example: Example) -> list[Any]:
    (root / f"{mode}.jobs.json").write_text(json.dumps(jobs))
    seed = example.seeds[mode == "redispatch"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VALENCE_", "PYTHON"))}
    path = [str(root / f"c{k}" / d) for k in range(len(jobs)) for d in ("src", "site-packages")]
    env.update(
        PYTHONPATH=os.pathsep.join([*path, str(REPO)]),
        PYTHONHASHSEED=str(seed),
        PYTHONDONTWRITEBYTECODE="1",
        VALENCE_HOME=str(root / "home"),
        VALENCE_EXECUTOR=example.executor,
        ORACLE_RUNLOG=str(root / "runlog"),
    )
    out = root / f"{mode}.out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tests.oracle.step", str(root / f"{mode}.jobs.json"), str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    if proc.returncode != 0:
        raise Mismatch(f"the {mode} step crashed:\n{proc.stderr[-4000:]}")
    return json.loads(out.read_text())


def check(example: Example, root: Path) -> None:
    """Dispatch every case, apply its edit, redispatch; raise Mismatch with a report."""
    dirs = [root / f"c{k}" for k in range(len(example.cases))]
    for case, where in zip(example.cases, dirs, strict=True):
        _write(where, case.workflow.files())
        (where / "inputs_a.py").write_text(case.workflow.inputs_source())
    jobs = [
        {"mode": "dispatch", "module": c.workflow.module, "inputs": str(d / "inputs_a.py")}
        for c, d in zip(example.cases, dirs, strict=True)
    ]
    with _reporting(example.cases):
        parents = [p["dispatch"] for p in _run(root, "dispatch", jobs, example)]
    jobs = []
    for case, where, parent in zip(example.cases, dirs, parents, strict=True):
        with _reporting([case]):
            jobs.append(_prepare(case, where, parent))
    with _reporting(example.cases):
        outs = _run(root, "redispatch", jobs, example)
    for case, parent, out in zip(example.cases, parents, outs, strict=True):
        with _reporting([case]):
            compare(case, parent, out)


@contextlib.contextmanager
def _reporting(cases: list[Case]) -> Iterator[None]:
    """Add the cases' sources and edits to a Mismatch (or a hang) raised inside."""
    try:
        yield
    except subprocess.TimeoutExpired as exc:
        raise Mismatch(f"a step hung: {exc}\n\n" + _describe_all(cases)) from None
    except Mismatch as exc:
        raise Mismatch(f"{exc}\n\n" + _describe_all(cases)) from None


def _describe_all(cases: list[Case]) -> str:
    return "\n\n".join(describe(c) for c in cases)


def _prepare(case: Case, root: Path, parent: dict[str, Any]) -> dict[str, Any]:
    """Check the first dispatch, apply the edit, and describe the redispatch job."""
    wf, edit, options = case.workflow, case.edit, case.options
    everything = sorted(t.name for t in wf.tasks())
    _expect(parent["status"] == "COMPLETED", "the first dispatch did not complete", parent)
    _expect(parent["ran"] == everything, "the first dispatch did not run every task", parent)
    new = edit.workflow
    _write(root, new.files())
    if options.delete_module:
        (root / "src" / f"{wf.module}.py").unlink()
    inputs_b = None
    if edit.inputs is not None:
        inputs_b = str(root / "inputs_b.py")
        Path(inputs_b).write_text(new.inputs_source(edit.inputs, reorder=edit.reorder))
    if edit.alt:
        task = next(t for t in wf.tasks() if t.name == edit.alt)
        (root / "src" / f"oracle_alt_{wf.uid}.py").write_text(alt_source(task))
    return {
        "mode": "redispatch",
        "parent": parent["id"],
        "module": wf.module,
        "tasks": everything,
        "replace_all": options.replace_all,
        "alt": f"alt_{edit.alt}" if edit.alt else None,
        "alt_task": edit.alt,
        "alt_module": f"oracle_alt_{wf.uid}",
        "inputs": inputs_b,
        "original_inputs": str(root / "inputs_a.py"),
        "params": wf.top.params,
    }


def compare(case: Case, parent: dict[str, Any], out: dict[str, Any]) -> None:
    """Reuse equals reuse off; exactly the changed tasks and their dependents ran."""
    wf, edit, options = case.workflow, case.edit, case.options
    reuse, fresh = out["reuse"], out["fresh"]
    for label, run in out.items():
        if label != "inputs":
            _expect(run["status"] == "COMPLETED", f"the {label} run did not complete", run)
    everything = sorted(t.name for t in wf.tasks())
    _expect(fresh["ran"] == everything, "with reuse off not every task ran", fresh)
    if "dispatch" in out:
        same = fresh["result"] == out["dispatch"]["result"]
        _expect(same, "reuse off differs from a fresh dispatch of the edited code", out)
    changed = set(edit.affected) if (options.replace_all or not edit.in_main) else set()
    alt = {edit.alt} if edit.alt else set()
    pinned = {t.name for t in wf.tasks() if t.version is not None}
    pinned -= (edit.affected if edit.repins else set()) | alt  # the edit changes this pin
    if not (changed - alt) & pinned:  # a version= pin keeps a task's old output: by design
        _expect(reuse["result"] == fresh["result"], "STALE: reuse differs from reuse off", out)
    changed |= alt
    dirty = {p for p, (a, b) in out["inputs"].items() if a != b}
    replaced = options.replace_all or bool(edit.alt)
    # A task reading its module through globals() is keyed by every module global, the
    # imported package (by its version) included, once the replacement is fingerprinted.
    # An electron global is tokenized by its code and version= pin, not by its dispatch
    # options (hooks, deps): those edits, and a body edit under an unchanged pin, leave
    # the module's token as it was.
    options_only = edit.kind in ("hook_argument", "deps_bash", "pinned_unchanged")
    # The lazily imported module counts too: a module-level helper imports it in its body.
    outside = edit.kind == "lazy_module" or edit.workflow.pkg_version != wf.pkg_version
    module_changed = (edit.edits_module and not options_only) or outside
    rekeyed = _reads_module(wf) - pinned if options.replace_all and module_changed else set()
    may: list[str] = []  # after a sublattice rerun only for the replacement: early cutoff's
    want = expected_runs(
        wf, changed, dirty, edit.same_output, replaced, frozenset(rekeyed), frozenset(pinned), may
    )
    if not set(want) <= set(reuse["ran"]) <= set(want) | set(may):
        missing = sorted(set(want) - set(reuse["ran"]))
        extra = sorted(set(reuse["ran"]) - set(want) - set(may))
        what = "STALE: did not run" if missing else "LOST REUSE: ran"
        raise Mismatch(
            f"{what} {missing or extra}; expected to run {want}, ran {reuse['ran']}\n"
            f"decisions: {reuse['reasons']}"
        )


def _reads_module(wf: Workflow) -> set[str]:
    """Tasks that read their module through ``globals()``: keyed by the whole module."""
    dynamic = {i for i, c in enumerate(wf.comps) if c.kind == "dyn"}
    return {t.name for t in wf.tasks() if dynamic & wf.uses(t)}


def _expect(ok: bool, message: str, detail: Any) -> None:
    if not ok:
        raise Mismatch(f"{message}:\n{json.dumps(detail, indent=1)[:6000]}")


def describe(case: Case) -> str:
    wf, edit, options = case.workflow, case.edit, case.options
    before, after = wf.main_source(), edit.workflow.main_source()
    diff = "".join(
        difflib.unified_diff(
            before.splitlines(True), after.splitlines(True), "before.py", "after.py", n=1
        )
    )
    outside = {k: v for k, v in wf.files().items() if not k.endswith(f"{wf.module}.py")}
    return (
        f"=== edit: {edit.text}\n=== options: {options}\n"
        f"=== inputs: {wf.inputs} (last {wf.nkw} as keywords)\n"
        f"=== workflow module {wf.module}.py:\n{before}\n=== diff of the edit:\n{diff}\n"
        f"=== other files: {json.dumps(outside, indent=1)}"
    )

"""The edit catalogue: what a user changes between a dispatch and its redispatch.

Each edit returns the edited workflow and which tasks it changes. A code edit in the
main module reaches a redispatch only through ``replace_electrons`` (the stored code
runs otherwise); edits of the lazily imported module and of the installed package
reach it always. Edits that change nothing (a comment, a docstring, line numbers,
keyword order, the same inputs passed again) must leave every task reused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.oracle.components import EDITS, OUTSIDE
from tests.oracle.generate import values
from tests.oracle.model import Task, Workflow


@dataclass
class Edit:
    kind: str
    text: str
    workflow: Workflow
    affected: set[str] = field(default_factory=set)  # tasks whose code or options changed
    in_main: bool = True  # visible only when the redispatch replaces the electrons
    inputs: list[str] | None = None  # new lattice inputs (None: not passed)
    reorder: bool = False  # keyword arguments passed in the other order
    alt: str | None = None  # a task replaced by a different function
    repins: bool = False  # the edit sets or bumps its task's version= pin
    same_output: bool = False  # the changed tasks still return what they returned

    @property
    def edits_module(self) -> bool:
        """The main module's code or state changed (not only comments or line numbers)."""
        return self.in_main and self.kind not in ("comment", "docstring", "line_numbers")


def _users(wf: Workflow, comp: int) -> set[str]:
    return {t.name for t in wf.tasks() if comp in wf.uses(t)}


def _package_users(wf: Workflow) -> set[str]:
    pkg = {i for i, c in enumerate(wf.comps) if c.kind == "pkg"}
    return {t.name for t in wf.tasks() if pkg & wf.uses(t)}


def _bump(value: object, by: int) -> object:
    if value in ("int", "float"):
        return "float" if value == "int" else "int"
    assert isinstance(value, int)
    return value + by


def component_edit(draw, wf: Workflow) -> Edit:
    new = copy.deepcopy(wf)
    i = draw(st.integers(0, len(wf.comps) - 1))
    c = new.comps[i]
    param = draw(st.sampled_from(sorted(EDITS[c.kind])))
    c.params[param] = _bump(c.params[param], draw(st.integers(1, 3)))
    kind = EDITS[c.kind][param]
    users = _users(wf, i)
    if c.kind == "pkg":
        new.pkg_version += 1
        users = _package_users(wf)
    text = f"{kind}: {c.name}.{param} {wf.comps[i].params[param]} -> {c.params[param]}"
    return Edit(kind, text, new, users, in_main=c.kind not in OUTSIDE)


def package_version(draw, wf: Workflow) -> Edit:
    new = copy.deepcopy(wf)
    new.pkg_version += 1
    text = f"package_version: {wf.package} {wf.pkg_version}.0 -> {new.pkg_version}.0, same code"
    users = _package_users(wf)
    return Edit("package_version", text, new, users, in_main=False, same_output=True)


def _task(draw, wf: Workflow, new: Workflow, pick=lambda t: not t.raw) -> tuple[Task, Task]:
    names = [t.name for t in wf.tasks() if pick(t)]
    name = draw(st.sampled_from(names))
    return next(t for t in wf.tasks() if t.name == name), next(
        t for t in new.tasks() if t.name == name
    )


def task_edit(draw, wf: Workflow) -> Edit:
    new = copy.deepcopy(wf)
    old, t = _task(draw, wf, new)
    options = ["electron_body", "comment", "docstring"]
    options += ["pinned_version", "pinned_unchanged"] * (t.version is not None)
    options += ["pin_added"] * (t.version is None)
    options += ["hook_argument"] * (t.hook is not None) + ["deps_bash"] * (t.bash is not None)
    kind = draw(st.sampled_from(options))
    affected = {t.name}
    if kind == "electron_body":
        t.b += draw(st.integers(1, 3))
    elif kind in ("comment", "docstring"):
        t.comment += kind == "comment"
        t.doc += kind == "docstring"
        affected = set()
    elif kind in ("pinned_version", "pinned_unchanged"):
        t.b += 1
        t.version += kind == "pinned_version"
    elif kind == "pin_added":
        t.version = 1
    elif kind == "hook_argument":
        t.hook += 1
    else:
        t.bash += 1
    text = f"{kind}: task {t.name} {_options(old)} -> {_options(t)}"
    same = kind in ("pin_added", "deps_bash")
    repins = kind in ("pinned_version", "pin_added")
    return Edit(kind, text, new, affected, repins=repins, same_output=same)


def _options(t: Task) -> str:
    return (
        f"(b={t.b}, version={t.version}, hook={t.hook}, bash={t.bash}, doc={t.doc}, #{t.comment})"
    )


def line_numbers(draw, wf: Workflow) -> Edit:
    new = copy.deepcopy(wf)
    new.pad += draw(st.integers(1, 3))
    return Edit("line_numbers", f"line_numbers: {new.pad - wf.pad} blank lines added", new)


def input_edit(draw, wf: Workflow, nan: bool = True) -> Edit:
    new = copy.deepcopy(wf)
    i = draw(st.integers(0, len(wf.inputs) - 1))
    new.inputs[i] = draw(values(nan=nan))
    text = f"input_value: p{i} {wf.inputs[i]} -> {new.inputs[i]}"
    return Edit("input_value", text, new, in_main=False, inputs=new.inputs)


def same_inputs(draw, wf: Workflow) -> Edit:
    reorder = wf.nkw >= 2 and draw(st.booleans())
    kind = "kwarg_order" if reorder else "same_inputs"
    text = f"{kind}: the original inputs passed again" + " (keywords reversed)" * reorder
    return Edit(kind, text, copy.deepcopy(wf), in_main=False, inputs=wf.inputs, reorder=reorder)


def replacement(draw, wf: Workflow) -> Edit:
    new = copy.deepcopy(wf)
    _, t = _task(draw, wf, new)
    text = f"replacement: replace_electrons={{{t.name!r}: a function with another body}}"
    return Edit("replacement", text, new, {t.name}, in_main=False, alt=t.name)


@st.composite
def edits(draw, wf: Workflow, holes: frozenset[str] = frozenset()) -> Edit:
    """One edit of ``wf`` from the catalogue (kinds in ``holes`` are redrawn)."""
    nan = "nan_inputs" not in holes
    catalogue = [task_edit, line_numbers, lambda d, w: input_edit(d, w, nan), same_inputs]
    catalogue.append(replacement)
    if wf.comps:
        catalogue += [component_edit] * 3
    if any(c.kind == "pkg" for c in wf.comps):
        catalogue.append(package_version)
    for _ in range(20):
        edit = draw(st.sampled_from(catalogue))(draw, wf)
        if edit.kind not in holes:
            return edit
    return same_inputs(draw, wf)

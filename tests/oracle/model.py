"""A generated workflow as plain data, and the real module files it renders to.

A ``Workflow`` is a top lattice (a ``Scope``) whose steps are task calls and sublattice
calls (nested up to two deep), the components the tasks use, and the lattice inputs as
Python source expressions. ``files`` renders it: the main module, a lazily imported
second module, a types module (dataclasses and enums for inputs), and a tiny package
with a ``dist-info`` version on a site directory.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from tests.oracle import canon as canon_module
from tests.oracle.components import OUTSIDE, Component, dedent, render, render_outside, use


@dataclass
class Task:
    name: str
    inputs: list[str]  # variables of the enclosing scope
    comps: list[int]
    a: int = 1
    b: int = 0
    reusable: bool = True
    version: int | None = None  # @ct.electron(version=...)
    hook: int | None = None  # call_before DepsCall argument injected as ``extra``
    bash: int | None = None  # deps_bash command
    doc: int = 0
    comment: int = 0
    raw: bool = False  # returns its input unchanged


@dataclass
class SubCall:
    scope: Scope
    inputs: list[str]


@dataclass
class Scope:
    name: str
    nparams: int
    steps: list[Task | SubCall] = field(default_factory=list)

    @property
    def params(self) -> list[str]:
        prefix = "p" if self.name == "wf" else "x"
        return [f"{prefix}{i}" for i in range(self.nparams)]


@dataclass
class Workflow:
    uid: str
    comps: list[Component]
    top: Scope
    inputs: list[str]  # one source expression per top-level parameter
    nkw: int = 0  # the last nkw inputs are passed as keyword arguments
    pkg_version: int = 1
    pad: int = 0  # blank lines at the top of the module: shifts every line number

    @property
    def module(self) -> str:
        return f"oracle_wf_{self.uid}"

    @property
    def lazy(self) -> str:
        return f"oracle_lazy_{self.uid}"

    @property
    def types(self) -> str:
        return f"oracle_types_{self.uid}"

    @property
    def package(self) -> str:
        return f"oracle_pkg_{self.uid}"

    def scopes(self) -> list[Scope]:
        """Every scope, innermost first (the order they are defined in)."""
        found: list[Scope] = []

        def visit(scope: Scope) -> None:
            for step in scope.steps:
                if isinstance(step, SubCall):
                    visit(step.scope)
            found.append(scope)

        visit(self.top)
        return found

    def tasks(self) -> list[Task]:
        return [s for scope in self.scopes() for s in scope.steps if isinstance(s, Task)]

    def uses(self, task: Task) -> set[int]:
        """Components a task reaches, through helpers of helpers."""
        seen: set[int] = set()
        pending = list(task.comps)
        while pending:
            i = pending.pop()
            if i not in seen:
                seen.add(i)
                if self.comps[i].inner is not None:
                    pending.append(self.comps[i].inner)
        return seen

    def files(self) -> dict[str, str]:
        """Relative path -> text of every file the workflow needs."""
        pkg = f"site-packages/{self.package}"
        outside = [c for c in self.comps if c.kind in OUTSIDE]
        return {
            f"src/{self.module}.py": self.main_source(),
            f"src/{self.lazy}.py": "".join(render_outside(c) for c in outside if c.kind == "lazy"),
            f"src/{self.types}.py": TYPES,
            f"{pkg}/__init__.py": "".join(render_outside(c) for c in outside if c.kind == "pkg"),
            f"{pkg}-{self.pkg_version}.0.dist-info/METADATA": (
                f"Metadata-Version: 2.1\nName: {self.package}\nVersion: {self.pkg_version}.0\n"
            ),
            f"{pkg}-{self.pkg_version}.0.dist-info/top_level.txt": f"{self.package}\n",
            f"{pkg}-{self.pkg_version}.0.dist-info/RECORD": "",
        }

    def main_source(self) -> str:
        parts = ["\n" * self.pad + PRELUDE.format(pkg=self.package), CANON]
        for c in self.comps:
            code = dedent(render(self.comps, c)).replace("{lazy}", self.lazy)
            if code:
                parts.append(code)
        for scope in self.scopes():
            parts += [self.task_source(t) for t in scope.steps if isinstance(t, Task)]
            parts.append(self.scope_source(scope))
        return "\n\n\n".join(parts) + "\n"

    def task_source(self, t: Task) -> str:
        options = []
        if not t.reusable:
            options.append("reusable=False")
        if t.version is not None:
            options.append(f'version="{t.version}"')
        if t.hook is not None:
            options.append(
                f'call_before=[ct.DepsCall(_hook, args=[{t.hook}], retval_keyword="extra")]'
            )
        if t.bash is not None:
            options.append(f'deps_bash=["true {t.bash}"]')
        deco = f"@ct.electron({', '.join(options)})" if options else "@ct.electron"
        params = ", ".join(
            [f"y{i}" for i in range(len(t.inputs))] + ["extra=0"] * (t.hook is not None)
        )
        lines = [deco, f"def {t.name}({params}):", f'    """Task {t.name}, revision {t.doc}."""']
        lines.append(f'    _ran("{t.name}")')
        if t.raw:
            lines.append("    return y0")
            return "\n".join(lines)
        lines.append(f"    n = digest({', '.join(f'y{i}' for i in range(len(t.inputs)))})")
        lines.append(f"    n = n * {t.a} + {t.b}  # note {t.comment}")
        for i in t.comps:
            lines.append(f"    n = {use(self.comps, self.comps[i], 'n')}")
        lines.append("    return n + extra" if t.hook is not None else "    return n")
        return "\n".join(lines)

    def scope_source(self, scope: Scope) -> str:
        deco = "@ct.lattice" if scope is self.top else "@ct.electron\n@ct.lattice"
        lines = [deco, f"def {scope.name}({', '.join(scope.params)}):"]
        for k, step in enumerate(scope.steps):
            callee = step.name if isinstance(step, Task) else step.scope.name
            lines.append(f"    v{k} = {callee}({', '.join(step.inputs)})")
        if scope is self.top:
            items = ", ".join(f'"v{k}": v{k}' for k in range(len(scope.steps)))
            lines.append(f"    return {{{items}}}")
        else:
            lines.append(f"    return v{len(scope.steps) - 1}")
        return "\n".join(lines)

    def inputs_source(self, inputs: list[str] | None = None, reorder: bool = False) -> str:
        """A file defining ARGS and KWARGS for the lattice."""
        exprs = inputs if inputs is not None else self.inputs
        npos = len(exprs) - self.nkw
        args = "".join(f"{e}, " for e in exprs[:npos])
        kw = [f'"p{i}": {exprs[i]}' for i in range(npos, len(exprs))]
        if reorder:
            kw.reverse()
        return INPUTS_HEADER.format(types=self.types) + (
            f"ARGS = ({args})\nKWARGS = {{{', '.join(kw)}}}\n"
        )


PRELUDE = '''"""A workflow generated by valence's differential oracle."""

import datetime
import decimal
import fractions
import functools
import logging
import operator
import os
import re

import {pkg} as PKG

import valence as ct


def _ran(name):
    with open(os.environ["ORACLE_RUNLOG"], "a") as log:
        log.write(name + "\\n")


def _hook(value):
    return value


def _coerce(f):
    @functools.wraps(f)
    def wrapper(n):
        return f(f.__annotations__["n"](n))

    return wrapper'''

CANON = inspect.getsource(canon_module).split('"""\n', 1)[1].strip()

TYPES = '''"""Input types of a generated workflow."""

import dataclasses
import enum


@dataclasses.dataclass(frozen=True)
class Point:
    x: object
    y: object


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2
'''

INPUTS_HEADER = """import datetime
import decimal
import fractions
import pathlib
import struct
import uuid

import numpy as np
import pandas as pd

import {types} as T

"""

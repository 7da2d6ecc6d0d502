"""The layering of DESIGN.md holds: no module imports from a layer above its own.

Every import statement counts, inside functions too (a lazy import is still a
dependency), except those under ``if TYPE_CHECKING:`` (annotations only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import valence

ROOT = Path(valence.__file__).parent

# DESIGN.md, "Layers", bottom to top, with the modules it does not name placed by what
# they import (fs, file transfers: errors and fingerprint; results and display, read-only
# views over store records that both backends build). Others are not checked.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "config", "configfile", "status", "ids", "extras"),
    ("serialize", "fingerprint", "transportable", "fs"),
    ("workflow",),
    ("store", "executors", "executor", "results", "display"),
    ("engine",),
    ("wire",),
    ("backends",),
    ("client",),
    ("server", "cli"),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "valence" or len(parts) < 2:
        return None
    return RANK.get(parts[1])


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path`` that runs (not only for type checkers)."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def upward_imports(root: Path = ROOT) -> list[str]:
    """``path:line imports module`` for each import of a higher layer under ``root``."""
    bad: dict[str, str] = {}  # one per import statement
    for path in sorted(root.rglob("*.py")):
        own = _layer(_module_name(path, root))
        if own is None:
            continue
        for line, target in imports(path, root):
            rank = _layer(target)
            if rank is not None and rank > own:
                bad.setdefault(f"{path.relative_to(root.parent)}:{line}", target)
    return [f"{where} imports {target}" for where, target in bad.items()]


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports() == []


@pytest.mark.parametrize("below", ["backends", "client.py", "wire.py", "engine", "store"])
def test_the_http_client_and_the_public_api_never_import_the_server(below: str) -> None:
    paths = [ROOT / below] if below.endswith(".py") else sorted((ROOT / below).rglob("*.py"))
    assert paths
    for path in paths:
        found = [m for _, m in imports(path) if m.split(".")[:2] == ["valence", "server"]]
        assert found == [], path


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from valence.server.app import create_app\n", ["valence/backends/bad.py:1"]),
        ("def f():\n    import valence.cli.main\n", ["valence/backends/bad.py:2"]),
        ("from ..server import app\n", ["valence/backends/bad.py:1"]),
        ("from . import local\nfrom .. import client\n", ["valence/backends/bad.py:2"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import valence.server\n", []),
        ("from valence.engine.runtime import Runtime\nimport valence.wire\n", []),
    ],
)
def test_the_check_finds_upward_imports(tmp_path: Path, source: str, expected: list[str]) -> None:
    root = tmp_path / "valence"
    (root / "backends").mkdir(parents=True)
    (root / "backends" / "bad.py").write_text(source)
    assert [line.partition(" ")[0] for line in upward_imports(root)] == expected

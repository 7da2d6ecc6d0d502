"""``import valence`` loads only the workflow layer; every public name still works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

import valence as ct
from valence.engine.prepare import _name_and_version, environment

# Imported on first use of what needs them, never by ``import valence`` itself.
HEAVY = [
    "sqlalchemy",
    "alembic",
    "cloudpickle",
    "psutil",
    "rich",
    "typer",
    "numpy",
    "pandas",
    "pydantic",
    "httpx",
    "fastapi",
    "uvicorn",
    "dask",
    "distributed",
    "fsspec",
    "asyncio",
    "sqlite3",
    "valence.store",
    "valence.engine",
    "valence.client",
    "valence.executors",
    "valence.fingerprint",
    "valence.server",
]


def loaded_after(code: str) -> set[str]:
    """Top-level and valence module names imported by ``code`` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_valence_imports_no_heavy_module() -> None:
    loaded = loaded_after("import valence as ct")
    assert "valence.workflow.electron" in loaded  # the probe does see valence's modules
    assert sorted(set(HEAVY) & loaded) == []


def test_defining_a_workflow_imports_no_heavy_module() -> None:
    code = (
        "import valence as ct\n"
        "@ct.electron\ndef add(a, b):\n    return a + b\n"
        "@ct.lattice\ndef flow(a):\n    return add(a, 1)\n"
        "flow.build_graph(1)\n"
    )
    assert sorted(set(HEAVY) & loaded_after(code)) == []


def test_a_lazy_name_imports_its_module_on_first_use() -> None:
    loaded = loaded_after("import valence as ct\nct.Result")
    assert "valence.results" in loaded
    assert "valence.client" not in loaded


def test_the_client_functions_import_no_store_or_engine_until_called() -> None:
    # ct.dispatch starts the process pool's forkserver before the store is imported
    loaded = loaded_after("import valence as ct\nct.dispatch, ct.get_result, ct.redispatch")
    assert "valence.client" in loaded
    heavy = {"sqlalchemy", "alembic", "psutil", "valence.store", "valence.engine"}
    assert sorted(heavy & loaded) == []


def test_every_public_name_resolves_in_a_fresh_process() -> None:
    code = (
        "import importlib, valence as ct\n"
        "for name in ct.__all__:\n"
        "    value = getattr(ct, name)\n"
        "    again = getattr(importlib.import_module('valence'), name)\n"
        "    assert value is again and value is not None, name\n"
        "exec('from valence import *')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_public_names_are_the_objects_of_their_home_modules() -> None:
    from valence import client, executor, results, triggers
    from valence.fs import strategies

    assert ct.dispatch is client.dispatch and ct.get_result is client.get_result
    assert ct.Result is results.Result and ct.executor is executor
    assert ct.fs_strategies is strategies and ct.stop_triggers is triggers.stop_triggers
    assert ct.executor.LocalExecutor is not None  # Covalent's spelling keeps working


def test_star_import_and_dir_list_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from valence import *", namespace)
    assert set(ct.__all__) <= set(namespace)
    assert set(ct.__all__) <= set(dir(ct))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'dispach'"):
        ct.dispach


def test_environment_matches_the_full_metadata_parse() -> None:
    expected = {}
    for dist in metadata.distributions():
        if dist.metadata["Name"]:
            expected[dist.metadata["Name"].lower()] = dist.version
    assert environment() == expected


class _Dist:
    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def read_text(self, name: str) -> str | None:
        return self.files.get(name)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"METADATA": "Metadata-Version: 2.1\nName: Pkg\nVersion: 1.0\n\nName: body"},
            ("Pkg", "1.0"),
        ),
        ({"PKG-INFO": "Name: old\nVersion: 0.1\n"}, ("old", "0.1")),
        ({"METADATA": "Version: 2\n"}, (None, "2")),
        ({}, (None, None)),
        ({"METADATA": "\nName: after-the-headers\n"}, (None, None)),
        ({"METADATA": "Name:  spaced  \nSummary: a: b\nVersion: 3"}, ("spaced", "3")),
    ],
)
def test_name_and_version_read_only_the_headers(files, expected) -> None:
    assert _name_and_version(_Dist(files)) == expected


def test_file_digests_load_no_transfer_strategy_and_fs_names_resolve() -> None:
    loaded = loaded_after("import valence.fs.digest")
    assert "valence.fs.digest" in loaded
    assert sorted({"valence.fs.strategies", "valence.fs.transfer", "urllib.request"} & loaded) == []
    code = (
        "import valence.fs as fs\n"
        "for name in fs.__all__:\n"
        "    assert getattr(fs, name) is not None, name\n"
        "assert fs.strategies.HTTP is fs.transfer.HTTP and 'FileTransfer' in dir(fs)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


EXIT_PROBE = """
import atexit, gc, sys
# registered before valence's hooks, so it runs after them: it sees what they left
atexit.register(lambda: print("frozen", gc.get_freeze_count(), flush=True))
import valence as ct

@ct.electron(executor="thread")
def add(a, b):
    return a + b

@ct.lattice
def flow(a, b):
    return add(a, b)

if sys.argv[1] == "dispatch":
    assert ct.get_result(ct.dispatch(flow)(1, 2), wait=True).result == 3
"""


def run_exit_probe(home, what: str) -> str:
    env = {**os.environ, "VALENCE_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", EXIT_PROBE, what], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_a_process_that_dispatched_exits_without_walking_its_objects(valence_home) -> None:
    # the embedded runtime's exit hook freezes the collector once dispatches are done
    assert int(run_exit_probe(valence_home, "dispatch")) > 10_000
    # a process that only defined workflows is left alone
    assert run_exit_probe(valence_home, "define") == "0"

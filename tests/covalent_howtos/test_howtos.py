"""Covalent's how-to guides, run unchanged (import line changed) in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "guides"

GUIDES = {
    "construct_bash_task": ["(7, 8, 56)"],
    "construct_c_task": ["(3, 5)"],
    "construct_lepton": ["result: 3", "COMPLETED"],
    "file_transfers_for_workflows_local": [
        "COMPLETED",
        "Mares eat oats and does eat oats\nAnd little lambs eat ivy ...",
    ],
    "add_bash_dependencies_to_electron": ["cpp:"],
    "add_callable_dependencies_to_electron": ["Hello world!"],
}


@pytest.mark.slow
@pytest.mark.parametrize("guide", sorted(GUIDES))
def test_guide_runs_unchanged(guide, tmp_path, valence_home):
    if guide == "construct_c_task" and shutil.which("gcc") is None:
        pytest.skip("the C guide compiles with gcc, which is not installed")
    if guide == "add_bash_dependencies_to_electron" and shutil.which("whereis") is None:
        pytest.skip("the guide's command uses whereis, which is not installed")
    env = {**os.environ, "VALENCE_HOME": str(valence_home), "VALENCE_EXECUTOR": "local"}
    done = subprocess.run(
        [sys.executable, "-W", "error", str(HERE / f"{guide}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for expected in GUIDES[guide]:
        assert expected in done.stdout, done.stdout

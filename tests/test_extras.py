"""A missing optional extra gives one line naming the extra, not an import traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CASES = {
    "cli": """
        sys.modules["typer"] = None
        sys.argv = ["valence", "list"]
        from valence.cli import run
        run()
    """,
    "server": """
        sys.modules["httpx"] = None
        import valence as ct
        try:
            ct.get_result("abc", dispatcher_addr="127.0.0.1:1")
        except ImportError as exc:
            print("error:", exc, file=sys.stderr)
            sys.exit(1)
    """,
    "dask": """
        sys.modules["distributed"] = None
        import valence as ct

        @ct.electron(executor="dask")
        def f():
            return 1

        @ct.lattice
        def wf():
            return f()

        result = ct.dispatch_sync(wf)()
        print("error:", result.error, file=sys.stderr)
        sys.exit(1)
    """,
}


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(CASES))
def test_missing_extra_names_it(extra, valence_home):
    code = "import sys\n" + textwrap.dedent(CASES[extra])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f'pip install "valence[{extra}]"' in lines[0]

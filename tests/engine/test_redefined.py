"""A redispatch that runs stored code this session redefined says so, once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = """
import warnings
import valence as ct

@ct.electron(executor="thread")
def score(x):
    return x + 1

@ct.lattice
def wf(x):
    return score(x)

first = ct.dispatch(wf)(1)
ct.get_result(first, wait=True)

@ct.electron(executor="thread")
def score(x):  # redefined: new code
    return x + 100

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    old = ct.redispatch(first)()
    again = ct.redispatch(first, reuse_previous_results=True)()
    new = ct.redispatch(first, replace_electrons={"score": score})()
print("WARNINGS", len(caught))
for w in caught:
    print("WARNING", w.category.__name__, w.message)
print("RESULTS", [ct.get_result(d, wait=True).result for d in (old, again, new)])
"""


def test_redefined_electron_is_named_once(tmp_path, valence_home):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPT))
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env={"VALENCE_HOME": str(valence_home), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "WARNINGS 1" in out  # once, though two redispatches ran the stored code
    assert "RedefinedElectronWarning" in out
    assert "replace_electrons={'score': score}" in out and "reuse_previous_results=True" in out
    assert "RESULTS [2, 2, 101]" in out  # the stored code ran until replaced

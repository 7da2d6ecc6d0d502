"""The differential oracle: a redispatch with reuse equals the same redispatch with reuse off.

Hypothesis generates workflows as real module files and an edit from the catalogue
(``tests/oracle/edits.py``); each example dispatches in one interpreter and redispatches
in a fresh one (another ``PYTHONHASHSEED``, the module edited or deleted), with reuse
and without, and compares the results and the tasks that ran. ``make test`` runs a
bounded number of examples without the known holes below; ``make oracle`` runs long
with everything (``VALENCE_ORACLE_EXAMPLES=N``, ``VALENCE_ORACLE_HOLES=1``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.oracle.edits import edits
from tests.oracle.generate import workflows
from tests.oracle.harness import Case, Example, Options, check

EXAMPLES = int(os.environ.get("VALENCE_ORACLE_EXAMPLES", "4"))
KEEP_GOING = os.environ.get("VALENCE_ORACLE_KEEP_GOING") == "1"

# Known stale-reuse holes the oracle finds while they are open (feature -> hole): the
# bounded run leaves those features out; VALENCE_ORACLE_HOLES=1 (make oracle) keeps them.
# Generator features that can be named here: component kinds (tests/oracle/components.py),
# edit kinds (tests/oracle/edits.py), "reusable_in_sublattice", "nan_inputs".
KNOWN_HOLES: dict[str, str] = {}
HOLES = frozenset() if os.environ.get("VALENCE_ORACLE_HOLES") == "1" else frozenset(KNOWN_HOLES)


@st.composite
def cases(draw, holes: frozenset[str], uid: str) -> Case:
    wf = draw(workflows(holes))
    wf.uid = uid
    edit = draw(edits(wf, holes))
    edit.workflow.uid = uid
    replace = draw(st.integers(0, 3)) > 0
    return Case(wf, edit, Options(replace, delete_module=not replace and draw(st.booleans())))


@st.composite
def examples(draw, holes: frozenset[str] = HOLES, most: int = 3) -> Example:
    n = draw(st.integers(1, most))
    seed = draw(st.integers(0, 2**16))
    return Example(
        [draw(cases(holes, f"c{k}")) for k in range(n)],
        executor=draw(st.sampled_from(["thread", "thread", "inline", "local"])),
        seeds=(seed, seed + draw(st.integers(1, 2**16))),
    )


_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def _check(example: Example) -> None:
    with tempfile.TemporaryDirectory(prefix="valence-oracle-") as tmp:
        check(example, Path(tmp))


@pytest.mark.slow
def test_reuse_equals_a_fresh_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Shrinks and reports the first mismatch; or, with VALENCE_ORACLE_KEEP_GOING=1,
    runs every example without shrinking and counts the mismatches."""
    if not KEEP_GOING:
        strict = settings(_SETTINGS)(given(examples())(_check))
        strict()
        return
    log = Path(os.environ.get("VALENCE_ORACLE_LOG") or tmp_path_factory.mktemp("oracle") / "log")
    counts = {"examples": 0, "cases": 0, "mismatches": 0}

    @settings(_SETTINGS, phases=[Phase.generate])
    @given(examples())
    def each(example: Example) -> None:
        counts["examples"] += 1
        counts["cases"] += len(example.cases)
        try:
            _check(example)
        except Exception as exc:  # a harness error counts too: the log says which
            counts["mismatches"] += 1
            with log.open("a") as out:
                out.write(f"##### {example!r}\n{type(exc).__name__}: {exc}\n\n")
        log.with_suffix(".counts").write_text(f"{counts}\n")

    each()
    assert counts["mismatches"] == 0, f"{counts}; the mismatches are in {log}"

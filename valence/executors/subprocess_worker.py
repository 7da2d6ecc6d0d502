"""Run one task in another interpreter: ``python -m valence.executors.subprocess_worker IN OUT``.

``IN`` holds the task as ``LocalExecutor`` sends it to a worker; the Outcome is
written to ``OUT`` (never to stdout, which the task may use). ``LocalExecutor(
conda_env=...)`` runs tasks this way with the environment's interpreter, which
needs valence installed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from valence.executors.worker import run_serialized
    from valence.serialize import dumps

    source, target = argv
    outcome = run_serialized(Path(source).read_bytes(), "task")
    Path(target).write_bytes(dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

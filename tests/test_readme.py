"""Every ```python block of the README runs, each in a fresh interpreter.

A block that cannot run here (a fragment with placeholders, a remote cluster)
is preceded by ``<!-- readme-test: skip (reason) -->``; the reason is required.
Blocks run with ``import valence as ct`` already done, in an empty directory
with their own valence home.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!-- readme-test: skip \((?P<reason>[^)]+)\) -->")
MAX_SKIPPED = 5  # keep the list short: most blocks must run


def _blocks() -> list[tuple[str, str, str | None]]:
    """(id, code, skip reason) for each python block, named by its section and line."""
    text = README.read_text()
    found = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.DOTALL):
        line = text.count("\n", 0, match.start()) + 1
        preceding = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(preceding)
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
        section = re.sub(r"\W+", "-", headings[-1].lower()).strip("-") if headings else "top"
        found.append((f"{section}-line{line}", match.group(1), skip and skip.group("reason")))
    return found


BLOCKS = _blocks()


def test_the_readme_has_runnable_blocks_and_few_skips():
    skipped = [name for name, _, reason in BLOCKS if reason]
    assert len(BLOCKS) - len(skipped) >= 3
    assert len(skipped) <= MAX_SKIPPED, f"too many README blocks skipped: {skipped}"
    stray = len(re.findall(r"readme-test: skip", README.read_text())) - len(skipped)
    assert stray == 0, "a skip marker must sit on the line right before a ```python block"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "reason"), [(c, r) for _, c, r in BLOCKS], ids=[b[0] for b in BLOCKS]
)
def test_readme_block_runs(code, reason, tmp_path, valence_home):
    if reason:
        pytest.skip(reason)
    script = tmp_path / "block.py"
    script.write_text("import valence as ct\n" + code)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VALENCE_HOME": str(valence_home)}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, f"README block failed:\n{code}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    if "reuse_previous_results=True)()     # train is reused, recall runs" in code:
        rows = {line.split()[1]: line for line in proc.stdout.splitlines() if "COMPLETED" in line}
        assert "reused from" in rows["train"] and "replaced by recall" in rows["recall"]
        assert "2/2 tasks done, 1 reused" in proc.stdout  # the tour's comments hold

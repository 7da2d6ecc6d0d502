"""The two graph shapes every benchmark measures: a chain and a fan-out/fan-in."""

from __future__ import annotations

from typing import Any


def workflow(shape: str, task: Any, collect: Any) -> Any:
    """A lattice of ``n`` calls of ``task``: chained, or fanned out and ``collect``-ed."""
    import valence as ct

    @ct.lattice
    def chain(n):
        x = 0
        for _ in range(n):
            x = task(x)
        return x

    @ct.lattice
    def fan(n):
        return collect([task(i) for i in range(n)])

    return {"chain": chain, "fan": fan}[shape]

"""The drawn graph, computed on the server: sibling groups and a layered layout.

A 10,000-task fan-out is unreadable as 10,000 boxes and slow to lay out in a
browser. Two steps make any graph open at once:

1. **Groups.** Tasks with the same name under the same (drawn) parents are
   siblings; a set of at least ``GROUP_MIN`` of them is drawn as one group node
   ("square ×2000") carrying status counts. Levels are processed top down, so a
   second stage under a group groups too (its members all have that group as
   parent). Then a run of at least ``GROUP_MIN`` nodes of one name, each the
   only child of the one before (``x = step(x)`` in a loop), is drawn as one
   chain box ("step ×10000 (chain)"). Boxes the user expanded are drawn
   member by member.
2. **Layout.** Each drawn node gets a rank (longest path from a root) and an
   order inside its rank (barycentre of its parents, one pass top down); wide
   ranks wrap into rows. Linear in nodes + edges; the browser only draws.

Pure functions over plain tuples: nothing here touches the store or HTTP.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from valence.workflow.graph import topological_order

GROUP_MIN = 8
ROW_MAX = 40  # nodes per row before a wide rank wraps
NODE_GAP = 24.0
RANK_GAP = 60.0
ROW_GAP = 46.0
CHAR_WIDTH = 7.4


@dataclass(frozen=True)
class Item:
    """A node to draw: ``id`` and a display name; ``label`` is what the box says."""

    id: int
    name: str
    label: str
    status: str


@dataclass
class Drawn:
    """One box of the drawing: a node (``members == [id]``) or a group of siblings."""

    key: str
    label: str
    members: list[int]
    rank: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 64.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def group(self) -> bool:
        return self.key[0] in "gc"


def _ranks(ids: Sequence[int], parents: dict[int, list[int]]) -> dict[int, int]:
    """Longest path from a root, in one pass over a topological order."""
    rank = dict.fromkeys(ids, 0)
    for node in topological_order(ids, ((p, c) for c, ps in parents.items() for p in ps)):
        rank[node] = max((rank[p] + 1 for p in parents.get(node, ())), default=0)
    return rank


def group_siblings(
    items: Sequence[Item],
    edges: Iterable[tuple[int, int]],
    expanded: Collection[str] = (),
    minimum: int = GROUP_MIN,
) -> tuple[list[Drawn], dict[int, str]]:
    """Drawn boxes and which box each node id is drawn in."""
    by_id = {i.id: i for i in items}
    parents: dict[int, list[int]] = defaultdict(list)
    for source, target in edges:
        if source in by_id and target in by_id:
            parents[target].append(source)
    rank = _ranks(list(by_id), parents)
    levels: dict[int, list[int]] = defaultdict(list)
    for node_id in sorted(by_id):
        levels[rank[node_id]].append(node_id)
    canon: dict[int, str] = {}  # the group a node is in, expanded or not: keeps siblings below
    box_of: dict[int, str] = {}
    drawn: list[Drawn] = []
    for level in sorted(levels):
        siblings: dict[tuple, list[int]] = defaultdict(list)
        for node_id in levels[level]:
            group_parents = frozenset(canon[p] for p in parents.get(node_id, ()))
            siblings[(by_id[node_id].name, group_parents)].append(node_id)
        for members in siblings.values():
            key = f"g{members[0]}"
            grouped = len(members) >= minimum
            canon.update(dict.fromkeys(members, key) if grouped else {m: f"n{m}" for m in members})
            if grouped and key not in expanded:
                box = Drawn(key, f"{by_id[members[0]].label} ×{len(members)}", members, level)
                box.counts = dict(Counter(by_id[m].status for m in members))
                drawn.append(box)
                box_of.update(dict.fromkeys(members, key))
                continue
            for m in members:
                drawn.append(Drawn(f"n{m}", by_id[m].label, [m], level))
                box_of[m] = f"n{m}"
    return drawn, box_of


def drawn_edges(
    edges: Iterable[tuple[int, int]], box_of: dict[int, str]
) -> list[tuple[str, str, int]]:
    """Edges between boxes (source, target, how many node edges each stands for)."""
    counts: Counter[tuple[str, str]] = Counter()
    for source, target in edges:
        a, b = box_of.get(source), box_of.get(target)
        if a is not None and b is not None and a != b:
            counts[(a, b)] += 1
    return [(a, b, n) for (a, b), n in counts.items()]


def collapse_chains(
    drawn: list[Drawn],
    box_of: dict[int, str],
    edges: Iterable[tuple[int, int]],
    names: dict[int, str],
    expanded: Collection[str] = (),
    minimum: int = GROUP_MIN,
) -> list[Drawn]:
    """Single-node boxes of one name linked one to one, ``minimum`` or more: one chain box."""
    links = drawn_edges(edges, box_of)
    outs: dict[str, list[str]] = defaultdict(list)
    ins: dict[str, list[str]] = defaultdict(list)
    for a, b, _ in links:
        outs[a].append(b)
        ins[b].append(a)
    by_key = {box.key: box for box in drawn}

    def single(key: str) -> bool:
        return not by_key[key].group

    def follows(key: str) -> bool:  # continues the chain of the box before it
        before = ins[key]
        return (
            len(before) == 1
            and single(before[0])
            and single(key)
            and outs[before[0]] == [key]
            and names[by_key[before[0]].members[0]] == names[by_key[key].members[0]]
        )

    merged: list[Drawn] = []
    for box in drawn:
        if box.group or follows(box.key):
            if box.group:
                merged.append(box)
            continue
        run = [box]
        while len(outs[run[-1].key]) == 1 and follows(outs[run[-1].key][0]):
            run.append(by_key[outs[run[-1].key][0]])
        key = f"c{box.members[0]}"
        if len(run) < minimum or key in expanded:
            merged.extend(run)
            continue
        members = [m for b in run for m in b.members]
        chain = Drawn(key, f"{box.label.split(' ×')[0]} ×{len(run)} (chain)", members)
        merged.append(chain)
        box_of.update(dict.fromkeys(members, key))
    return merged


def _box_ranks(drawn: list[Drawn], parents: dict[str, list[str]]) -> dict[str, int]:
    order = [box.key for box in drawn]
    index = {key: i for i, key in enumerate(order)}
    flat = {
        index[k]: [index[p] for p in ps if p in index] for k, ps in parents.items() if k in index
    }
    ranks = _ranks(list(range(len(order))), flat)
    return {order[i]: r for i, r in ranks.items()}


def place(drawn: list[Drawn], edges: Sequence[tuple[str, str, int]]) -> None:
    """Give every box ``x``, ``y`` and ``width``: ranks top down, barycentre order, rows wrap."""
    parents: dict[str, list[str]] = defaultdict(list)
    for source, target, _ in edges:
        parents[target].append(source)
    ranks = _box_ranks(drawn, parents)
    by_rank: dict[int, list[Drawn]] = defaultdict(list)
    for box in drawn:
        box.rank = ranks[box.key]
        box.width = min(max(len(box.label) * CHAR_WIDTH + 24, 64.0), 260.0)
        by_rank[box.rank].append(box)
    x_of: dict[str, float] = {}
    y = 0.0
    for rank in sorted(by_rank):
        boxes = by_rank[rank]
        boxes.sort(key=lambda b: _barycentre(b, parents, x_of))
        for start in range(0, len(boxes), ROW_MAX):
            row = boxes[start : start + ROW_MAX]
            total = sum(b.width for b in row) + NODE_GAP * (len(row) - 1)
            x = -total / 2
            for box in row:
                box.x, box.y = x + box.width / 2, y
                x_of[box.key] = box.x
                x += box.width + NODE_GAP
            y += ROW_GAP
        y += RANK_GAP - ROW_GAP


def _barycentre(box: Drawn, parents: dict[str, list[str]], x_of: dict[str, float]) -> tuple:
    xs = [x_of[p] for p in parents.get(box.key, ()) if p in x_of]
    return (sum(xs) / len(xs) if xs else 0.0, box.members[0])


def group_status(counts: dict[str, int]) -> str:
    """The colour a group takes: the most telling status among its members."""
    for status in ("FAILED", "RUNNING"):
        if counts.get(status):
            return status
    waiting = [s for s in counts if s not in ("COMPLETED", "CANCELLED", "NEW_OBJECT")]
    if waiting:
        return waiting[0]  # queued, starting, ...
    for status in ("CANCELLED", "NEW_OBJECT"):
        if counts.get(status):
            return status
    return "COMPLETED"

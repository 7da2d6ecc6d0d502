"""The REST contract: pydantic models for every JSON request and response.

Below both the HTTP client and the server. Records travel whole: the models of
``DispatchRecord``, ``NodeRecord`` and ``TriggerRecord`` are built from those
dataclasses (:func:`record_model`: same fields, types and defaults), so a client
rebuilds the records (``.record()``) and reads a ``Result`` exactly as in
embedded mode.
Values never travel inside JSON: a value is a ``ValueOut`` (preview string +
digest + download URL); bytes come from ``GET /api/v1/blobs/{digest}``, or many
at once from ``POST /api/v1/blobs/batch`` (framed bytes: :func:`pack_blobs`).
Many node records travel as one table (:func:`nodes_table`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import MISSING, fields
from dataclasses import Field as Field_
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model

from valence.store.records import DispatchRecord, NodeRecord, TriggerRecord

PICKLE_MEDIA_TYPE = "application/octet-stream"


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: what went wrong, and the exception type it stands for."""

    detail: str
    error: str = Field(description="exception type, e.g. DispatchNotFoundError or TypeError")


class HealthOut(BaseModel):
    status: str
    version: str


class DispatchIdOut(BaseModel):
    dispatch_id: str


class MessageOut(BaseModel):
    message: str


class StatusOut(BaseModel):
    dispatch_id: str
    status: str
    done: bool = Field(description="true when COMPLETED, FAILED or CANCELLED")


class ValueOut(BaseModel):
    """A stored value: its preview (``str()``, shortened) and where to download it."""

    digest: str
    preview: str
    url: str


class RecordModel(BaseModel):
    """A record on the wire: rebuilds the store record it was made from (``record()``)."""

    _record: ClassVar[type[Any]]

    @classmethod
    def of(cls, record: Any, **extra: Any) -> Self:
        return cls.model_validate({**vars(record), **extra})

    def record(self, **extra: Any) -> Any:
        names = {f.name for f in fields(self._record)}
        return self._record(**self.model_dump(include=names), **extra)


def record_model(
    record: type[Any],
    name: str,
    doc: str,
    *,
    base: type[RecordModel] = RecordModel,
    only: Sequence[str] | None = None,
    without: Collection[str] = (),
    **changed: Any,
) -> type[RecordModel]:
    """A model with the fields of the dataclass ``record`` (types and defaults from it).

    ``only`` / ``without`` pick fields; ``changed`` maps a field name to its wire
    form ``(type, default or Field)``, or adds a field the record does not have.
    """
    hints = get_type_hints(record)
    chosen = [f for f in fields(record) if f.name not in without]
    if only is not None:
        chosen = [f for f in chosen if f.name in only]
    spec: dict[str, Any] = {f.name: (hints[f.name], _default(f)) for f in chosen}
    spec.update(changed)
    model = create_model(name, __base__=base, __doc__=doc, **spec)
    model._record = record
    return model


def _default(field: Field_[Any]) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return Field(default_factory=field.default_factory)
    return ...


SUMMARY_FIELDS = (
    "dispatch_id",
    "name",
    "status",
    "root_dispatch_id",
    "created_at",
    "start_time",
    "end_time",
    "parent_dispatch_id",
    "redispatched_from",
    "error",
)
PROGRESS: tuple[Any, Any] = (
    dict[str, int],
    Field(default={}, description="node count per status"),
)

if TYPE_CHECKING:  # built from the records below; to a type checker each is a RecordModel
    NodeOut: TypeAlias = RecordModel
    NodeDetail: TypeAlias = RecordModel
    DispatchSummary: TypeAlias = RecordModel
    DispatchOut: TypeAlias = RecordModel
    TriggerOut: TypeAlias = RecordModel
else:
    NodeOut = record_model(
        NodeRecord,
        "NodeOut",
        "One node: every field of the stored node record.",
        stdout=(str | None, Field(default="", description="null when read without streams")),
        stderr=(str | None, Field(default="", description="null when read without streams")),
        reason=(
            dict[str, Any] | None,
            Field(default=None, description="why it was reused or ran: {decision, code, text}"),
        ),
    )
    NodeDetail = create_model(
        "NodeDetail",
        __base__=NodeOut,
        __doc__="One node with a preview of its output.",
        output=(ValueOut | None, None),
    )
    DispatchSummary = record_model(
        DispatchRecord,
        "DispatchSummary",
        "A dispatch in a list: no graph, sources or environment.",
        only=SUMMARY_FIELDS,
        error=(str | None, Field(default=None, description="first line of the error")),
        progress=PROGRESS,
    )
    DispatchOut = record_model(
        DispatchRecord,
        "DispatchOut",
        "One dispatch: every field of the stored record, node counts, optionally its nodes.",
        progress=PROGRESS,
        nodes=(list[NodeOut] | None, None),
    )
    TriggerOut = record_model(
        TriggerRecord,
        "TriggerOut",
        "A registered trigger (without the pickled trigger itself).",
        without=("spec",),
    )


def node_out(node: NodeRecord, *, streams: bool = True) -> NodeOut:
    """``node`` on the wire; without ``streams`` its stdout and stderr are null."""
    return NodeOut.of(node) if streams else NodeOut.of(node, stdout=None, stderr=None)


def dispatch_summary(record: DispatchRecord, progress: dict[str, int]) -> DispatchSummary:
    """``record`` as a dispatch list shows it: the first line of its error, node counts."""
    error = record.error.splitlines()[0] if record.error else None
    return DispatchSummary.of(record, error=error, progress=progress)


def dispatch_out(
    record: DispatchRecord,
    progress: dict[str, int],
    nodes: list[NodeRecord] | None,
    *,
    streams: bool = True,
) -> DispatchOut:
    """``record`` on the wire with its node counts and (unless None) its nodes."""
    shown = None if nodes is None else [node_out(n, streams=streams) for n in nodes]
    return DispatchOut.of(record, progress=progress, nodes=shown)


class DispatchList(BaseModel):
    items: list[DispatchSummary]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, null on the last")


class ResultOut(BaseModel):
    dispatch_id: str
    status: str
    error: str | None = None
    result: ValueOut | None = None


class ErrorTextOut(BaseModel):
    error: str | None = None
    traceback: str | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_ids: list[StrictInt] | None = Field(
        default=None, max_length=100_000, description="only these nodes; all if null or empty"
    )


class RedispatchIn(BaseModel):
    """A redispatch in JSON (values must be JSON; send a pickle to replace electrons)."""

    model_config = ConfigDict(extra="forbid")

    args: list[Any] = Field(default=[], description="new positional inputs (override in order)")
    kwargs: dict[str, Any] = Field(default={}, description="new keyword inputs")
    reuse_previous_results: bool = False
    force_rerun: list[str] = Field(default=[], description="task names to run even if reusable")
    reuse_from: str | list[str] | None = Field(
        default=None,
        description="'parent' (default), 'any' (the whole store) or dispatch ids; turns reuse on",
    )


class DecisionOut(BaseModel):
    node_id: int
    name: str
    kind: str
    action: str = Field(description="reuse or run")
    code: str
    text: str
    reused_from: tuple[str, int] | None = None


class PlanOut(BaseModel):
    parent_id: str
    reused: int
    to_run: int
    decisions: list[DecisionOut]


BLOB_BATCH_MAX = 20_000  # digests per batch request: every output of a 10,000-task fan


class BlobsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digests: list[str] = Field(max_length=BLOB_BATCH_MAX)


class BlobsOut(BaseModel):
    blobs: dict[str, str] = Field(description="digest -> base64 bytes")
    missing: list[str] = Field(description="digests not stored")
    omitted: list[str] = Field(description="stored but left out to bound the response size")


class PurgeOut(BaseModel):
    deleted: list[str]
    kept: list[str] = Field(description="sublattice runs kept: a remaining dispatch reuses them")
    blobs_deleted: int
    note: str | None = None
    dry_run: bool


# ---- compact forms for large reads ------------------------------------------------------
# A 10,000-task dispatch has 20,000 node records and as many outputs: as pydantic
# models per node and base64 JSON they cost seconds. Nodes travel as one table
# (column names once, a row of plain JSON values per node); a batch of blobs as
# bytes framed by a small JSON header. Both are checked whole by the reader.

NODE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(NodeRecord))
_TIME_COLUMNS = frozenset(
    name for name, hint in get_type_hints(NodeRecord).items() if "datetime" in str(hint)
)
BLOBS_MEDIA_TYPE = "application/vnd.valence.blobs"


class WireFormatError(ValueError):
    """A compact response that is not what the contract says (truncated, damaged, foreign)."""


def nodes_table(records: Sequence[NodeRecord]) -> dict[str, Any]:
    """``records`` as one table: ``{"columns": [...], "rows": [[...], ...]}`` (JSON-ready)."""
    times = [i for i, name in enumerate(NODE_COLUMNS) if name in _TIME_COLUMNS]
    values = attrgetter(*NODE_COLUMNS)
    table = []
    for record in records:
        row = list(values(record))
        for i in times:
            if row[i] is not None:
                row[i] = row[i].isoformat()
        table.append(row)
    return {"columns": list(NODE_COLUMNS), "rows": table}


def nodes_from_table(table: Any) -> list[NodeRecord]:
    """The records of a :func:`nodes_table`; WireFormatError if it is not one."""
    if not isinstance(table, dict) or table.get("columns") != list(NODE_COLUMNS):
        raise WireFormatError(
            "the server's node table has other columns than this client's NodeRecord "
            f"({NODE_COLUMNS}); use a client of the server's valence version"
        )
    rows = table.get("rows")
    if not isinstance(rows, list):
        raise WireFormatError("the server's node table has no list of rows")
    times = [i for i, name in enumerate(NODE_COLUMNS) if name in _TIME_COLUMNS]
    width = len(NODE_COLUMNS)
    records = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width:
            raise WireFormatError(f"a row of the server's node table is not {width} values")
        try:
            for i in times:
                if row[i] is not None:
                    row[i] = datetime.fromisoformat(row[i])
        except (TypeError, ValueError) as exc:
            raise WireFormatError(f"a time in the server's node table is invalid: {exc}") from exc
        records.append(NodeRecord(*row))
    return records


def pack_blobs(found: dict[str, bytes], missing: Sequence[str], omitted: Sequence[str]) -> bytes:
    """A blob batch as bytes: a 4-byte header length, the JSON header, then every blob.

    The header lists ``[digest, size]`` in the order the bytes follow, and the
    digests that are ``missing`` or ``omitted`` (as in :class:`BlobsOut`).
    """
    header = {
        "blobs": [[digest, len(data)] for digest, data in found.items()],
        "missing": list(missing),
        "omitted": list(omitted),
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([len(head).to_bytes(4, "big"), head, *found.values()])


def unpack_blobs(data: bytes) -> tuple[dict[str, bytes], list[str], list[str]]:
    """``(found, missing, omitted)`` of :func:`pack_blobs` bytes; WireFormatError if damaged."""
    if len(data) < 4:
        raise WireFormatError(f"a blob batch of {len(data)} bytes has no header (truncated)")
    end = 4 + int.from_bytes(data[:4], "big")
    try:
        header = json.loads(data[4:end])
        sizes = [(str(digest), int(size)) for digest, size in header["blobs"]]
        missing, omitted = list(header["missing"]), list(header["omitted"])
    except (ValueError, TypeError, KeyError) as exc:
        raise WireFormatError(f"a blob batch's header is damaged or truncated: {exc}") from exc
    if end + sum(size for _, size in sizes) != len(data):
        raise WireFormatError(
            f"a blob batch is {len(data)} bytes, its header describes "
            f"{end + sum(size for _, size in sizes)} (truncated or damaged in transit)"
        )
    found: dict[str, bytes] = {}
    view = memoryview(data)
    for digest, size in sizes:
        found[digest] = bytes(view[end : end + size])
        end += size
    return found, missing, omitted

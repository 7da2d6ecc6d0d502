"""The backend that talks to a valence server over its REST API (httpx).

A dispatch is one request (the pickled workflow and inputs); ``get_result`` is a
long poll, the dispatch with its nodes, and the values it reads (node outputs of
one dispatch come in one batch). Errors come back as the exceptions embedded
mode raises: the server names the exception type, and the client raises it.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from valence import errors, serialize
from valence import status as st
from valence.backends import RedispatchRequest
from valence.config import Settings, load_token
from valence.engine.purge import PurgeReport
from valence.engine.redispatch import Decision, Plan
from valence.errors import (
    BlobMissingError,
    SerializationError,
    ServerError,
    ServerUnavailableError,
)
from valence.ids import dispatch_prefix
from valence.results import Result
from valence.store import NodeNotFoundError
from valence.store.blobs import check_digest
from valence.store.records import DispatchRecord, EdgeRecord, NodeRecord, TriggerRecord
from valence.wire import (
    BLOBS_MEDIA_TYPE,
    DispatchOut,
    DispatchSummary,
    TriggerOut,
    WireFormatError,
    nodes_from_table,
    unpack_blobs,
)
from valence.workflow.lattice import Lattice

API = "/api/v1"
POLL_S = 30.0  # longest single long-poll; the client repeats it until its own deadline
BATCH = 256  # node outputs fetched ahead when a Result reads them one at a time
BLOBS_PER_REQUEST = 4096  # a ~300 KB request body, far below any sensible body limit

_ERRORS: dict[str, type[Exception]] = {
    cls.__name__: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, Exception)
}
_ERRORS["NodeNotFoundError"] = NodeNotFoundError

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], HttpBackend] = {}


def connect(address: str, settings: Settings | None = None) -> HttpBackend:
    """The shared backend for ``address`` with the token of ``settings`` / VALENCE_TOKEN."""
    key = (address, load_token(settings))
    with _lock:
        backend = _clients.get(key)
        if backend is None:
            backend = _clients[key] = HttpBackend(address, key[1])
        return backend


def close_all() -> None:
    """Close every shared connection pool (tests; interpreter exit)."""
    with _lock:
        backends = list(_clients.values())
        _clients.clear()
    for backend in backends:
        backend.close()


class HttpBackend:
    """Dispatches on the valence server at ``url``."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = url
        self.where = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=url + API,
            headers=headers,
            timeout=httpx.Timeout(30.0, read=POLL_S + 600.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"HttpBackend({self.url!r})"

    # ---- transport ----------------------------------------------------------------------
    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request; a refusal raises the exception the server names."""
        try:
            response = self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            raise ServerUnavailableError(
                f"no valence server answers at {self.url} ({type(exc).__name__}: {exc}); start "
                "one with `valence start`, or unset VALENCE_SERVER / run `valence stop` to use "
                "the embedded dispatcher"
            ) from exc
        if response.is_success:
            return response
        raise self._error(response)

    def _error(self, response: httpx.Response) -> Exception:
        try:
            body = response.json()
            detail, kind = str(body["detail"]), str(body.get("error", ""))
        except (ValueError, KeyError, TypeError):
            detail, kind = response.text[:500] or response.reason_phrase, ""
        if response.status_code == 401:
            return ServerError(f"server at {self.url} refused the request: {detail}")
        cls = _ERRORS.get(kind) or getattr(builtins, kind, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            try:
                return cls(detail)
            except TypeError:  # an exception type with a special constructor
                pass
        return ServerError(f"server at {self.url} answered {response.status_code}: {detail}")

    def _json(self, method: str, path: str, **options: Any) -> Any:
        return self.request(method, path, **options).json()

    # ---- writes -----------------------------------------------------------------------
    def submit(
        self,
        lattice: Lattice,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        disable_run: bool = False,
        reuse: bool = False,
    ) -> str:
        """Check the arguments here, then send workflow and inputs in one request."""
        lattice.bind_inputs(args, kwargs)
        body = _dump_submission(lattice, tuple(args), dict(kwargs))
        data = self._json(
            "POST",
            "/dispatches",
            content=body,
            params={"disable_run": disable_run, "reuse_previous_results": reuse},
            headers={"Content-Type": "application/octet-stream"},
        )
        return str(data["dispatch_id"])

    def _redispatch_body(self, request: RedispatchRequest) -> bytes:
        payload = {
            "args": tuple(request.args),
            "kwargs": dict(request.kwargs),
            "replace_electrons": dict(request.replace_electrons),
            "reuse_previous_results": request.reuse_previous_results,
            "force_rerun": list(request.force_rerun),
            "reuse_from": request.reuse_from,
        }
        return serialize.dumps(payload)

    def redispatch(self, dispatch_id: str, request: RedispatchRequest) -> str:
        data = self._json(
            "POST",
            f"/dispatches/{_segment(dispatch_id)}/redispatch",
            content=self._redispatch_body(request),
            headers={"Content-Type": "application/octet-stream"},
        )
        return str(data["dispatch_id"])

    def plan(self, dispatch_id: str, request: RedispatchRequest) -> Plan:
        """The server's plan; its ``prepared`` is None (the server keeps that)."""
        data = self._json(
            "POST",
            f"/dispatches/{_segment(dispatch_id)}/redispatch/plan",
            content=self._redispatch_body(request),
            headers={"Content-Type": "application/octet-stream"},
        )
        decisions = [
            Decision(
                d["node_id"],
                d["name"],
                d["kind"],
                d["action"],
                d["code"],
                d["text"],
                tuple(d["reused_from"]) if d["reused_from"] else None,
            )
            for d in data["decisions"]
        ]
        return Plan(data["parent_id"], decisions, prepared=None)  # type: ignore[arg-type]

    def cancel(self, dispatch_id: str, task_ids: list[int] | None = None) -> str:
        body = {"task_ids": task_ids}
        return str(
            self._json("POST", f"/dispatches/{_segment(dispatch_id)}/cancel", json=body)["message"]
        )

    def delete(self, dispatch_id: str, *, dry_run: bool = False) -> PurgeReport:
        query = "?dry_run=true" if dry_run else ""
        return PurgeReport(**self._json("DELETE", f"/dispatches/{_segment(dispatch_id)}{query}"))

    def register_trigger(self, trigger: Any) -> int:
        data = self._json(
            "POST",
            "/triggers",
            content=serialize.dumps(trigger),
            headers={"Content-Type": "application/octet-stream"},
        )
        return int(data["trigger_id"])

    def stop_triggers(self, dispatch_ids: list[str]) -> int:
        data = self._json("POST", "/triggers/stop", json={"dispatch_ids": list(dispatch_ids)})
        return int(data["stopped"])

    def list_triggers(self, dispatch_ids: list[str] | None = None) -> list[TriggerRecord]:
        params = {"dispatch_id": list(dispatch_ids)} if dispatch_ids is not None else None
        rows = self._json("GET", "/triggers", params=params)["triggers"]
        return [TriggerOut.model_validate(row).record(spec=b"") for row in rows]

    def purge(self, older_than: timedelta, *, dry_run: bool = False) -> PurgeReport:
        params = {"older_than": f"{older_than.total_seconds()}s", "dry_run": dry_run}
        return PurgeReport(**self._json("POST", "/purge", params=params))

    # ---- reads ------------------------------------------------------------------------
    def resolve_id(self, prefix: str) -> str:
        prefix = dispatch_prefix(prefix)
        return str(self._json("GET", f"/dispatches/{_segment(prefix)}/status")["dispatch_id"])

    def status(self, dispatch_id: str) -> st.Status:
        return st.as_status(
            self._json("GET", f"/dispatches/{_segment(dispatch_id)}/status")["status"]
        )

    def wait(self, dispatch_id: str, timeout: float | None) -> bool:
        """Long-poll until the dispatch is finished; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
            data = self._json(
                "GET",
                f"/dispatches/{_segment(dispatch_id)}/wait",
                params={"timeout": min(left, POLL_S)},
            )
            if data["done"]:
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        return DispatchOut.model_validate(
            self._json("GET", f"/dispatches/{_segment(dispatch_id)}")
        ).record()

    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]:
        """The nodes, as one table; ``streams=False`` leaves their stdout/stderr out (None)."""
        table = self._json(
            "GET",
            f"/dispatches/{_segment(dispatch_id)}/nodes",
            params={"layout": "table", "streams": streams},
        )
        try:
            return nodes_from_table(table)
        except WireFormatError as exc:
            raise ServerError(f"server at {self.url}: {exc}") from exc

    def get_edges(self, dispatch_id: str) -> list[EdgeRecord]:
        graph = self._json("GET", f"/dispatches/{_segment(dispatch_id)}/graph?edges=true")
        edges = graph["edges"]
        return [
            EdgeRecord(
                dispatch_id, e["source"], e["target"], e["name"], e["param_type"], e["arg_index"]
            )
            for e in edges
        ]

    def get_blob(self, digest: str) -> bytes:
        return self.request("GET", f"/blobs/{check_digest(digest)}").content

    def get_blobs(self, digests: Sequence[str]) -> dict[str, bytes]:
        """Several blobs in few requests (framed bytes); missing ones are left out."""
        wanted = list(dict.fromkeys(check_digest(d) for d in digests))
        found: dict[str, bytes] = {}
        while wanted:
            batch, wanted = wanted[:BLOBS_PER_REQUEST], wanted[BLOBS_PER_REQUEST:]
            response = self.request(
                "POST",
                "/blobs/batch",
                json={"digests": batch},
                headers={"Accept": BLOBS_MEDIA_TYPE},
            )
            try:
                got, _, omitted = unpack_blobs(response.content)
            except WireFormatError as exc:
                raise ServerError(f"server at {self.url}: {exc}") from exc
            asked = set(batch)
            found.update((d, data) for d, data in got.items() if d in asked)
            omitted = [d for d in omitted if d in asked and d not in found]
            if omitted and not got:
                raise ServerError(f"server at {self.url} sent none of the blobs asked for")
            wanted = omitted + wanted  # left out to bound one response: ask again
        return found

    def result(self, dispatch_id: str) -> Result:
        """The Result; its nodes and values are read when first asked for, as embedded."""
        record = self.get_dispatch(dispatch_id)
        return Result(_Reader(self, record.result_digest), record)

    def list_dispatches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DispatchRecord]:
        params = {"status": status, "name": name, "limit": limit, "offset": offset}
        params.update({"since": _iso(since), "until": _iso(until)})
        found = self._list(params)
        return [DispatchSummary.model_validate(item).record() for item in found["items"]]

    def list_with_progress(self, **filters: Any) -> list[tuple[DispatchRecord, dict[str, int]]]:
        """``list_dispatches`` with each dispatch's node count per status (one request)."""
        for key in ("since", "until"):
            filters[key] = _iso(filters.get(key))
        items = self._list(filters)["items"]
        return [(DispatchSummary.model_validate(i).record(), dict(i["progress"])) for i in items]

    def _list(self, params: dict[str, Any]) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._json("GET", "/dispatches", params=clean)

    def node_counts(self, dispatch_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        return {
            did: dict(self._json("GET", f"/dispatches/{_segment(did)}")["progress"])
            for did in dispatch_ids
        }


class _Reader:
    """What a Result reads through: blobs cached; node outputs read one at a time are
    fetched a batch ahead (a loop over ``get_node_result`` costs a few requests)."""

    def __init__(self, backend: HttpBackend, result_digest: str | None = None) -> None:
        self._backend = backend
        self._result_digest = result_digest
        self._nodes: list[NodeRecord] = []
        self._outputs: list[str] = []  # output digests of the nodes read, in node order
        self._cache: dict[str, bytes] = {}

    def get_dispatch(self, dispatch_id: str) -> DispatchRecord:
        return self._backend.get_dispatch(dispatch_id)

    def get_nodes(self, dispatch_id: str, *, streams: bool = True) -> list[NodeRecord]:
        nodes = self._backend.get_nodes(dispatch_id, streams=streams)
        if not self._nodes:
            self._nodes = nodes
            self._outputs = list(dict.fromkeys(n.output_digest for n in nodes if n.output_digest))
        return nodes

    def get_node(self, dispatch_id: str, node_id: int) -> NodeRecord:
        """The node with its stdout and stderr (two small requests)."""
        base = f"/dispatches/{_segment(dispatch_id)}/nodes/{int(node_id)}"
        stdout = self._backend.request("GET", base + "/stdout").text
        stderr = self._backend.request("GET", base + "/stderr").text
        known = self._nodes if self._nodes and self._nodes[0].dispatch_id == dispatch_id else []
        nodes = known or self.get_nodes(dispatch_id, streams=False)
        found = [n for n in nodes if n.node_id == node_id]
        if not found:
            raise NodeNotFoundError(f"dispatch {dispatch_id!r} has no node {node_id}")
        return replace(found[0], stdout=stdout, stderr=stderr)

    def get_edges(self, dispatch_id: str) -> list[EdgeRecord]:
        return self._backend.get_edges(dispatch_id)

    def get_blobs(self, digests: Sequence[str]) -> dict[str, bytes]:
        """Every one of ``digests`` (BlobMissingError if the server has one not)."""
        wanted = [d for d in dict.fromkeys(digests) if d not in self._cache]
        self._cache.update(self._backend.get_blobs(wanted))
        for digest in digests:
            if digest not in self._cache:
                raise BlobMissingError(
                    f"no blob {digest} on the server at {self._backend.url}; "
                    "it was never stored or was garbage-collected"
                )
        return {digest: self._cache[digest] for digest in digests}

    def get_blob(self, digest: str) -> bytes:
        data = self._cache.get(digest)
        if data is not None:
            return data
        if digest != self._result_digest and digest in self._outputs:
            others = [d for d in self._outputs if d not in self._cache and d != digest]
            self._cache.update(self._backend.get_blobs([digest, *others[: BATCH - 1]]))
            if digest in self._cache:
                return self._cache[digest]
        data = self._cache[digest] = self._backend.get_blob(digest)
        return data


def _dump_submission(lattice: Lattice, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    try:
        return serialize.dumps(
            {"lattice": serialize.dumps(lattice), "args": args, "kwargs": kwargs}
        )
    except SerializationError:
        for name, value in lattice.bind_inputs(args, kwargs).arguments.items():
            try:
                serialize.dumps(value)
            except SerializationError as exc:
                raise SerializationError(
                    f"argument {name!r} of lattice {lattice.name} cannot be serialized: {exc}"
                ) from exc
        raise


def _segment(dispatch_id: str) -> str:
    """A dispatch id as one URL path segment: ``6?x=1`` or ``6/nodes`` never reach a route."""
    return quote(dispatch_prefix(dispatch_id), safe="")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()

"""Fuzz the REST API from its own OpenAPI schema (schemathesis) and count server errors.

Starts a real server on 127.0.0.1 (a free port, a throw-away valence home),
records a few dispatches, then sends every operation of ``/api/v1/openapi.json``
schemathesis-generated requests: valid ones (``positive``) and invalid ones
(``negative``), with the token; path ids are sometimes real dispatch ids so
the requests reach past the 404s. Long polls are clamped to one second.
Prints how many requests were sent per status class and every 5xx; exits 1
if the server answered any request with a 5xx.

    python checks/fuzz_api.py                  # 60 examples per operation and mode
    python checks/fuzz_api.py --examples 10    # quicker
    python checks/fuzz_api.py --database-url postgresql+psycopg://...   # an empty database
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN = "fuzz-token"


@dataclass
class Report:
    """What the fuzzer sent and what came back."""

    requests: int = 0
    by_class: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)  # one line per 5xx
    skipped: list[str] = field(default_factory=list)  # operation/mode pairs nothing fits

    def add(self, method: str, path: str, status: int, body: str) -> None:
        self.requests += 1
        self.by_class[f"{status // 100}xx"] += 1
        if status >= 500:
            self.errors.append(f"{status} {method} {path}: {body[:300]}")

    def summary(self) -> str:
        classes = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_class.items()))
        return f"{self.requests} requests ({classes}); {len(self.errors)} answered 5xx"


def seed_dispatches(url: str) -> list[str]:
    """A few finished dispatches (one failed, one with a sublattice) to aim requests at."""
    import valence as ct

    @ct.electron
    def add(a, b):
        print("adding", a, b)
        return a + b

    @ct.electron
    def boom(x):
        raise ValueError(f"boom {x}")

    @ct.lattice
    def inner(x):
        return add(x, 1)

    @ct.lattice
    def flow(a, b=2):
        return add(add(a, b), ct.electron(inner)(a))

    @ct.lattice
    def failing(x):
        return boom(x)

    ids = [
        ct.dispatch(flow, dispatcher_addr=url)(1),
        ct.dispatch(flow, dispatcher_addr=url)(3, b=4),
        ct.dispatch(failing, dispatcher_addr=url)(1),
    ]
    for dispatch_id in ids:
        ct.get_result(dispatch_id, wait=True, dispatcher_addr=url, timeout=60)
    return ids


def fuzz(url: str, token: str, dispatch_ids: list[str], examples: int) -> Report:
    """Send ``examples`` generated requests per operation and mode; return the report."""
    import hypothesis.strategies as st
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode

    auth = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(url + "/api/v1/openapi.json", headers=auth)
    report = Report()
    budget = settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    for found in schema.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @budget
            @given(
                case=operation.as_strategy(generation_mode=mode),
                real=st.sampled_from([None, *dispatch_ids]),
            )
            def send(case: Any, real: str | None) -> None:
                params = case.path_parameters or {}
                if real is not None and "dispatch_id" in params:
                    params["dispatch_id"] = real
                query = case.query or {}
                if isinstance(query.get("timeout"), (int, float)) and query["timeout"] > 1:
                    query["timeout"] = 1
                response = case.call(base_url=url, headers=auth, timeout=60)
                report.add(
                    case.method, response.request.path_url, response.status_code, response.text
                )

            try:
                send()
            except Exception as exc:  # e.g. no example fits a binary-only body in this mode
                report.skipped.append(f"{operation.label} [{mode}]: {type(exc).__name__}: {exc}")
    return report


def run(examples: int, home: Path, database_url: str | None = None) -> Report:
    """Start a server over ``home`` (and ``database_url``), seed it, fuzz it; stop it."""
    os.environ.update(VALENCE_HOME=str(home), VALENCE_TOKEN=TOKEN, VALENCE_EXECUTOR="thread")
    os.environ.pop("VALENCE_SERVER", None)
    os.environ.pop("VALENCE_DATABASE_URL", None)
    if database_url:
        os.environ["VALENCE_DATABASE_URL"] = database_url
    from valence.backends.http import close_all
    from valence.engine.runtime import Runtime
    from valence.server.serve import BackgroundServer

    runtime = Runtime.open()
    server = BackgroundServer(runtime, token=TOKEN)
    url = server.start()
    try:
        return fuzz(url, TOKEN, seed_dispatches(url), examples)
    finally:
        close_all()
        server.stop()
        runtime.dispatcher.wait_all(60)
        runtime.store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="per operation and mode")
    parser.add_argument("--database-url", help="an empty database to use (default: SQLite)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        report = run(options.examples, Path(home), options.database_url)
    print(report.summary())
    for line in report.skipped:
        print("skipped:", line)
    for line in report.errors:
        print("5xx:", line)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())

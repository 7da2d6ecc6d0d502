"""A short schemathesis run against the real server's OpenAPI schema finds no 5xx.

The full run is ``python checks/fuzz_api.py`` (more examples per operation).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests import workflows as wf
from tests.server.rest import TOKEN, finish, submit

SCRIPT = Path(__file__).parents[2] / "checks" / "fuzz_api.py"


def load_checker():
    spec = importlib.util.spec_from_file_location("valence_checks_fuzz_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(api, server):
    ids = [
        submit(api, wf.plain_howto, 1, 2),
        submit(api, wf.failing, 1),
        submit(api, wf.with_sublattice, 2),
    ]
    for did in ids:
        finish(api, did)
    report = load_checker().fuzz(server.url, TOKEN, ids, examples=4)
    assert report.errors == [], "\n".join(report.errors)
    assert report.requests > 150, report.summary()
    assert report.by_class["2xx"] > 10, report.summary()  # real ids reached real answers

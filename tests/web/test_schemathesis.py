"""schemathesis over every operation of ``GET /api/v1/openapi.json`` (issue 11, item 7):
whatever it sends, a real server never answers 500, and every answer is one the
description declares (status, content type, body schema, headers).

The app runs on a real threaded HTTP server (``live_server``, SQLite), seeded through its
own API and the ingest service so that generated requests can reach real objects: the
seeded ids are a dictionary schemathesis draws strings from. The run is made once with an
admin's bearer token and once with an officer's. The operations are read from the
description at run time, so a route declared later is covered without touching this file.

The run is bounded and reproducible: ``EXAMPLES`` fuzzed requests per operation (plus
schemathesis's coverage cases, positive and negative), derandomized, no deadline: about
1-3 s per operation and role on two busy cores (pytest-timeout gives each role 300 s).
A failure names the role, the operation and every check that failed, with the request
to reproduce it.
"""

from __future__ import annotations

import importlib
import io
import pkgutil
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.core.result import Ok
from schemathesis.engine import events

from tests.conftest import LiveServer
from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import SourceKind
from vms.ingest import IngestRequest


def _import_all(package: Any) -> None:
    """Import every module of ``package`` now, at collection, not lazily inside the test:
    pytest rewrites a plugin's modules as they are imported (schemathesis is a pytest
    plugin), and CPython 3.11's parser can fail with "AST constructor recursion depth
    mismatch" when that happens while the live server's threads run (seen once in CI)."""
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            importlib.import_module(module.name)
        except ImportError:
            continue  # optional extras (GraphQL ...) this run does not use


_import_all(schemathesis)
# WHEP offers (POST /cameras/{id}/whep, issue 12.1) are SDP: text on the wire.
schemathesis.serializer.alias("application/sdp", "text/plain")


pytestmark = pytest.mark.slow  # the rest tier (tests/conftest.py: is_fast)

ROLES = ("admin", "officer")
EXAMPLES = 20  # fuzzed requests per operation and role (plus the coverage phase's)
SEED = 11
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def seed(live: LiveServer, tokens: dict[str, str]) -> list[str]:
    """Real objects for the requests to reach; returns their ids and names."""
    who = Who("schemathesis-setup", "admin")
    media = [
        live.services.ingestor.ingest(
            io.BytesIO(make_video(seconds=0.5, seed=n)),
            IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
            who,
        ).media_id
        for n in range(2)
    ]
    known = ["BWC-1", "BWC-2", "B1", "B2", "S1", "officer", "admin", *media]
    with httpx.Client(base_url=live.url, timeout=30) as http:

        def call(role: str, method: str, path: str, **kwargs: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            r = http.request(method, path, headers=headers, **kwargs)
            assert r.status_code < 300, (method, path, r.status_code, r.text)
            return r.json()

        call("admin", "PUT", "/api/v1/devices/BWC-2/officers/B2", json={"kind": "dash"})
        request = call(
            "commander",
            "POST",
            "/api/v1/preservation-requests",
            json={
                "request_number": "PR-2026-001",
                "requester": {"name": "A. Counsel", "organization": "City", "contact": "x@y"},
                "received_at": "2026-11-20T09:00:00Z",
                "received_via": "written",
                "reason": "claim about an incident",
                "litigation_anticipated": True,
                "case_number": "C-1",
                "scope": [],
                "media_ids": media[:1],
            },
        )
        known += [request["id"], "PR-2026-001", "C-1"]
    return known


def configure(live: LiveServer, token: str, known: list[str]) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # No "max-time": with one, schemathesis fuzzes until the time is up.
            "base-url": live.url,
            "headers": {"Authorization": f"Bearer {token}"},
            "dictionaries": {"known": {"values": known}},
            "generation": {
                "max-examples": EXAMPLES,
                "deterministic": True,
                "database": "none",
                # The token is ours: schemathesis is not to make up credentials.
                "with-security-parameters": False,
                # Some strings are ids of the seeded objects, so requests reach them.
                "dictionaries": {"string": {"dictionary": "known", "probability": 0.3}},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            # schemathesis's own value sources (constants read from our Python source,
            # values seen in responses and error messages) narrowed generation to a few
            # values (DELETE /devices/... got one fuzzed request); the dictionary above
            # does their job, and the fuzzing stays fuzzing. No stateful phase (no links
            # are declared), no cache left on disk.
            "analysis": {"constants": {"enabled": False}},
            "phases": {
                "stateful": {"enabled": False},
                "fuzzing": {
                    "extra-data-sources": {"responses": False},
                    "error-feedback": {"enabled": False},
                },
            },
            "cache": {"enabled": False},
        }
    )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_keeps_its_contract(
    live_server: LiveServer, tokens: dict[str, str], role: str
) -> None:
    known = seed(live_server, tokens)
    # Loaded from the served document (not from_url): schemathesis skips the operation
    # that serves the document it was loaded from, and openapi.json is an operation too.
    description = httpx.get(f"{live_server.url}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(
        description, config=configure(live_server, tokens[role], known)
    )
    # An operation schemathesis cannot read is an error event of the run (below).
    described = {op.ok().label for op in schema.get_all_operations() if isinstance(op, Ok)}
    # (operation, check, what) -> how to reproduce it; one entry per distinct failure
    # (schemathesis reports a failure again for each request that shows it).
    failures: dict[tuple[str, str, str], str] = {}
    tested: dict[str, int] = {}
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            tested[recorder.label] = tested.get(recorder.label, 0) + len(recorder.interactions)
            for checks in recorder.checks.values():
                for check in checks:
                    info = check.failure_info
                    if info is not None:
                        what = f"{info.failure.title}\n{info.failure.message}".strip()
                        failures.setdefault((recorder.label, check.name, what), info.code_sample)
        elif isinstance(event, events.NonFatalError):
            failures.setdefault((event.label, "(run)", event.info.format()), "")
        elif isinstance(event, events.FatalError):
            failures.setdefault(("(all)", "(run)", repr(event.exception)), "")
    assert not failures, f"{len(failures)} distinct failures as {role}:\n\n" + "\n\n".join(
        f"{label} as {role}: {check} failed: {what}\n{sample}"
        for (label, check, what), sample in failures.items()
    )
    untested = sorted(label for label in described if not tested.get(label))
    assert not untested, f"operations no request was sent to, as {role}: {untested}"
    print(f"as {role}:", ", ".join(f"{label}: {n}" for label, n in sorted(tested.items())))

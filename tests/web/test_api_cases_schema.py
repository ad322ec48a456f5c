"""schemathesis against the cases and bookmarks routes (issue 15.3) with an admin's and an
officer's token: whatever it sends (random path ids, bodies, query strings), never a
500 and never an answer that breaks the route's declared schema.

Not checked: schemathesis's "schema-valid data is accepted" (a range ending before it
starts, a time in the future or an unknown item are valid JSON for the schema and
refused by the service with a 400 naming the value, by design)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from vms.services import Services

pytestmark = pytest.mark.slow  # ~1 min per backend: the rest tier

ROUTES = r"^/api/v1/(cases|bookmarks)"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_cases_routes_keep_their_openapi_promises(
    app: Any, services: Services, tokens: dict[str, str]
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app).include(path_regex=ROUTES)
    operations = [result.ok() for result in schema.get_all_operations()]
    routes = {(op.method.upper(), op.path.removeprefix("/api/v1")) for op in operations}
    assert routes == {
        ("GET", "/cases"),
        ("POST", "/cases"),
        ("GET", "/cases/{number}"),
        ("POST", "/cases/{number}/items"),
        ("POST", "/bookmarks"),
        ("GET", "/bookmarks"),
    }
    for user in ("admin", "officer"):
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        for op in operations:

            @settings(
                max_examples=25,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=op.as_strategy())
            def check(case: Any) -> None:
                response = case.call(headers=headers)
                assert response.status_code < 500, (case.path, response.text)
                case.validate_response(response, checks=CHECKS)

            check()

"""A NUL character in a path value or a JSON string sent to a media node's internal API
(web/internal.py; issue 13.2), on both databases.

The public app refuses a path value with a NUL before anything is looked up
(web/hardening.py refuse_nul_in_path, tests/security/test_nul_paths.py): PostgreSQL
cannot hold a NUL in a text value, so a look-up or an audit entry under it failed in the
driver, a 500. The node's app is built apart from the public one and serves the same
camera handlers: the same request forwarded to it must get the same 404 naming the
parameter and the value, and a JSON body with a NUL the same 4xx, never a 500 (ACC-6: a
refusal is audited, so it must be writable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recorder.engine import get as get_recorder
from tests.conftest import make_config
from tests.recorder.conftest import sim as sim  # the fixture: one simulated camera
from tests.security.test_fuzz_routes import build_path
from tests.security.test_internal_api_lease import camera as camera  # onboarded, stopped after
from vms.config import Config
from vms.services import Services
from web.internal import create_internal_app
from web.nodes import CREDENTIAL_HEADER, FORWARDED, internal_token

NUL = "a\x00b"


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(data_dir, url)


def node_headers(services: Services, token: str) -> dict[str, str]:
    found = services.users.authenticate_token(token)
    assert found is not None
    return {
        "Authorization": f"Bearer {internal_token(services)}",
        CREDENTIAL_HEADER: f"{found.credential.kind}:{found.credential.digest}",
    }


def test_a_nul_in_a_path_value_is_a_404_naming_it_on_every_node_route(
    services: Services, camera: str, tokens: dict[str, str]
) -> None:
    get_recorder(services).start()  # a node whose media engine runs
    app = create_internal_app(services)
    node: Any = app.test_client()
    headers = node_headers(services, tokens["admin"])
    wrong, tried = [], 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in FORWARDED:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            tried += 1
            path = build_path(rule.rule, dict.fromkeys(rule.arguments, NUL))
            r = node.open(path, method=method, headers=headers, json={})
            message = (r.get_json(silent=True) or {}).get("error", {}).get("message", "")
            if r.status_code != 404 or repr(NUL) not in message:
                wrong.append(f"{method} {rule.rule}: {r.status_code} {message[:160]!r}")
    assert tried >= len(FORWARDED)  # every forwarded route was reached
    assert not wrong, "\n".join(wrong)


def test_a_nul_in_a_json_string_sent_to_the_node_is_a_4xx_naming_it(
    services: Services, camera: str, tokens: dict[str, str]
) -> None:
    get_recorder(services).start()
    node: Any = create_internal_app(services).test_client()
    headers = node_headers(services, tokens["admin"])
    base = f"/api/v1/cameras/{camera}"
    sent = [
        ("POST", f"{base}/ptz/session", {"purpose": NUL}),
        ("POST", f"{base}/ptz/session", {"purpose": "incident", "incident_number": NUL}),
        ("POST", f"{base}/ptz/session", {"purpose": "incident", "note": NUL}),
        ("POST", f"{base}/ptz/command", {"session_id": NUL, "op": "stop"}),
        ("POST", f"{base}/ptz/command", {"session_id": "x", "op": NUL}),
        ("POST", f"{base}/ptz/command", {"session_id": "x", "op": "goto_preset", NUL: 1}),
        ("POST", f"{base}/ptz/command", {"session_id": "x", "op": "goto_preset", "preset": NUL}),
        ("POST", f"{base}/whep", {"sdp": NUL}),
        ("DELETE", f"{base}/ptz/session?session_id=a%00b", None),
    ]
    wrong = []
    for method, path, body in sent:
        r = node.open(path, method=method, headers=headers, json=body)
        error = (r.get_json(silent=True) or {}).get("error", {})
        if not 400 <= r.status_code < 500 or not error.get("message"):
            wrong.append(f"{method} {path} {body!r}: {r.status_code} {error!r}"[:300])
    assert not wrong, "\n".join(wrong)

"""Every route of the app, fuzzed with hostile queries, bodies and path values (issue #10).

The routes are read from the app's own URL map, so a route added later is fuzzed without
touching this file. Whatever arrives, the answer is success or an error of a known kind
with a message, never a 500; afterwards the audit chain still verifies (INV-4) and every
catalogued file is still in the store (INV-1).

Values are the ones that broke the server before: absurd dates at the edges of the
calendar with extreme offsets, naive times, integers past 64 bits, control and bidi
characters, path tricks, deep nesting. Field names come from the code itself (every
string the handlers and request parsers read), so a new field is fuzzed too.

No value can make the server reach another host: any field whose name says it holds an
address gets a loopback URL on a closed port (the workplace allows loopback traffic only).
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import os
import re
import textwrap
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD
from tests.retention.conftest import WHO, document
from tests.web.test_api_fuzz import KINDS as FUZZ_KINDS
from vms.check import Level, check
from vms.db.models import SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

ROOT = Path(__file__).resolve().parents[2]

# The error kinds the API answers with (those of the upload fuzz, and two more that only
# other routes give).
KINDS = FUZZ_KINDS | {"unsupported_media_type", "unavailable"}

HOSTILE_TEXT = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
    "2026-01-01T00:00:00",  # naive
    "2026-13-45T25:61:61Z",
    "9999-12",
    "0000-00",
    "0001-01",
    "99999999999999999999999",
    "-99999999999999999999999",
    "18446744073709551616",
    "-1",
    "0",
    "1e999",
    "NaN",
    "inf",
    "",
    " ",
    "\x00",
    "a\r\nSet-Cookie: x=y",
    "\u202etxt.exe",
    "../../../etc/passwd",
    "%00",
    "x" * 5000,
    "\U0001f3a5",
    "null",
    "[]",
    "2026-01-01T00:00:00Z|2026-01-02T00:00:00Z",
]

LOOPBACK_URLS = [
    "http://127.0.0.1:9/onvif/device_service",  # discard port: nothing listens
    "rtsp://u:p@127.0.0.1:9/stream",
    "http://[::1]:9/",
]
ADDRESS_FIELD = re.compile(r"url|uri|host|address|endpoint", re.IGNORECASE)

FUZZ = settings(
    # Examples per route and role; more in a soak run: VMS_FUZZ_EXAMPLES=500.
    max_examples=int(os.environ.get("VMS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def field_names() -> list[str]:
    """Every string the request handlers and request parsers read as a key.

    Collected from subscripts (``body["x"]``) and ``.get("x")`` calls in ``web/`` and in
    the modules that parse request bodies.
    """
    files = [*sorted((ROOT / "web").rglob("*.py"))]
    for package in ("vms", "retention", "onvif_control", "privacy_masks", "recorder"):
        files += [p for p in sorted((ROOT / package).rglob("*.py")) if "simulator" not in p.parts]
    names: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            key: ast.expr | None = None
            if isinstance(node, ast.Subscript):
                key = node.slice
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"get", "getlist", "pop"}
                and node.args
            ):
                key = node.args[0]
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and re.fullmatch(r"[a-z][a-z0-9_]{1,30}", key.value)
            ):
                names.add(key.value)
    return sorted(names)


FIELDS = field_names()


def view_fields(view: Any) -> list[str]:
    """The names a view function itself mentions (``_arg("start")``, ``body["x"]``...)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(view)))
    return sorted(
        {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"[a-z][a-z0-9_]{1,30}", node.value)
        }
    )


hostile_text = st.sampled_from(HOSTILE_TEXT) | st.text(max_size=30)
scalars = (
    st.none()
    | st.booleans()
    | st.sampled_from([2**64, -(2**64), 10**30, -1, 0, 1.5e308, -0.0])
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | hostile_text
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner),
    max_leaves=8,
)


def fields_for(local: list[str]) -> st.SearchStrategy[str]:
    """Mostly the route's own names, then any name the code reads, then anything."""
    every = st.sampled_from(FIELDS) | st.text(min_size=1, max_size=8)
    return st.sampled_from(local) | st.sampled_from(local) | every if local else every


def _safe_address(key: str, value: Any) -> Any:
    """Fields that hold an address only ever get a loopback URL on a closed port."""
    if ADDRESS_FIELD.search(key):
        return LOOPBACK_URLS[hash(repr(value)) % len(LOOPBACK_URLS)]
    return value


@st.composite
def bodies(draw: st.DrawFn, field: st.SearchStrategy[str]) -> tuple[bytes, str]:
    """A request body and its content type: a JSON object of known fields, any JSON, or junk."""
    kind = draw(st.sampled_from(["object", "object", "object", "json", "junk"]))
    if kind == "junk":
        return draw(st.binary(max_size=200)), draw(
            st.sampled_from(["application/json", "text/plain", "application/octet-stream"])
        )
    if kind == "json":
        return json.dumps(draw(json_values)).encode(), "application/json"
    pairs = draw(st.lists(st.tuples(field, json_values), max_size=8))
    obj = {k: _safe_address(k, v) for k, v in pairs}
    return json.dumps(obj).encode(), "application/json"


def queries(field: st.SearchStrategy[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(field, hostile_text), max_size=4).map(
        lambda pairs: [(k, str(_safe_address(k, v))) for k, v in pairs]
    )


def routes(app: Flask, *, prefix: str) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """(rule, method, path arguments, names the view reads) for each route under ``prefix``."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or []))):
        if not rule.rule.startswith(prefix) or rule.endpoint.endswith("static"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            local = view_fields(app.view_functions[rule.endpoint])
            yield rule.rule, method, sorted(rule.arguments), local


def build_path(rule: str, values: dict[str, str]) -> str:
    path = rule
    for name, value in values.items():
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", urllib.parse.quote(value, safe=""), path)
    return path


def assert_sane(response: Any, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.data[:300]!r}"
    if response.status_code >= 400 and response.mimetype == "application/json":
        error = response.get_json()["error"]
        assert error["kind"] in KINDS and error["message"], f"{what}: {error}"


def known_ids(services: Services, client: FlaskClient, tokens: dict[str, str]) -> list[str]:
    """Real ids of the things the routes address, so the fuzz reaches past the 404s."""
    item = services.ingestor.ingest(
        io.BytesIO(document()),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        WHO,
    ).media_id
    upload = client.post(
        "/api/v1/uploads",
        headers={"Authorization": f"Bearer {tokens['officer']}"},
        json={
            "filename": "f.mp4",
            "size": 1000,
            "sha256": "a" * 64,
            "source": "bwc",
            "device_id": "BWC-1",
        },
    ).get_json()
    ids = [item, "1", "0", "CAM-1", "B1"]
    if isinstance(upload, dict) and "id" in upload:
        ids.append(str(upload["id"]))
    return ids


def fuzz_routes(
    client: FlaskClient,
    api: list[tuple[str, str, list[str], list[str]]],
    ids: list[str],
    headers: dict[str, str],
) -> None:
    """Fuzz every route; fail once at the end naming every route that broke (each shrunk)."""
    broken: list[str] = []
    for rule, method, arguments, local in api:
        try:
            fuzz_route(client, rule, method, arguments, fields_for(local), ids, headers)
        except AssertionError as exc:
            broken.append(str(exc).splitlines()[0])
    assert not broken, "\n".join(broken)


def fuzz_route(
    client: FlaskClient,
    rule: str,
    method: str,
    arguments: list[str],
    field: st.SearchStrategy[str],
    ids: list[str],
    headers: dict[str, str],
) -> None:
    """Send hostile path values, queries and (for unsafe methods) bodies to one route."""
    has_body = method in {"POST", "PUT", "PATCH"}

    @FUZZ
    @given(
        path_values=st.fixed_dictionaries(
            {a: st.sampled_from(ids) | hostile_text for a in arguments}
        ),
        query=queries(field),
        body=bodies(field) if has_body else st.just((b"", "")),
    )
    def run(
        path_values: dict[str, str], query: list[tuple[str, str]], body: tuple[bytes, str]
    ) -> None:
        path = build_path(rule, path_values)
        data, content_type = body
        try:
            response = client.open(
                path,
                method=method,
                query_string=query,
                data=data,
                content_type=content_type or None,
                headers=headers,
                buffered=False,
            )
        except ValueError:
            return  # the test client itself refuses the request: it never reaches us
        try:
            assert_sane(response, f"{method} {path} {query}")
        finally:
            response.close()

    run()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize("role", ["admin", "officer"])
def test_every_api_route_answers_hostile_input_without_a_500(
    role: str, app: Flask, client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    ids = known_ids(services, client, tokens)
    headers = {"Authorization": f"Bearer {tokens[role]}"}
    api = list(routes(app, prefix="/api/"))
    assert len(api) >= 40  # the URL map was really walked
    fuzz_routes(client, api, ids, headers)
    assert services.audit.verify(services.db) is None
    assert check(services.db, services.store, Level.SIZE).clean


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_every_page_answers_hostile_queries_without_a_500(
    app: Flask, client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    ids = known_ids(services, client, tokens)
    client.get("/login")
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    signed_in = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf}
    )
    assert signed_in.status_code == 302
    pages = [
        route
        for route in routes(app, prefix="/")
        if not route[0].startswith("/api/") and route[1] == "GET" and route[0] != "/login"
    ]
    fuzz_routes(client, pages, ids, {})


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_deeply_nested_json_is_refused_on_every_route_with_a_body(
    app: Flask, client: FlaskClient, tokens: dict[str, str]
) -> None:
    """A 100,000-deep JSON document gave a 500 on every JSON route (#10.6)."""
    deep = b"[" * 100_000 + b"]" * 100_000
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    for rule, method, arguments, _ in routes(app, prefix="/api/"):
        if method not in {"POST", "PUT", "PATCH"}:
            continue
        path = build_path(rule, dict.fromkeys(arguments, "1"))
        response = client.open(
            path, method=method, data=deep, content_type="application/json", headers=headers
        )
        assert_sane(response, f"{method} {path}")

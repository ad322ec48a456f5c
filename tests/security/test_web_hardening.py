"""Abuse of the web layer (issue 10, items 6 and 13): huge bodies, huge passwords, deep
JSON, and the small leaks of a hostile review. Each case failed before its fix."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.conftest import LiveServer
from tests.media import make_video
from tests.web.test_api_auth import _login
from vms.audit.log import Who
from vms.db.models import AuditEntry, RecordingGap, SourceKind
from vms.errors import InvalidArgument
from vms.ingest import IngestRequest
from vms.services import Services
from web.app import create_app
from web.hardening import serve_options

MiB = 1024**2
MAX_PASSWORD_BYTES = 1024  # vms.auth.passwords.MAX_PASSWORD_BYTES (issue 10, item 6)


def h(tokens: dict[str, str], who: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[who]}"}


def raw_request(url: str, head: str, body: bytes, *, timeout: float) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` on a fresh socket; the first bytes of the answer and how
    long they took."""
    parts = urlsplit(url)
    started = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after its answer
            answer += chunk
    return answer, time.perf_counter() - started


# -- item 6: body limits ---------------------------------------------------------------


def test_body_over_the_limit_is_413_with_a_json_reason(client: FlaskClient) -> None:
    body = json.dumps({"username": "admin", "password": "x" * (2 * MiB)})
    r = client.post("/api/v1/auth/token", data=body, content_type="application/json")
    assert r.status_code == 413
    error = r.get_json()["error"]
    assert error["kind"] == "too_large"
    assert f"({len(body)} bytes) exceeds the {MiB}-byte limit" in error["message"]


def test_declared_200_mb_body_is_refused_without_waiting_for_it(
    live_server: LiveServer,
) -> None:
    """The server answers 413 from the Content-Length alone: it never reads (or waits
    for) the 200 MB an unauthenticated client announces."""
    head = (
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * 1000**2}\r\n\r\n"
    )
    answer, took = raw_request(live_server.url, head, b'{"username": "admin", ', timeout=10)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"too_large"' in answer
    assert took < 5


def test_chunked_body_without_length_stops_at_the_limit(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"username": "admin", "password": "'
        for _ in range(40):
            yield b"x" * (64 * 1024)
        yield b'"}'

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        r = http.post(
            "/api/v1/auth/token", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["kind"] == "too_large"


def test_upload_chunks_keep_the_chunk_limit(client: FlaskClient, tokens: dict[str, str]) -> None:
    data = os.urandom(3 * MiB)
    r = client.post(
        "/api/v1/uploads",
        json={
            "filename": "big.mp4",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "source": "bwc",
            "device_id": "BWC-9",
        },
        headers=h(tokens, "officer"),
    )
    assert r.status_code == 201, r.get_json()
    r = client.put(
        f"/api/v1/uploads/{r.get_json()['id']}",
        data=data,
        headers={**h(tokens, "officer"), "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["received"] == len(data)


# -- item 6: passwords -----------------------------------------------------------------


def test_over_long_password_is_refused_before_hashing(client: FlaskClient) -> None:
    password = "p" * (MAX_PASSWORD_BYTES + 1)
    r = client.post("/api/v1/auth/token", json={"username": "admin", "password": password})
    assert r.status_code == 400
    assert f"at most {MAX_PASSWORD_BYTES} bytes" in r.get_json()["error"]["message"]


def test_over_long_password_on_the_login_page_is_refused(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    r = client.post(
        "/login",
        data={"username": "admin", "password": "é" * 600, "csrf_token": csrf.group(1)},
    )
    assert r.status_code == 400
    assert f"at most {MAX_PASSWORD_BYTES} bytes" in r.get_data(as_text=True)


def test_over_long_password_is_refused_when_creating_a_user(services: Services) -> None:
    with pytest.raises(InvalidArgument, match=f"at most {MAX_PASSWORD_BYTES} bytes"):
        services.users.add_user(
            "longpw", "officer", "p" * (MAX_PASSWORD_BYTES + 1), by=Who("t", "admin")
        )
    # At the cap is still fine.
    services.users.add_user("okpw", "auditor", "p" * MAX_PASSWORD_BYTES, by=Who("t", "admin"))


# -- item 6: JSON nesting ----------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/auth/token"),
        ("post", "/api/v1/uploads"),
        ("patch", "/api/v1/media/nope"),
        ("post", "/api/v1/preservation-requests"),
        ("post", "/api/v1/legal-holds"),
        ("post", "/api/v1/cameras"),
    ],
)
def test_deeply_nested_json_is_400_with_the_reason(
    client: FlaskClient, tokens: dict[str, str], method: str, path: str
) -> None:
    for body in (DEEP, json.dumps({"title": json.loads("[" * 40 + "]" * 40)})):
        r = getattr(client, method)(
            path, data=body, content_type="application/json", headers=h(tokens)
        )
        assert r.status_code == 400, (path, r.status_code)
        error = r.get_json()["error"]
        assert error["kind"] == "invalid_argument"
        assert "nested deeper than 32 levels" in error["message"]


def test_a_json_depth_limit_near_the_recursion_limit_is_refused_at_load(
    database: tuple[str, Path],
) -> None:
    """A [web] max_json_depth near Python's recursion limit let a body past the parser's
    own limit (about 950 levels inside a request) be refused with a false reason
    ("nested deeper than 100000 levels"), and left bodies of hundreds of levels to every
    recursive consumer after the parser (repr, json.dumps, Socket.IO): the range now
    ends at MAX_JSON_DEPTH, and a body one level deeper than that is a 400 naming it."""
    from tests.conftest import make_config
    from vms.config_limits import MAX_JSON_DEPTH

    url, data_dir = database
    with pytest.raises(InvalidArgument, match=r"\[web\] max_json_depth must be .* at most"):
        make_config(data_dir, url, VMS_WEB_MAX_JSON_DEPTH="100000")
    config = make_config(data_dir, url, VMS_WEB_MAX_JSON_DEPTH=str(MAX_JSON_DEPTH))
    services = Services.open(config)
    services.migrate()
    try:
        flask_app, _socketio = create_app(services, testing=True)
        client = flask_app.test_client()
        for depth, reason in (
            (MAX_JSON_DEPTH - 1, "z is not a field"),
            (MAX_JSON_DEPTH, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ):
            body = '{"username": "x", "password": "y", "z": ' + "[" * depth + "]" * depth + "}"
            r = client.post("/api/v1/auth/token", data=body, content_type="application/json")
            assert r.status_code == 400, (depth, r.status_code)
            assert reason in r.get_json()["error"]["message"]
    finally:
        services.close()


# -- item 13: small leaks ------------------------------------------------------------------


@pytest.fixture
def media_id(services: Services) -> str:
    return services.ingestor.ingest(
        io.BytesIO(make_video(seconds=0.5)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1"),
        Who("setup", "admin"),
    ).media_id


def denials(services: Services, action: str) -> list[AuditEntry]:
    with services.db.session() as s:
        return list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == action, AuditEntry.outcome == "denied"
                )
            ).scalars()
        )


def test_ptz_controller_is_shown_only_to_live_view_roles_ACC_1(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    for who in ("officer", "investigator", "auditor"):
        r = client.get("/api/v1/cameras/CAM-1/ptz/session", headers=h(tokens, who))
        assert r.status_code == 403, who
    assert len(denials(services, "live.view")) == 3
    r = client.get("/api/v1/cameras/CAM-1/ptz/session", headers=h(tokens, "dispatcher"))
    assert r.status_code == 200 and r.get_json() == {"controller": None, "session_seq": 0}


def test_officer_timeline_shows_no_gaps_of_a_fixed_camera(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    now = services.clock.now()
    with services.db.transaction() as s:
        s.add(
            RecordingGap(
                camera_id="CAM-1",
                start=now - dt.timedelta(minutes=30),
                end=now - dt.timedelta(minutes=20),
                cause="camera_down",
                detail="connection refused",
            )
        )
    seen = {}
    for who in ("officer", "investigator"):
        r = client.get("/api/v1/cameras/CAM-1/timeline", headers=h(tokens, who))
        assert r.status_code == 200, r.get_json()
        seen[who] = r.get_json()["gaps"]
    assert seen["officer"] == []
    assert [g["cause"] for g in seen["investigator"]] == ["camera_down"]


def test_csrf_refusal_is_audited_ACC_6(
    client: FlaskClient, services: Services, media_id: str
) -> None:
    csrf = _login(client, "investigator")
    r = client.patch(f"/api/v1/media/{media_id}", json={"title": "x"})
    assert r.status_code == 403
    refused = denials(services, "csrf.check")
    assert [(e.actor, e.target) for e in refused] == [
        ("investigator", f"http:/api/v1/media/{media_id}")
    ]
    r = client.patch(
        f"/api/v1/media/{media_id}", json={"title": "x"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200


@pytest.mark.parametrize("bad", ["a\x00b", "evil\u202etxt.exe", "line\nbreak", "zw\u200bj"])
def test_patched_title_with_nul_or_bidi_is_400_naming_the_field(
    client: FlaskClient, tokens: dict[str, str], media_id: str, bad: str
) -> None:
    r = client.patch(f"/api/v1/media/{media_id}", json={"title": bad}, headers=h(tokens))
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error["message"] == f"title: {bad!r} has characters that are not printable"
    assert error["kind"] == "invalid_argument"


def preservation(number: str, media: str, **over: object) -> dict[str, object]:
    return {
        "request_number": number,
        "requester": {"name": "Public Defender", "organization": "PD", "contact": "555"},
        "received_at": "2026-01-01T00:00:00Z",
        "received_via": "written",
        "reason": "pending case",
        "media_ids": [media],
        **over,
    }


def test_received_by_is_the_signed_in_user_unless_a_commander_names_another_RET_3(
    client: FlaskClient, services: Services, tokens: dict[str, str], media_id: str
) -> None:
    url = "/api/v1/preservation-requests"
    r = client.post(url, json=preservation("PR-1", media_id), headers=h(tokens, "commander"))
    assert r.status_code == 201 and r.get_json()["received_by"] == "commander"
    # An admin may log requests, but not as received by somebody else.
    r = client.post(
        url, json=preservation("PR-2", media_id, received_by="auditor"), headers=h(tokens)
    )
    assert r.status_code == 403
    assert "only a records commander" in r.get_json()["error"]["message"]
    assert len(denials(services, "preservation.create")) == 1
    r = client.post(
        url,
        json=preservation("PR-3", media_id, received_by="nobody-here"),
        headers=h(tokens, "commander"),
    )
    assert r.status_code == 400 and "'nobody-here' is not an active user" in r.get_data(True)
    r = client.post(
        url,
        json=preservation("PR-4", media_id, received_by="auditor"),
        headers=h(tokens, "commander"),
    )
    assert r.status_code == 201 and r.get_json()["received_by"] == "auditor"
    with services.db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.target == "preservation:PR-4")
        ).scalar_one()
    assert entry.actor == "commander" and entry.details["received_by"] == "auditor"


def test_html_pages_are_not_cached(client: FlaskClient, media_id: str) -> None:
    _login(client, "investigator")
    for page in ("/catalog", f"/media/{media_id}", "/login"):
        r = client.get(page)
        assert r.headers.get("Cache-Control") == "no-store", page
    r = client.get("/static/vms.css")
    assert "no-store" not in (r.headers.get("Cache-Control") or "")
    r.close()


def test_security_headers_on_pages_errors_share_links_and_media_ACC_1(
    client: FlaskClient, media_id: str
) -> None:
    """Every kind of answer a browser may render carries the headers that keep a hostile
    value from running as script or the page from being framed: pages, error pages (ours
    and werkzeug's), an outsider's share link, the original shown inline and sent as a
    download, a JSON error, a static file. A regression guard for docs/design/security.md
    ("security headers on every response"), which no test checked."""
    _login(client, "investigator")
    answers = {
        "/catalog": 200,
        f"/media/{media_id}": 200,
        "/media/no-such-item": 404,  # our error page
        "/no/such/page": 404,  # werkzeug's
        "/s/" + "x" * 43: 404,  # an outsider's dead share link
        f"/api/v1/media/{media_id}/content?purpose=investigation": 200,
        f"/api/v1/media/{media_id}/content?purpose=investigation&download=1": 200,
        "/api/v1/media/no-such-item": 404,
        "/static/vms.css": 200,
    }
    for path, status in answers.items():
        r = client.get(path)
        assert r.status_code == status, path
        csp = {
            d.split()[0]: d.split()[1:]
            for d in r.headers["Content-Security-Policy"].split(";")
            if d.strip()
        }
        assert csp["script-src"] == ["'self'"], path  # no inline script, no eval
        assert csp["default-src"] == ["'self'"], path
        assert csp["base-uri"] == csp["form-action"] == ["'self'"], path
        assert csp["frame-ancestors"] == ["'none'"], path
        assert r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        r.close()


def test_server_header_shows_no_versions(services: Services) -> None:
    flask_app, _socketio = create_app(services)
    server = make_server("127.0.0.1", 0, flask_app, threaded=True, **serve_options())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = httpx.get(f"http://127.0.0.1:{server.server_port}/login", timeout=10)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    assert r.headers["Server"] == "VMS"


def session_cookie(response: Any) -> str:
    return next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("vms_session"))


def test_session_cookie_is_secure_over_https(services: Services) -> None:
    app, _ = create_app(services, testing=True)

    def cookie(**kwargs: Any) -> str:
        return session_cookie(app.test_client().get("/login", **kwargs))  # fresh cookies

    assert "Secure" not in cookie()
    assert "Secure" in cookie(base_url="https://vms.example")
    # X-Forwarded-Proto is somebody else's say-so: ignored without a trusted proxy...
    forwarded = {"X-Forwarded-Proto": "https"}
    assert "Secure" not in cookie(headers=forwarded)
    # ...and honoured behind one ([web] trusted_proxies).
    config = dataclasses.replace(
        services.config, web=dataclasses.replace(services.config.web, trusted_proxies=1)
    )
    proxied, _ = create_app(dataclasses.replace(services, config=config), testing=True)
    r = proxied.test_client().get("/login", headers=forwarded)
    assert "Secure" in session_cookie(r)

"""Abuse of the web layer (issue 10, items 6 and 13): huge bodies, huge passwords, deep
JSON, and the small leaks of a hostile review. Each case failed before its fix."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from flask.testing import FlaskClient

from tests.conftest import LiveServer
from vms.audit.log import Who
from vms.errors import InvalidArgument
from vms.services import Services

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

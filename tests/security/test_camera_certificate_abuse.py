"""``POST /api/v1/cameras/{id}/certificate`` with ``port`` ``rtsp`` for a camera whose
stream URI, as the camera answered ``GetStreamUri`` at onboarding, names a port that is
none (out of range, not a number): the handshake's port was read with
``urlsplit(...).port``, which raises ValueError, a 500. It is a 422 naming the URI's
port, nothing changed, the refusal audited (ACC-6). SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.camera_rows import add_camera_row
from vms.db.models import AuditEntry, Camera
from vms.services import Services

FINGERPRINT = ":".join(["AB"] * 32)


@pytest.mark.parametrize("port", ["99999", "x1"])
def test_a_stream_uri_with_no_valid_port_is_a_422_naming_it_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str], port: str
) -> None:
    cam = add_camera_row(services, main_stream_uri=f"rtsps://127.0.0.1:{port}/stream")
    r = client.post(
        f"/api/v1/cameras/{cam}/certificate",
        json={"tls_fingerprint": FINGERPRINT, "port": "rtsp"},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
    )
    assert r.status_code == 422, r.get_data(as_text=True)
    assert f"rtsps://127.0.0.1:{port}/stream" in r.get_json()["error"]["message"]
    with services.db.session() as s:
        assert s.get(Camera, cam).rtsp_tls_fingerprint is None
        (entry,) = s.execute(
            select(AuditEntry).where(AuditEntry.action == "camera.certificate.accept")
        ).scalars()
    assert entry.outcome == "failed" and entry.details["port"] == "rtsp"

"""Moving an https camera with the certificate the admin expects at its new address
(docs/design/security.md, "Camera certificates", 5): a PATCH of ``onvif_url`` may name
``tls_fingerprint``, as onboarding may. The camera at the new address is then held to it
before anything is sent: another certificate there (an impostor, a wrong address) gets
no password digest, the edit changes nothing and is audited as failed. Without it, the
certificate met there is pinned on first use, as before. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from tests.onvif_control.test_camera_certificates import _add, _audits
from tests.onvif_control.tls_peers import Impostor, tls_camera

pytestmark = pytest.mark.timeout(120)


def _move(api: Any, bearer: dict[str, Any], camera_id: str, **body: Any) -> Any:
    return api.patch(f"/api/v1/cameras/{camera_id}", json=body, headers=bearer["admin"])


def test_a_move_holds_the_new_address_to_the_expected_certificate_ACC_6(
    svc, api, bearer, tls_sim, certs, tmp_path
):
    genuine, other = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    before = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).get_json()
    # Whoever answers at the new address presents another certificate: not one byte
    # after the handshake, so no digest of the password.
    impostor = Impostor(0, other.server_context(tmp_path))
    try:
        url = f"https://127.0.0.1:{impostor.port}/onvif/device_service"
        reply = _move(
            api,
            bearer,
            camera_id,
            onvif_url=url,
            password=SIM_PASSWORD,
            tls_fingerprint=genuine.fingerprint,
        )
        assert impostor.received == b"", impostor.received[:300]
    finally:
        impostor.close()
    assert reply.status_code == 422, reply.get_json()
    message = reply.get_json()["error"]["message"]
    assert f"expected {genuine.fingerprint}, got {other.fingerprint}" in message, message
    after = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).get_json()
    assert after == before
    failed = _audits(svc, "camera.update")[-1]
    assert failed.outcome == "failed" and "certificate changed" in failed.details["error"]
    assert SIM_PASSWORD not in str(failed.details)

    # The camera itself at the new address, presenting the expected certificate: moved,
    # pinned to it, audited with what was expected.
    moved = tls_camera(genuine, tmp_path)
    try:
        plain = genuine.fingerprint.replace(":", "").lower()
        reply = _move(
            api,
            bearer,
            camera_id,
            onvif_url=moved.onvif_url,
            password=SIM_PASSWORD,
            tls_fingerprint=f"sha256:{plain}",
        )
    finally:
        moved.stop()
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["onvif_url"] == moved.onvif_url
    assert reply.get_json()["tls_fingerprint"] == genuine.fingerprint
    entry = _audits(svc, "camera.update")[-1]
    assert entry.outcome == "ok"
    assert entry.details["tls_fingerprint_expected"] == genuine.fingerprint, entry.details
    assert "tls_fingerprint" not in entry.details  # the same pin: nothing changed


WHY = {
    "same address": "goes with an onvif_url that moves the camera",
    "to http": "is for an https camera; this one is reached over http",
    "ca bundle": "is verified by its CA bundle",
    "malformed": "tls_fingerprint",
}


@pytest.mark.parametrize("case", list(WHY))
def test_an_expected_certificate_only_goes_with_a_move_to_https_naming_the_field(
    svc, api, bearer, tls_sim, sim, certs, case
):
    """``tls_fingerprint`` belongs to a move: at the same address the pin changes by
    the accept (POST .../certificate, audited with what the camera presents); an http
    address has no certificate; a camera verified by a CA bundle keeps being verified by
    it. Each is a 400 naming the field, nothing sent, nothing changed."""
    genuine, _ = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    body: dict[str, Any] = {"tls_fingerprint": genuine.fingerprint}
    if case == "to http":
        body |= {"onvif_url": sim.onvif_url, "password": SIM_PASSWORD, "username": SIM_USER}
    elif case == "ca bundle":
        body |= {"onvif_url": tls_sim.onvif_url.replace("127.0.0.1", "localhost")}
        body["password"] = SIM_PASSWORD
        with svc.db.transaction() as s:
            from vms.db.models import Camera

            row = s.get(Camera, camera_id)
            row.tls_ca_pem, row.tls_fingerprint = genuine.cert_pem.decode(), None
    elif case == "malformed":
        body |= {"onvif_url": sim.onvif_url.replace("http:", "https:"), "password": "x"}
        body["tls_fingerprint"] = "AB:CD"
    before = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).get_json()
    reply = _move(api, bearer, camera_id, **body)
    assert reply.status_code == 400, reply.get_json()
    error = reply.get_json()["error"]
    assert "tls_fingerprint" in error["message"], error
    assert WHY[case] in error["message"], error
    if case != "malformed":  # refused by the service, after the request was read
        failed = _audits(svc, "camera.update")[-1]
        assert failed.outcome == "failed" and WHY[case] in failed.details["error"]
    assert api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).get_json() == before

"""Camera certificates (docs/design/security.md, "Camera certificates"): onboarding an
https camera pins its certificate (trust on first use, or the fingerprint the admin
expects), every later connection checks the stored pin, a changed certificate takes the
camera offline with the reason and nothing sent (audited, OPS-1, ACC-6), and an admin
accepts a new certificate (audited). The simulator serves ONVIF over TLS with
certificates made here; an impostor with another certificate records what it received.
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER, cli_env
from tests.onvif_control.tls_peers import Impostor, SelfSigned, port_of, tls_camera
from vms.db.models import AuditEntry, Camera

pytestmark = pytest.mark.timeout(120)


def _add(api: Any, bearer: dict[str, Any], url: str, **extra: Any) -> Any:
    body = {"name": "tls-1", "onvif_url": url, "username": SIM_USER, "password": SIM_PASSWORD}
    return api.post("/api/v1/cameras", json=body | extra, headers=bearer["admin"])


def _audits(svc: Any, action: str) -> list[AuditEntry]:
    with svc.db.session() as s:
        return list(
            s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()
        )


def _health_check_against_impostor(control: Any, cam: Any, cert: SelfSigned, folder: Path) -> Any:
    """The camera stopped and an impostor with ``cert`` on its address: the health
    check's one change, after asserting the impostor received nothing."""
    port = port_of(cam.onvif_url)
    cam.stop()
    impostor = Impostor(port, cert.server_context(folder))
    try:
        (change,) = control.health.check_all()
        assert impostor.received == b"", impostor.received[:300]
    finally:
        impostor.close()
    return change


def _renewed(api: Any, bearer: dict[str, Any], tls_sim: Any, cert: SelfSigned, folder: Path) -> Any:
    """The simulator onboarded (pinned), then replaced on its address by a camera
    presenting ``cert``: (the camera's id, the running camera to stop)."""
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    port = port_of(tls_sim.onvif_url)
    tls_sim.stop()
    return camera_id, tls_camera(cert, folder, port)


def test_onboarding_pins_and_shows_the_certificate(svc, api, bearer, tls_sim, certs):
    genuine, _ = certs
    reply = _add(api, bearer, tls_sim.onvif_url)
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert body["tls_fingerprint"] == genuine.fingerprint
    with svc.db.session() as s:
        assert s.get(Camera, body["id"]).tls_fingerprint == genuine.fingerprint
    (entry,) = _audits(svc, "camera.add")
    assert entry.details["tls_fingerprint"] == genuine.fingerprint
    listed = api.get("/api/v1/cameras", headers=bearer["admin"]).get_json()["cameras"]
    assert listed[0]["tls_fingerprint"] == genuine.fingerprint


def test_an_http_camera_has_no_pin(api, bearer, sim):
    reply = _add(api, bearer, sim.onvif_url)
    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["tls_fingerprint"] is None


def test_an_expected_fingerprint_the_camera_does_not_present_stores_nothing(
    svc, api, bearer, tls_sim, certs
):
    """The admin read the camera's fingerprint off its own page and gives it: another
    certificate on the wire (an impostor at onboarding) is refused before anything is
    sent, nothing is stored, and the refusal is audited."""
    genuine, other = certs
    reply = _add(api, bearer, tls_sim.onvif_url, tls_fingerprint=other.fingerprint.lower())
    assert reply.status_code == 422, reply.get_json()
    message = reply.get_json()["error"]["message"]
    assert f"expected {other.fingerprint}, got {genuine.fingerprint}" in message
    with svc.db.session() as s:
        assert s.execute(select(Camera)).first() is None
    (entry,) = _audits(svc, "camera.add")
    assert entry.outcome == "failed" and "certificate changed" in entry.details["error"]
    # The right one, in another accepted spelling, onboards.
    plain = genuine.fingerprint.replace(":", "").lower()
    reply = _add(api, bearer, tls_sim.onvif_url, tls_fingerprint=f"sha256:{plain}")
    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["tls_fingerprint"] == genuine.fingerprint


@pytest.mark.parametrize("value", ["AB:CD", "zz" * 32, "", "12" * 33])
def test_a_malformed_fingerprint_is_refused_naming_it(api, bearer, tls_sim, value):
    reply = _add(api, bearer, tls_sim.onvif_url, tls_fingerprint=value)
    assert reply.status_code == 400, reply.get_json()
    assert "tls_fingerprint" in reply.get_json()["error"]["message"]


def test_a_changed_certificate_takes_the_camera_offline_with_nothing_sent_OPS_1(
    svc, control, api, bearer, tls_sim, certs, tmp_path
):
    """After onboarding, the camera's address answers with another certificate. The
    health check (a fresh connection from the stored pin, not a new trust on first use)
    sends nothing, marks the camera offline with the reason naming both fingerprints,
    and audits the change."""
    genuine, other = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    assert control.health.check_all() == []  # online through the stored pin
    control.connections.drop(camera_id)  # as a media node that never spoke to it
    change = _health_check_against_impostor(control, tls_sim, other, tmp_path)
    reason = f"certificate changed: expected {genuine.fingerprint}, got {other.fingerprint}"
    assert change.new == "offline" and reason in (change.detail or "")
    shown = api.get(f"/api/v1/cameras/{camera_id}", headers=bearer["admin"]).get_json()
    assert shown["health"] == "offline" and reason in shown["health_detail"]
    (entry,) = [e for e in _audits(svc, "camera.health") if e.details["new"] == "offline"]
    assert reason in entry.details["detail"]


def test_an_admin_accepts_a_renewed_certificate_ACC_6(
    svc, control, api, bearer, tls_sim, certs, tmp_path
):
    """The camera's certificate was renewed: the admin accepts the fingerprint the
    camera now presents (audited with before and after); one that is not what the
    camera presents is refused (409, audited, nothing changed); others may not."""
    genuine, renewed = certs
    camera_id, cam = _renewed(api, bearer, tls_sim, renewed, tmp_path)
    try:
        (change,) = control.health.check_all()
        assert change.new == "offline"
        path = f"/api/v1/cameras/{camera_id}/certificate"
        denied = api.post(
            path, json={"tls_fingerprint": renewed.fingerprint}, headers=bearer["dispatcher"]
        )
        assert denied.status_code == 403
        wrong = api.post(
            path, json={"tls_fingerprint": genuine.fingerprint}, headers=bearer["admin"]
        )
        assert wrong.status_code == 409, wrong.get_json()
        assert renewed.fingerprint in wrong.get_json()["error"]["message"]
        reply = api.post(
            path, json={"tls_fingerprint": renewed.fingerprint}, headers=bearer["admin"]
        )
        assert reply.status_code == 200, reply.get_json()
        assert reply.get_json()["tls_fingerprint"] == renewed.fingerprint
        (back,) = control.health.check_all()
        assert back.new == "online"
    finally:
        cam.stop()
    entries = _audits(svc, "camera.certificate.accept")
    assert [e.outcome for e in entries] == ["denied", "failed", "ok"]
    assert entries[-1].details["before"] == genuine.fingerprint
    assert entries[-1].details["after"] == renewed.fingerprint


def test_an_accept_sent_twice_pins_and_audits_once_ACC_6(
    svc, control, api, bearer, tls_sim, certs, tmp_path
):
    """ACC-6: the admin's accept sent twice (a double-click, a retry after a lost
    answer) wrote a second camera.certificate.accept entry, "before" and "after" the
    same pin, for a change that was made once. The certificate already pinned on that
    port is answered with the camera, nothing written again."""
    genuine, renewed = certs
    camera_id, cam = _renewed(api, bearer, tls_sim, renewed, tmp_path)
    try:
        path = f"/api/v1/cameras/{camera_id}/certificate"
        body = {"tls_fingerprint": renewed.fingerprint}
        first = api.post(path, json=body, headers=bearer["admin"])
        again = api.post(path, json=body, headers=bearer["admin"])
    finally:
        cam.stop()
    assert first.status_code == again.status_code == 200, (first.get_json(), again.get_json())
    assert again.get_json() == first.get_json()
    entries = _audits(svc, "camera.certificate.accept")
    assert [(e.outcome, e.details["before"], e.details["after"]) for e in entries] == [
        ("ok", genuine.fingerprint, renewed.fingerprint)
    ]


def test_an_accept_refused_for_an_address_changed_meanwhile_is_audited_ACC_6(
    svc, control, api, bearer, tls_sim, certs, tmp_path, monkeypatch
):
    """ACC-6: an accept refused because the camera got another address while its
    certificate was being read (another admin's edit between the handshake and the
    write) answered 409 and wrote nothing: every other refusal of an accept is audited
    as failed, with the fingerprint offered and why. Now this one is too; nothing is
    pinned."""
    from onvif_control.camera_certificates import CameraCertificates

    genuine, renewed = certs
    camera_id, cam = _renewed(api, bearer, tls_sim, renewed, tmp_path)
    presented = CameraCertificates._presented

    async def edited_meanwhile(self: Any, host: str, port: int) -> bytes:
        seen = await presented(self, host, port)
        with svc.db.transaction() as s:  # the other admin's edit, committed meanwhile
            s.get_one(Camera, camera_id).onvif_url = "https://127.0.0.1:1/onvif/device_service"
        return seen

    monkeypatch.setattr(CameraCertificates, "_presented", edited_meanwhile)
    try:
        reply = api.post(
            f"/api/v1/cameras/{camera_id}/certificate",
            json={"tls_fingerprint": renewed.fingerprint},
            headers=bearer["admin"],
        )
    finally:
        cam.stop()
    assert reply.status_code == 409, reply.get_json()
    assert "new address meanwhile" in reply.get_json()["error"]["message"]
    [entry] = _audits(svc, "camera.certificate.accept")
    assert entry.outcome == "failed"
    assert entry.details["offered"] == renewed.fingerprint
    assert entry.details["before"] == genuine.fingerprint
    assert "new address meanwhile" in entry.details["error"]
    with svc.db.session() as s:
        assert s.get_one(Camera, camera_id).tls_fingerprint == genuine.fingerprint


def test_cli_camera_add_prints_the_pin_and_checks_a_given_one(
    svc, tls_sim, certs, capsys, monkeypatch
):
    import io

    from vms.cli import main

    genuine, other = certs
    cli_env(svc, monkeypatch)
    args = ["camera", "add", "cli-tls", "--onvif", tls_sim.onvif_url, "--username", SIM_USER]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{SIM_PASSWORD}\n{SIM_PASSWORD}\n"))
    wrong = ["--tls-fingerprint", other.fingerprint, "--password-stdin"]
    assert main([*args, *wrong]) == 6
    assert f"expected {other.fingerprint}, got {genuine.fingerprint}" in capsys.readouterr().err
    assert main([*args, "--password-stdin"]) == 0
    assert f"certificate pinned: SHA-256 {genuine.fingerprint}" in capsys.readouterr().out


def test_a_camera_onboarded_before_pins_is_pinned_and_stored_at_its_next_connection(
    svc, control, api, bearer, tls_sim, certs, tmp_path
):
    """An https camera onboarded before migration 0045 has no pin. Its next connection
    pins the certificate it meets and stores it (audited camera.certificate.pin by the
    system), so the next process, or the next connection after a restart, does not trust
    anew whatever it meets then: the impostor that comes after gets nothing."""
    genuine, other = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    with svc.db.transaction() as s:
        s.get(Camera, camera_id).tls_fingerprint = None
    control.connections.drop(camera_id)
    assert control.health.check_all() == []
    with svc.db.session() as s:
        assert s.get(Camera, camera_id).tls_fingerprint == genuine.fingerprint
    (entry,) = _audits(svc, "camera.certificate.pin")
    assert entry.details["tls_fingerprint"] == genuine.fingerprint
    control.connections.close()  # as after a restart: no connection remembers the pin
    change = _health_check_against_impostor(control, tls_sim, other, tmp_path)
    assert f"expected {genuine.fingerprint}, got {other.fingerprint}" in (change.detail or "")


def test_a_camera_verified_by_the_agency_ca_bundle(svc, control, api, bearer, certs, tmp_path):
    """Instead of a pin, the admin may give a CA bundle (PEM): the camera's certificate
    must chain to it and name the camera's address; a renewal by that CA passes without
    an admin, and an impostor's self-signed certificate is refused with nothing sent,
    the camera offline with the reason (OPS-1)."""
    from tests.onvif_control.tls_peers import ca_and_leaf

    ca, leaf = ca_and_leaf("camera-by-ca")
    cam = tls_camera(leaf, tmp_path)
    try:
        bad = _add(api, bearer, cam.onvif_url, tls_ca_pem="-----BEGIN CERTIFICATE-----\nno")
        assert bad.status_code == 400 and "tls_ca_pem" in bad.get_json()["error"]["message"]
        both = _add(
            api,
            bearer,
            cam.onvif_url,
            tls_ca_pem=ca.cert_pem.decode(),
            tls_fingerprint=leaf.fingerprint,
        )
        assert both.status_code == 400, both.get_json()
        reply = _add(api, bearer, cam.onvif_url, tls_ca_pem=ca.cert_pem.decode())
        assert reply.status_code == 201, reply.get_json()
        body = reply.get_json()
        assert body["tls_fingerprint"] is None and body["tls_ca"] is True
        assert control.health.check_all() == []
        change = _health_check_against_impostor(control, cam, certs[1], tmp_path)
    finally:
        cam.stop()
    assert change.new == "offline"
    assert "certificate not trusted by the camera's CA bundle" in (change.detail or "")
    (entry,) = _audits(svc, "camera.add")
    assert entry.outcome == "ok" and entry.details["tls_ca"] is True


def test_cli_accepts_a_renewed_certificate_as_the_os_user_ACC_6(
    svc, control, api, bearer, tls_sim, certs, tmp_path, capsys, monkeypatch
):
    """On a site without a browser, an admin at the server accepts the certificate a
    camera now presents with ``vms camera accept-certificate CAMERA --tls-fingerprint
    FP [--port onvif|rtsp]`` (the camera by name or id): the same check as the API (a
    fingerprint the camera does not present: exit 5, 409's code, naming the one it does,
    nothing changed), audited ``camera.certificate.accept`` as the OS user (cli:...),
    refusals too; after it the camera is online again."""
    from vms.audit.log import SYSTEM_ROLE
    from vms.cli import main

    genuine, renewed = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    port = port_of(tls_sim.onvif_url)
    tls_sim.stop()
    cam = tls_camera(renewed, tmp_path, port)
    cli_env(svc, monkeypatch)
    try:
        (change,) = control.health.check_all()
        assert change.new == "offline"
        accept = ["camera", "accept-certificate", "tls-1", "--tls-fingerprint"]
        assert main([*accept, genuine.fingerprint]) == 5
        assert renewed.fingerprint in capsys.readouterr().err
        assert main([*accept, renewed.fingerprint, "--port", "onvif"]) == 0
        out = capsys.readouterr().out
        assert f"tls-1: onvif certificate pinned: SHA-256 {renewed.fingerprint}" in out, out
        with svc.db.session() as s:
            assert s.get(Camera, camera_id).tls_fingerprint == renewed.fingerprint
        control.connections.drop(camera_id)  # this process reads the new pin
        (back,) = control.health.check_all()
        assert back.new == "online"
        by_id = ["camera", "accept-certificate", camera_id, "--tls-fingerprint"]
        assert main([*by_id, "not-a-fingerprint"]) == 2
        assert "'not-a-fingerprint'" in capsys.readouterr().err
    finally:
        cam.stop()
    entries = _audits(svc, "camera.certificate.accept")
    assert [e.outcome for e in entries] == ["failed", "ok"]
    assert {e.role for e in entries} == {SYSTEM_ROLE}
    assert all(e.actor.startswith("cli:") for e in entries), [e.actor for e in entries]
    assert entries[-1].details["after"] == renewed.fingerprint


def test_moving_a_camera_audits_the_certificate_pinned_at_its_new_address_ACC_6(
    svc, api, bearer, tls_sim, certs, tmp_path
):
    """A PATCH that moves an https camera to another address pins the certificate met
    there, as onboarding does (design 5): the pin changed, so the edit's audit entry
    names it, before and after, as every other pin change is audited (ACC-6)."""
    genuine, other = certs
    camera_id = _add(api, bearer, tls_sim.onvif_url).get_json()["id"]
    moved = tls_camera(other, tmp_path)
    try:
        reply = api.patch(
            f"/api/v1/cameras/{camera_id}",
            json={"onvif_url": moved.onvif_url, "password": SIM_PASSWORD},
            headers=bearer["admin"],
        )
    finally:
        moved.stop()
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["tls_fingerprint"] == other.fingerprint
    entry = _audits(svc, "camera.update")[-1]
    assert entry.details.get("tls_fingerprint") == {
        "before": genuine.fingerprint,
        "after": other.fingerprint,
    }, entry.details

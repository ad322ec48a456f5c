# ruff: noqa: F811 (the camera-control fixtures are imported, then taken as arguments)
"""An ``rtsps`` camera's pin reaches its stream (docs/design/security.md, "Camera
certificates"): the registry gives the recorder the certificate pinned on the camera row
(or its CA bundle) with the stream, and a recorder pipeline facing another certificate
sends nothing and goes down with both fingerprints as its reason; facing the camera's
own, it streams. The camera is the simulator's RTSP behind a TLS server (a certificate
made here) on the camera's host."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from privacy_masks.model import MaskSet
from recorder.fanout import PacketHub
from recorder.pipeline import CameraPipeline, CameraSpec, PipelineSettings
from recorder.registry import read_registry
from recorder.watch import Reading, WatchThread
from tests.onvif_control.conftest import (  # noqa: F401
    SIM_PASSWORD,
    SIM_USER,
    api,
    bearer,
    camera,
    control,
    people,
    settings,
    sim,
    svc,
)
from tests.onvif_control.tls_peers import SelfSigned, ca_and_leaf, self_signed
from tests.peers.tls_front import TlsFront
from vms.audit.log import SYSTEM_ROLE
from vms.clock import SystemClock
from vms.db.models import AuditEntry, Camera

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def certs() -> tuple[SelfSigned, SelfSigned]:
    return self_signed("camera"), self_signed("impostor")


@pytest.fixture(scope="module")
def rtsp_cert() -> SelfSigned:
    """The certificate a camera serves on its RTSPS port, not the one of its HTTPS port."""
    return self_signed("camera rtsps")


def _store(svc, camera_id: str, **values: object) -> None:
    with svc.db.transaction() as s:
        row = s.get(Camera, camera_id)
        for name, value in values.items():
            setattr(row, name, value)


def _audits(svc, action: str) -> list[AuditEntry]:
    with svc.db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


def _ran(spec: CameraSpec, state: str) -> CameraPipeline:
    """A pipeline of ``spec`` run until ``state``, then stopped."""
    pipe = _started(spec)
    try:
        _wait(pipe, state)
    finally:
        pipe.stop()
    return pipe


def _started(spec: CameraSpec) -> CameraPipeline:
    """A pipeline of ``spec`` started; the caller stops it."""
    pipe = CameraPipeline(
        spec,
        PacketHub(spec.camera_id),
        masks=lambda camera_id: MaskSet(camera_id, 0, ()),
        pose_source=lambda: None,
        settings=PipelineSettings(reconnect_min_seconds=5.0),
        clock=SystemClock(),
    )
    pipe.start()
    return pipe


def _wait(pipe: CameraPipeline, state: str) -> None:
    tick = threading.Event()
    for _ in range(150):
        if pipe.status.state == state:
            return
        tick.wait(0.1)
    raise AssertionError(f"pipeline {pipe.status.state}, not {state}: {pipe.status.last_error}")


@pytest.fixture
def front(sim, certs, tmp_path: Path) -> Iterator[TlsFront]:
    peer = TlsFront(sim.rtsp_port, certs[1].server_context(tmp_path))  # the impostor
    yield peer
    peer.close()


def test_a_pinned_rtsps_camera_refuses_another_certificate_as_its_offline_reason(
    svc, camera, sim, certs, front, tmp_path
):
    genuine, impostor = certs
    _store(
        svc,
        camera.id,
        main_stream_uri=f"rtsps://127.0.0.1:{front.port}/stream1",
        tls_fingerprint=genuine.fingerprint,
    )
    spec = read_registry(svc).specs[camera.id]
    pipe = _ran(spec, "down")
    assert front.received == b""  # not one RTSP byte: no digest credentials
    assert (
        f"certificate changed: expected {genuine.fingerprint}, got {impostor.fingerprint}; "
        "nothing was sent"
    ) in (pipe.status.last_error or "")
    from vms.media.rtsps import CameraTls  # here: the refusal above is what is shown first

    assert spec.tls == CameraTls(camera.name, fingerprint=genuine.fingerprint, pin_of="https")
    # The genuine camera's certificate on the address: the same spec streams.
    honest = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
    _store(svc, camera.id, main_stream_uri=f"rtsps://127.0.0.1:{honest.port}/stream1")
    try:
        _ran(read_registry(svc).specs[camera.id], "streaming")
    finally:
        honest.close()
    assert SIM_USER.encode() in honest.received  # its credentials went to it


def test_the_registry_gives_an_rtsps_stream_its_ca_bundle_and_a_plain_one_nothing(svc, camera):
    from vms.media.rtsps import CameraTls

    ca, _ = ca_and_leaf("agency")
    _store(
        svc,
        camera.id,
        main_stream_uri="rtsps://127.0.0.1:322/stream1",
        tls_fingerprint=None,
        tls_ca_pem=ca.cert_pem.decode(),
    )
    assert read_registry(svc).specs[camera.id].tls == CameraTls(
        camera.name, ca_pem=ca.cert_pem.decode()
    )
    _store(svc, camera.id, main_stream_uri="rtsp://127.0.0.1:554/stream1")
    assert read_registry(svc).specs[camera.id].tls is None


def test_another_certificate_on_the_rtsps_port_is_accepted_as_its_own_pin_ACC_6(
    svc, api, bearer, camera, sim, certs, rtsp_cert, tmp_path
):
    """A camera that serves one certificate on HTTPS (its ONVIF pin) and another on
    RTSPS: the stream fails closed, its reason naming the port and the pin it was
    checked against; the admin accepts the RTSPS certificate for the rtsp port (only the
    one presented there: 409 otherwise), shown as ``rtsp_tls_fingerprint`` and audited
    with the port; then the stream is checked against it, and the ONVIF pin stays."""
    genuine, _ = certs
    front = TlsFront(sim.rtsp_port, rtsp_cert.server_context(tmp_path))
    path = f"/api/v1/cameras/{camera.id}/certificate"
    admin = bearer["admin"]
    try:
        _store(
            svc,
            camera.id,
            main_stream_uri=f"rtsps://127.0.0.1:{front.port}/stream1",
            tls_fingerprint=genuine.fingerprint,
        )
        reason = _ran(read_registry(svc).specs[camera.id], "down").status.last_error or ""
        assert front.received == b""
        assert f"expected {genuine.fingerprint}, got {rtsp_cert.fingerprint}" in reason
        assert f"rtsp port {front.port}" in reason, reason
        assert "pin of its https port" in reason, reason
        wrong = api.post(
            path, json={"port": "rtsp", "tls_fingerprint": genuine.fingerprint}, headers=admin
        )
        assert wrong.status_code == 409, wrong.get_json()
        assert rtsp_cert.fingerprint in wrong.get_json()["error"]["message"]
        bad = api.post(
            path, json={"port": "rtsps", "tls_fingerprint": rtsp_cert.fingerprint}, headers=admin
        )
        assert bad.status_code in (400, 422), bad.get_json()
        assert "port" in bad.get_json()["error"]["message"]
        reply = api.post(
            path, json={"port": "rtsp", "tls_fingerprint": rtsp_cert.fingerprint}, headers=admin
        )
        assert reply.status_code == 200, reply.get_json()
        assert reply.get_json()["rtsp_tls_fingerprint"] == rtsp_cert.fingerprint
        assert reply.get_json()["tls_fingerprint"] == genuine.fingerprint  # ONVIF pin kept
        shown = api.get(f"/api/v1/cameras/{camera.id}", headers=admin).get_json()
        assert shown["rtsp_tls_fingerprint"] == rtsp_cert.fingerprint
        _ran(read_registry(svc).specs[camera.id], "streaming")
        assert SIM_USER.encode() in front.received
    finally:
        front.close()
    entries = _audits(svc, "camera.certificate.accept")
    assert [e.outcome for e in entries] == ["failed", "ok"]
    assert entries[-1].details["port"] == "rtsp"
    assert entries[-1].details["before"] is None
    assert entries[-1].details["after"] == rtsp_cert.fingerprint


def test_an_rtsps_camera_without_a_pin_pins_its_rtsp_certificate_on_first_use(
    svc, camera, sim, certs, tmp_path
):
    """An ``rtsps`` camera onboarded over ``http`` has no pin and no CA bundle: its
    stream's first connection pins the certificate of its RTSP port (trust on first use,
    stored before a byte is written, audited ``camera.certificate.pin`` by the system
    with the port), and every later connection is held to it: an impostor after gets
    nothing, and the camera's offline reason names both fingerprints."""
    genuine, impostor = certs
    honest = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
    try:
        _store(
            svc,
            camera.id,
            main_stream_uri=f"rtsps://127.0.0.1:{honest.port}/stream1",
            tls_fingerprint=None,
        )
        _ran(read_registry(svc).specs[camera.id], "streaming")
    finally:
        honest.close()
    assert SIM_USER.encode() in honest.received
    with svc.db.session() as s:
        row = s.get(Camera, camera.id)
        assert (row.rtsp_tls_fingerprint, row.tls_fingerprint) == (genuine.fingerprint, None)
    (entry,) = _audits(svc, "camera.certificate.pin")
    assert entry.details["port"] == "rtsp"
    assert entry.details["tls_fingerprint"] == genuine.fingerprint
    assert entry.role == SYSTEM_ROLE, entry.role
    # Another certificate on the same address (the stream's pin belongs to it).
    front = TlsFront(sim.rtsp_port, certs[1].server_context(tmp_path), port=honest.port)
    try:
        reason = _ran(read_registry(svc).specs[camera.id], "down").status.last_error or ""
    finally:
        front.close()
    assert front.received == b""
    assert f"expected {genuine.fingerprint}, got {impostor.fingerprint}" in reason, reason
    assert len(_audits(svc, "camera.certificate.pin")) == 1  # no second first use


def _patch_stream(api, bearer, camera, sim, uri: str) -> dict:
    """The camera answers ``uri`` as its main stream from now on and the admin saves its
    password again (PATCH): the camera is read anew, its stream URI with it."""
    sim.answer_stream_uri(uri)
    reply = api.patch(
        f"/api/v1/cameras/{camera.id}", json={"password": SIM_PASSWORD}, headers=bearer["admin"]
    )
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["main_stream_uri"] == uri
    return reply.get_json()


def test_a_pinned_stream_moved_to_another_port_is_refused_until_accepted_there_ACC_6(
    svc, api, bearer, camera, sim, certs, tmp_path
):
    """The stream's own pin belongs to the host and port it was taken at (design 9). An
    edit after which the camera's rtsps stream is elsewhere (a readdressed or swapped
    camera, or whoever answered the re-read) keeps the pin with its place, audited as a
    move; the stream is then refused at the new place whatever certificate it presents,
    the same one too, and is not pinned on first use there: nothing is sent and the
    reason names the move and the certificate presented. The admin accepts that one for
    the rtsp port (audited with the place); then it streams. The same place keeps the
    pin across an edit."""
    genuine, _ = certs
    with contextlib.ExitStack() as stack:
        stack.callback(sim.answer_stream_uri, None)  # the module's simulator, as it was
        first = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
        stack.callback(first.close)
        old_uri = f"rtsps://127.0.0.1:{first.port}/stream1"
        _store(svc, camera.id, tls_fingerprint=None)  # onboarded over http: no ONVIF pin
        _patch_stream(api, bearer, camera, sim, old_uri)
        _ran(read_registry(svc).specs[camera.id], "streaming")  # pinned on first use
        # Saved again with the same stream: the pin stays.
        shown = _patch_stream(api, bearer, camera, sim, old_uri)
        assert shown["rtsp_tls_fingerprint"] == genuine.fingerprint
        assert "stream_moved" not in _audits(svc, "camera.update")[-1].details
        # The camera now answers another port, which presents the very same certificate.
        moved = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
        stack.callback(moved.close)
        new_uri = f"rtsps://127.0.0.1:{moved.port}/stream1"
        shown = _patch_stream(api, bearer, camera, sim, new_uri)
        reason = _ran(read_registry(svc).specs[camera.id], "down").status.last_error or ""
        assert moved.received == b"", moved.received[:200]  # no credentials went there
        assert (
            f"the stream moved from 127.0.0.1:{first.port} to 127.0.0.1:{moved.port}" in reason
        ), reason
        assert f"certificate {genuine.fingerprint} was never accepted" in reason, reason
        assert len(_audits(svc, "camera.certificate.pin")) == 1  # no first use at the move
        assert shown["rtsp_tls_fingerprint"] == genuine.fingerprint  # kept, with its place
        assert shown["rtsp_tls_endpoint"] == f"127.0.0.1:{first.port}"
        update = _audits(svc, "camera.update")[-1]
        assert update.details["stream_moved"] == {
            "from": f"127.0.0.1:{first.port}",
            "to": f"127.0.0.1:{moved.port}",
            "rtsp_tls_fingerprint": genuine.fingerprint,
        }
        reply = api.post(
            f"/api/v1/cameras/{camera.id}/certificate",
            json={"port": "rtsp", "tls_fingerprint": genuine.fingerprint},
            headers=bearer["admin"],
        )
        assert reply.status_code == 200, reply.get_json()
        assert reply.get_json()["rtsp_tls_endpoint"] == f"127.0.0.1:{moved.port}"
        _ran(read_registry(svc).specs[camera.id], "streaming")
        assert SIM_USER.encode() in moved.received
    accepted = _audits(svc, "camera.certificate.accept")[-1]
    assert accepted.details["endpoint"] == f"127.0.0.1:{moved.port}"
    assert accepted.details["before_endpoint"] == f"127.0.0.1:{first.port}"


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "first-use"])
def test_an_edit_that_reads_a_plain_rtsp_stream_for_an_rtsps_camera_is_refused_ACC_6(
    svc, api, bearer, camera, sim, certs, pinned
):
    """Downgrade: a camera whose stream was ``rtsps`` (pinned, or still to be pinned on
    first use) answers a plain ``rtsp`` stream URI when an edit reads it anew (an ``http``
    camera's GetStreamUri answered by someone on the path, or RTSPS turned off at the
    camera). Saved, its video would then be recorded in clear and unchecked: the edit is
    refused with a 409 naming both URIs and what to do, audited as failed; nothing
    changes and the registry still holds the stream to its TLS check."""
    genuine, _ = certs
    tls_uri = f"rtsps://127.0.0.1:{sim.rtsp_port}/stream1"
    _store(
        svc,
        camera.id,
        main_stream_uri=tls_uri,
        tls_fingerprint=None,
        rtsp_tls_fingerprint=genuine.fingerprint if pinned else None,
        rtsp_tls_endpoint=f"127.0.0.1:{sim.rtsp_port}" if pinned else None,
    )
    plain = f"rtsp://127.0.0.1:{sim.rtsp_port}/stream1"
    sim.answer_stream_uri(plain)
    try:
        reply = api.patch(
            f"/api/v1/cameras/{camera.id}",
            json={"password": SIM_PASSWORD, "name": "renamed"},
            headers=bearer["admin"],
        )
    finally:
        sim.answer_stream_uri(None)
    assert reply.status_code == 409, reply.get_json()
    message = reply.get_json()["error"]["message"]
    assert plain in message and tls_uri in message, message
    assert "nothing was changed" in message, message
    shown = api.get(f"/api/v1/cameras/{camera.id}", headers=bearer["admin"]).get_json()
    assert shown["main_stream_uri"] == tls_uri
    assert shown["name"] == camera.name
    spec = read_registry(svc).specs[camera.id]
    assert spec.tls is not None
    failed = _audits(svc, "camera.update")[-1]
    assert failed.outcome == "failed"
    assert plain in failed.details["error"]
    assert SIM_PASSWORD not in str(failed.details)


def _reading(pipe: CameraPipeline) -> Reading:
    """What the engine's watch reads of ``pipe`` (recorder/engine.py ``_readings``)."""
    st = pipe.status
    opened = st.connected_at is not None or st.reconnects > 0
    return Reading(id(pipe), st.received, None, st.packets, opened, st.certificate)


def test_an_operator_sees_a_refused_stream_certificate_as_an_alarm_with_the_action_OPS_1(
    svc, api, bearer, camera, sim, certs, rtsp_cert, tmp_path
):
    """The stream's certificate changed (a camera swapped on the same address): the
    pipeline refuses it and the watch raises ``stream_certificate``, which the operator
    sees in the alarms (the camera page's and wall's slot, the API) with what to do: the
    CLI command and API call with the fingerprint presented. A dispatcher sees it and may
    not accept (403, audited denied); the admin accepts it (audited), the stream runs
    again and the alarm clears with its first video."""
    genuine, _ = certs
    with contextlib.ExitStack() as stack:
        first = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
        stack.callback(first.close)
        uri = f"rtsps://127.0.0.1:{first.port}/stream1"
        _store(svc, camera.id, main_stream_uri=uri, tls_fingerprint=None)
        _ran(read_registry(svc).specs[camera.id], "streaming")  # pinned on first use
        first.close()
        swapped = TlsFront(sim.rtsp_port, rtsp_cert.server_context(tmp_path), port=first.port)
        stack.callback(swapped.close)
        readings: dict[str, Reading] = {}
        watch = WatchThread(
            lambda: dict(readings),
            svc.events,
            svc.clock,
            lost_after=60.0,
            blank_after=60.0,
            keyframes_after=600.0,
        )
        pipe = _started(read_registry(svc).specs[camera.id])
        stack.callback(pipe.stop)
        _wait(pipe, "down")
        readings[camera.id] = _reading(pipe)
        watch.round()
        assert swapped.received == b""
        query = {"open": "true", "camera": camera.id}
        listed = api.get("/api/v1/alarms", query_string=query, headers=bearer["dispatcher"])
        assert listed.status_code == 200, listed.get_json()
        (alarm,) = [a for a in listed.get_json()["alarms"] if a["kind"] == "stream_certificate"]
        assert alarm["label"] == "stream certificate not accepted"
        detail = alarm["detail"]
        assert "rtsps stream certificate changed; nothing was sent to it" in detail, detail
        command = (
            f"vms camera accept-certificate {camera.id} --port rtsp "
            f"--tls-fingerprint {rtsp_cert.fingerprint}"
        )
        assert command in detail, detail
        assert f"POST /api/v1/cameras/{camera.id}/certificate" in detail, detail
        path = f"/api/v1/cameras/{camera.id}/certificate"
        body = {"port": "rtsp", "tls_fingerprint": rtsp_cert.fingerprint}
        denied = api.post(path, json=body, headers=bearer["dispatcher"])
        assert denied.status_code == 403, denied.get_json()
        accepted = api.post(path, json=body, headers=bearer["admin"])
        assert accepted.status_code == 200, accepted.get_json()
        pipe.stop()
        pipe = _started(read_registry(svc).specs[camera.id])  # the new pin: a new spec
        stack.callback(pipe.stop)
        _wait(pipe, "streaming")
        for _ in range(100):  # the watch reads it as the engine's does, until video came
            readings[camera.id] = _reading(pipe)
            watch.round()
            if pipe.status.received and _reading(pipe).packets > readings[camera.id].packets:
                readings[camera.id] = _reading(pipe)
                watch.round()
                break
            threading.Event().wait(0.1)
    kinds = [
        a["kind"]
        for a in api.get("/api/v1/alarms", query_string=query, headers=bearer["admin"]).get_json()[
            "alarms"
        ]
    ]
    assert "stream_certificate" not in kinds, kinds
    entries = _audits(svc, "camera.certificate.accept")
    assert [(e.outcome, e.actor) for e in entries] == [("denied", "dispatcher"), ("ok", "admin")]


def test_a_stored_stream_with_an_impossible_port_is_a_clear_refusal_not_a_500(
    svc, api, bearer, camera
):
    """A camera row whose rtsps stream names a port no connection can have (stored
    before such answers were refused): accepting its rtsp certificate is a 422 naming
    the URI, audited as failed; the registry leaves the stream out."""
    _store(svc, camera.id, main_stream_uri="rtsps://127.0.0.1:99999/stream1")
    reply = api.post(
        f"/api/v1/cameras/{camera.id}/certificate",
        json={"port": "rtsp", "tls_fingerprint": "AB" * 32},
        headers=bearer["admin"],
    )
    assert reply.status_code == 422, reply.get_data(as_text=True)[:300]
    assert "rtsps://127.0.0.1:99999/stream1" in reply.get_json()["error"]["message"]
    assert camera.id not in read_registry(svc).specs
    assert [e.outcome for e in _audits(svc, "camera.certificate.accept")] == ["failed"]

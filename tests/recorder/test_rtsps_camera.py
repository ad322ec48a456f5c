# ruff: noqa: F811 (the camera-control fixtures are imported, then taken as arguments)
"""An ``rtsps`` camera's pin reaches its stream (docs/design/security.md, "Camera
certificates"): the registry gives the recorder the certificate pinned on the camera row
(or its CA bundle) with the stream, and a recorder pipeline facing another certificate
sends nothing and goes down with both fingerprints as its reason; facing the camera's
own, it streams. The camera is the simulator's RTSP behind a TLS server (a certificate
made here) on the camera's host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from privacy_masks.model import MaskSet
from recorder.fanout import PacketHub
from recorder.pipeline import CameraPipeline, CameraSpec, PipelineSettings
from recorder.registry import read_registry
from tests.onvif_control.conftest import SIM_USER, camera, control, people, settings, sim, svc  # noqa: F401
from tests.onvif_control.tls_peers import SelfSigned, ca_and_leaf, self_signed
from tests.peers.tls_front import TlsFront
from vms.clock import SystemClock
from vms.db.models import Camera

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def certs() -> tuple[SelfSigned, SelfSigned]:
    return self_signed("camera"), self_signed("impostor")


def _store(svc, camera_id: str, **values: object) -> None:
    with svc.db.transaction() as s:
        row = s.get(Camera, camera_id)
        for name, value in values.items():
            setattr(row, name, value)


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
    pipe = _started(spec)
    try:
        _wait(pipe, "down")
    finally:
        pipe.stop()
    assert front.received == b""  # not one RTSP byte: no digest credentials
    assert (
        f"certificate changed: expected {genuine.fingerprint}, got {impostor.fingerprint}; "
        "nothing was sent"
    ) in (pipe.status.last_error or "")
    from vms.media.rtsps import CameraTls  # here: the refusal above is what is shown first

    assert spec.tls == CameraTls(camera.name, fingerprint=genuine.fingerprint)
    # The genuine camera's certificate on the address: the same spec streams.
    honest = TlsFront(sim.rtsp_port, genuine.server_context(tmp_path))
    _store(svc, camera.id, main_stream_uri=f"rtsps://127.0.0.1:{honest.port}/stream1")
    pipe = _started(read_registry(svc).specs[camera.id])
    try:
        _wait(pipe, "streaming")
    finally:
        pipe.stop()
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

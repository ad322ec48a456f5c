# ruff: noqa: F811 (the camera-control fixtures are imported, then taken as arguments)
"""The recorder's camera registry (recorder/registry.py) against stored rows a camera
may have poisoned: a stream URI stored before onboarding checked it (or written by
hand) that names a local file, an FFmpeg pseudo-protocol or another host is not
recorded, and the camera's password is never put into it (#10.11)."""

from __future__ import annotations

import logging

import pytest

from recorder.registry import read_registry
from tests.onvif_control.conftest import (  # noqa: F401 (fixtures)
    SIM_PASSWORD,
    api,
    bearer,
    camera,
    control,
    people,
    settings,
    sim,
    svc,
)
from vms.db.models import Camera
from vms.urls import redact_credentials

pytestmark = pytest.mark.timeout(120)


def _store_uri(svc, camera_id: str, uri: str) -> None:
    with svc.db.transaction() as s:
        s.get(Camera, camera_id).main_stream_uri = uri


@pytest.mark.parametrize(
    "uri",
    [
        "file:///var/lib/vms/secrets/credentials.key",
        "concat:/etc/passwd|/etc/hostname",
        "subfile:,,start,0,end,0,,:/var/lib/vms/vms.db",
        "http://127.0.0.1:9100/metrics",
        "rtsp://10.66.6.6:554/stream",
        "rtsps://attacker.example/stream",
    ],
)
def test_a_stored_stream_uri_elsewhere_is_not_recorded(svc, camera, caplog, uri):
    caplog.set_level(logging.ERROR, logger="recorder.registry")
    assert camera.id in read_registry(svc).specs  # the camera's own URI is recorded
    _store_uri(svc, camera.id, uri)
    snapshot = read_registry(svc)
    assert camera.id not in snapshot.specs, redact_credentials(snapshot.specs[camera.id].url)
    assert not [s for s in snapshot.specs.values() if SIM_PASSWORD in s.url]
    assert any(
        camera.id in r.getMessage() and "not recorded" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize("settings", [{"VMS_CAMERAS_STREAM_HOSTS": "relay.example"}])
def test_a_stream_host_the_admin_named_is_recorded(svc, camera, settings):
    _store_uri(svc, camera.id, "rtsp://relay.example:8554/pole-1")
    spec = read_registry(svc).specs[camera.id]
    assert spec.url.endswith("@relay.example:8554/pole-1")

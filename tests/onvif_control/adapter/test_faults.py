"""Fault translation (onvif_control/adapter/faults.py) against real peers on loopback:
every failure leaves the adapter as one of our error kinds with a readable message
(timeouts, unreachable hosts, wrong credentials, camera faults), and no password in
messages."""

from __future__ import annotations

import time

import pytest

from onvif_control.adapter.device import OnvifDevice
from tests.onvif_control.adapter.conftest import run_with
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER
from tests.peers.sockets import closed_port, silent_server
from vms.errors import FailedPrecondition, InvalidArgument, Unavailable

pytestmark = pytest.mark.timeout(60)


def test_wrong_password_is_failed_precondition_without_the_password(sim):
    device = OnvifDevice(sim.onvif_url, SIM_USER, "hunter2-wrong", label="sim")
    with pytest.raises(FailedPrecondition, match="refused the username or password") as err:
        run_with(device, lambda dev: dev.connect())
    assert "hunter2" not in str(err.value) and "hunter2" not in repr(device)


def test_unreachable_host_is_unavailable():
    port = closed_port()
    device = OnvifDevice(f"http://127.0.0.1:{port}/onvif/device_service", "u", "p", label="gone")
    with pytest.raises(Unavailable, match="camera gone: GetDeviceInformation"):
        run_with(device, lambda dev: dev.connect())


def test_silent_camera_times_out():
    """A peer that accepts connections and never answers: bounded by the timeout."""
    with silent_server() as port:
        device = OnvifDevice(
            f"http://127.0.0.1:{port}/onvif/device_service", "u", "p", label="mute", timeout=0.5
        )
        began = time.monotonic()
        with pytest.raises(Unavailable, match=r"no answer within 0.5 s"):
            run_with(device, lambda dev: dev.connect())
        assert time.monotonic() - began < 3.0


def test_camera_faults_become_our_kinds(sim):
    device = OnvifDevice(sim.onvif_url, SIM_USER, SIM_PASSWORD, label="sim")

    async def go(dev):
        errors = {}
        for name, call in {
            "preset": lambda: dev.goto_preset("profile_1", "nope", None),
            "profile": lambda: dev.status("profile_9"),
            "range": lambda: dev.absolute_move("profile_1", 1.5, 0.0, 0.0, None),
        }.items():
            try:
                await call()
            except Exception as exc:
                errors[name] = exc
        return errors

    errors = run_with(device, go)
    assert isinstance(errors["preset"], InvalidArgument)
    assert "camera sim: GotoPreset" in errors["preset"].message
    assert "NoToken" in errors["preset"].message
    assert (
        isinstance(errors["profile"], InvalidArgument) and "NoProfile" in errors["profile"].message
    )
    assert isinstance(errors["range"], InvalidArgument)

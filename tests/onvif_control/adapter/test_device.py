"""One camera through the adapter (onvif_control/adapter/device.py) against the
simulator on loopback: what onboarding reads."""

from __future__ import annotations

import pytest

from onvif_control.adapter.device import OnvifDevice
from tests.onvif_control.adapter.conftest import run_with
from tests.onvif_control.conftest import SIM_PASSWORD, SIM_USER

pytestmark = pytest.mark.timeout(60)


def test_reads_the_simulator(sim):
    device = OnvifDevice(sim.onvif_url, SIM_USER, SIM_PASSWORD, label="sim")
    d = run_with(device, lambda dev: dev.describe())
    assert d.info.model == "Simulated PTZ camera" and d.ptz_supported
    assert d.main_stream_uri == sim.rtsp_url and d.main_profile == "profile_1"
    assert d.ptz_node["HomeSupported"] is True

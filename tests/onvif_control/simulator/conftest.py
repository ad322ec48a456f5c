"""Fixtures: a running simulated camera (small frames) and helpers to reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from onvif_control.simulator import SimulatedCamera

USERNAME = "admin"
PASSWORD = "pw-sim-test"
SMALL = (320, 180)


def credentials_url(url: str, username: str = USERNAME, password: str = PASSWORD) -> str:
    """``rtsp://host...`` with ``user:password@`` inserted."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{username}:{password}@{rest}"


@pytest.fixture(scope="module")
def camera() -> Iterator[SimulatedCamera]:
    """One started camera at 320x180, 15 fps, per test module; always stopped."""
    cam = SimulatedCamera("test", size=SMALL, fps=15, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()

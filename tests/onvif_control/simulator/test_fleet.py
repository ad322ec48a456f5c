"""Several cameras in one process: consecutive ports, clean and bounded stop."""

from __future__ import annotations

import random
import socket
import threading
import time

import httpx
import pytest

from onvif_control.simulator import SimulatorFleet

from .conftest import PASSWORD, USERNAME

pytestmark = pytest.mark.timeout(60)


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out for bind(0) and outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _free_port_blocks(count: int, blocks: int) -> list[int]:
    """``blocks`` disjoint bases p such that p..p+count-1 were free a moment ago (TCP on
    127.0.0.1). Taken below the ephemeral range: there no outgoing connection of this
    machine (SeaweedFS's servers make many) can take one of them before the fleet binds
    it, as one did in CI when the blocks came from bind(0)."""
    floor = _ephemeral_floor()
    rng = random.Random()
    bases: list[int] = []
    for _ in range(200):
        base = rng.randrange(max(1024, floor - 12000), floor - count)
        if any(abs(base - other) < count for other in bases):
            continue
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)  # closed below even when its bind fails (CI: a ResourceWarning)
                s.bind(("127.0.0.1", port))
            bases.append(base)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        if len(bases) == blocks:
            return bases
    raise AssertionError("no blocks of free ports")


def test_fleet_on_consecutive_ports_starts_and_stops_cleanly():
    onvif_base, rtsp_base = _free_port_blocks(3, 2)
    threads_before = {t.name for t in threading.enumerate()}
    fleet = SimulatorFleet(
        count=3, onvif_port=onvif_base, rtsp_port=rtsp_base, username=USERNAME, password=PASSWORD,
        size=(160, 96), fps=10,
    )  # fmt: skip
    with fleet:
        ports = [(cam.onvif_port, cam.rtsp_port) for cam in fleet.cameras]
        assert ports == [(onvif_base + i, rtsp_base + i) for i in range(3)]
        names = set()
        for cam in fleet.cameras:
            state = httpx.get(
                cam.onvif_url.replace("/onvif/device_service", "/sim/state"), timeout=5
            ).json()
            assert state["name"] == cam.name and state["size"] == [160, 96]
            assert cam.state()["private_zones"] == state["private_zones"]
            names.add(cam.name)
        assert names == {"cam1", "cam2", "cam3"}
        assert any(t.name == "sim-fleet-loop" for t in threading.enumerate())
        started = time.monotonic()
    assert time.monotonic() - started < 10
    leftover = {t.name for t in threading.enumerate() if t.is_alive()} - threads_before
    assert not {n for n in leftover if n.startswith("sim-")}
    for port in (onvif_base, rtsp_base):
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # released


def test_fleet_with_ephemeral_ports_and_a_taken_port():
    with SimulatorFleet(
        count=2, username=USERNAME, password=PASSWORD, size=(160, 96), fps=10
    ) as fleet:
        a, b = fleet.cameras
        assert a.onvif_port != b.onvif_port and a.rtsp_port != b.rtsp_port
        taken = a.onvif_port
        clash = SimulatorFleet(
            count=1, onvif_port=taken, username=USERNAME, password=PASSWORD, size=(160, 96)
        )
        with pytest.raises(OSError):
            clash.start()
        clash.stop()  # idempotent after a failed start


def test_invalid_fleet_arguments():
    with pytest.raises(ValueError):
        SimulatorFleet(count=0, password=PASSWORD)
    with pytest.raises(ValueError):
        SimulatorFleet(count=3, onvif_port=65534, password=PASSWORD)

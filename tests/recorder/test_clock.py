"""One clock for the media engine (INV-5, INV-7): frame capture times, interruptions and
the recorder's status are read from the services' injected clock, the one pose samples
are stamped with. Before #11.5 capture times came from the system clock while poses came
from the injected one, so the masks compared readings of two different clocks."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.simulator import SimulatedCamera
from recorder.engine import get as get_recorder
from recorder.fanout import EncodedPacket, Interruption, Item
from recorder.pipeline import CameraSpec
from tests.conftest import make_config
from tests.recorder.conftest import PASSWORD, USERNAME, wait_for
from vms.clock import ManualClock
from vms.services import Services

# Far from today's date whatever day the suite runs: a system-clock reading cannot pass.
START = dt.datetime(2031, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def manual_services(tmp_path: Path, clock: ManualClock) -> Iterator[Services]:
    data = tmp_path / "var"
    services = Services.open(make_config(data, f"sqlite:///{data / 'vms.db'}"), clock=clock)
    services.migrate()
    try:
        yield services
    finally:
        services.close()


@pytest.mark.timeout(120)
def test_capture_times_are_on_the_injected_clock_INV_5_INV_7(
    manual_services: Services, clock: ManualClock, sim: SimulatedCamera
) -> None:
    recorder = get_recorder(manual_services)
    scheme, rest = sim.rtsp_url.split("://", 1)
    recorder.add_camera(CameraSpec("clocked", f"{scheme}://{USERNAME}:{PASSWORD}@{rest}"))
    packets: list[EncodedPacket] = []
    interruptions: list[Interruption] = []
    lock = threading.Lock()

    def collect(item: Item) -> None:
        with lock:
            if isinstance(item, EncodedPacket):
                packets.append(item)
            else:
                interruptions.append(item)

    recorder.hub("clocked").subscribe(collect)
    recorder.start()
    try:
        wait_for(lambda: len(packets) >= 20, 60, "20 packets")
        with lock:
            captures = [p.capture for p in packets]
        # Arrivals are all read at START (the clock does not move), so the estimated
        # capture times are START plus the packets' own media times: seconds, not days,
        # away; pose samples stamped on this clock are comparable with them (INV-5).
        assert all(abs((c - START).total_seconds()) < 30 for c in captures), captures[:3]
        assert captures == sorted(captures)
        pipeline = recorder.pipeline("clocked")
        assert pipeline.status.connected_at == START
        assert recorder.status("clocked").at == START
    finally:
        clock.advance(dt.timedelta(minutes=5))
        recorder.stop()
    with lock:
        stops = list(interruptions)
    assert stops and all(i.at == START + dt.timedelta(minutes=5) for i in stops)

"""The simulator's frame thread (onvif_control/simulator/stream.py): frame timing."""

from __future__ import annotations

import asyncio
import time

from onvif_control.simulator import SimulatedCamera
from onvif_control.simulator.stream import AccessUnit


def test_no_frame_is_sent_before_its_capture_time_while_sessions_come_and_go() -> None:
    """Sessions joining and leaving wake the frame thread; it must still not make the
    next frame before that frame's capture time. A frame sent early makes a receiver's
    capture clock (recorder/timing.py, the earliest arrival wins) run early for the rest
    of its session, which moves every privacy mask by up to a frame period."""
    cam = SimulatedCamera("hubcam", size=(160, 90), fps=20, username="u", password="p")
    cam.prepare()
    hub = cam.hub
    early: list[float] = []
    delivered: list[AccessUnit] = []

    def watch(unit: AccessUnit) -> None:
        delivered.append(unit)
        lead = unit.capture_monotonic - time.monotonic()
        if lead > 0:
            early.append(lead)

    async def run() -> None:
        hub.start(asyncio.get_running_loop())
        hub.subscribe(watch)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:

            def other(unit: AccessUnit) -> None:
                return None

            hub.subscribe(other)
            await asyncio.sleep(0.004)
            hub.unsubscribe(other)
            await asyncio.sleep(0.004)
        hub.unsubscribe(watch)
        await asyncio.to_thread(hub.stop)

    asyncio.run(run())
    assert len(delivered) >= 15, len(delivered)
    assert not early, f"{len(early)} of {len(delivered)} frames sent up to {max(early):.3f} s early"

"""What the WHEP tests share (tests/web/test_whep.py, test_whep_sender.py,
test_whep_browser.py, tests/recorder/test_cluster_web.py): the simulator recorded masked
or as it comes, and an aiortc peer as the viewer.

The fixtures ``masked`` and ``passthrough`` need the ``sim`` fixture where they are
used: import both (``from tests.web.whep import masked as masked``) with
``from tests.recorder.conftest import sim as sim``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from onvif_control.plugin import get as get_control
from onvif_control.simulator import SimulatedCamera
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from tests.recorder.conftest import Rig, onboard, rigged, wait_for
from vms.services import Services

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
SDP = {"Content-Type": "application/sdp"}

Post = Callable[[str], Any]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def masked(services: Services, sim: SimulatedCamera) -> Iterator[Rig]:
    """The simulator onboarded with its private zones as masks, recorded (masked)."""
    with rigged(services, sim) as rig:
        rig.recorder.start()
        rig.wait_streaming()
        wait_for(lambda: rig.recorder.hub(rig.camera_id).info is not None, 20, "packets")
        yield rig


@pytest.fixture
def passthrough(services: Services, sim: SimulatedCamera) -> Iterator[tuple[Recorder, str]]:
    """The simulator onboarded without masks: recorded as it comes (no decode)."""
    with recorded_as_it_comes(services, sim) as recorded:
        yield recorded


@contextlib.contextmanager
def recorded_as_it_comes(
    services: Services, sim: SimulatedCamera, seconds: float = 20
) -> Iterator[tuple[Recorder, str]]:
    """``sim`` onboarded without masks and recorded (pass-through), its first packets in
    within ``seconds``, until the end."""
    recorder = get_recorder(services)
    try:
        camera_id = onboard(services, sim)
        assert recorder.add_registered() == [camera_id]
        recorder.start()
        wait_for(lambda: recorder.hub(camera_id).info is not None, seconds, "packets")
        assert not recorder.pipeline(camera_id).status.masked
        yield recorder, camera_id
    finally:
        recorder.stop()
        get_control(services).close()


class Viewer:
    """An aiortc peer that receives video (recvonly), as a browser's WHEP client does."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        self.frames: list[Any] = []
        self.ended = asyncio.Event()
        self.location = ""
        self._tasks: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.ensure_future(self._pull(track)))

    async def _pull(self, track: Any) -> None:
        try:
            while True:
                self.frames.append(await track.recv())
                del self.frames[:-5]  # keep the newest few
                self.count = getattr(self, "count", 0) + 1
        except Exception:
            self.ended.set()

    @property
    def decoded(self) -> int:
        return int(getattr(self, "count", 0))

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        assert self.pc.localDescription is not None
        return self.pc.localDescription.sdp

    async def connect(self, post: Post) -> None:
        reply = await asyncio.to_thread(post, await self.offer())
        assert reply.status_code == 201, (reply.status_code, reply.get_data(as_text=True))
        assert reply.mimetype == "application/sdp"
        self.location = reply.headers["Location"]
        await self.pc.setRemoteDescription(
            RTCSessionDescription(reply.get_data(as_text=True), "answer")
        )

    async def wait_frames(self, count: int = 1, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.decoded < count:
            assert time.monotonic() < deadline, f"{self.decoded} frames in {seconds:.0f} s"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


def poster(client: Any, camera_id: str, token: str) -> Post:
    url = f"/api/v1/cameras/{camera_id}/whep"
    return lambda sdp: client.post(url, data=sdp, headers=bearer(token) | SDP)

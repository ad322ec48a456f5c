"""Recorder fixtures: services on SQLite, the simulator as a camera, and a test-only
pose source that polls the simulator's ONVIF GetStatus with onvif-zeep-async (a real
source of latency; the recorder only sees the PoseSource protocol)."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.simulator import SimulatedCamera
from tests.conftest import make_config
from vms.camera_model import Calibration, Pose, PoseSample
from vms.services import Services

USERNAME = "admin"
PASSWORD = "pw-recorder-test"
PROFILE = "profile_1"


def camera_url(cam: SimulatedCamera) -> str:
    scheme, rest = cam.rtsp_url.split("://", 1)
    return f"{scheme}://{USERNAME}:{PASSWORD}@{rest}"


def calibration_of(cam: SimulatedCamera) -> Calibration:
    c = cam.scene.calibration
    return Calibration(
        pan_min=c.pan_min,
        pan_max=c.pan_max,
        tilt_min=c.tilt_min,
        tilt_max=c.tilt_max,
        hfov_wide=c.hfov_wide,
        hfov_tele=c.hfov_tele,
    )


def sqlite_services(tmp: Path, **overrides: object) -> Services:
    data = tmp / "var"
    config = make_config(data, f"sqlite:///{data / 'vms.db'}", **overrides)
    services = Services.open(config)
    services.migrate()
    return services


class OnvifPoseSource:
    """PoseSource polling ONVIF GetStatus every ``period`` seconds in a named thread.

    ``delay`` injects latency (samples become visible that much later); ``cut()`` stops
    answering as if the control channel were down; ``commanded(pose)`` records an
    expected pose at once, as the pose tracker does for commanded moves.
    """

    def __init__(self, cam: SimulatedCamera, camera_id: str, period: float = 0.1) -> None:
        self.cam, self.camera_id, self.period = cam, camera_id, period
        self.calibration = calibration_of(cam)
        self.delay = 0.0
        self._cut = threading.Event()
        self._samples: collections.deque[tuple[float, PoseSample]] = collections.deque(maxlen=2000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-pose-poller", daemon=True)
        self.polls = 0
        self.errors = 0

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while self.latest(self.camera_id) is None:
            assert time.monotonic() < deadline, "no pose from the camera's GetStatus"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def cut(self, down: bool = True) -> None:
        if down:
            self._cut.set()
        else:
            self._cut.clear()

    def commanded(self, pose: Pose | None) -> None:
        last = self.latest(self.camera_id)
        target = pose or (last.pose if last else Pose(0, 0, 0))
        # Commands pass through our own system: known at once, whatever the latency of
        # the camera's GetStatus answers.
        sample = PoseSample(target, dt.datetime.now(dt.UTC), moving=True, commanded=True)
        self._add(sample, immediate=True)

    def _add(self, sample: PoseSample, immediate: bool = False) -> None:
        with self._lock:
            self._samples.append((time.monotonic() - (self.delay if immediate else 0.0), sample))

    def _visible(self) -> list[PoseSample]:
        horizon = time.monotonic() - self.delay
        with self._lock:
            return [s for seen, s in self._samples if seen <= horizon]

    def latest(self, camera_id: str) -> PoseSample | None:
        visible = self._visible()
        return visible[-1] if visible and camera_id == self.camera_id else None

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        return [s for s in self._visible() if s.at >= since] if camera_id == self.camera_id else []

    def _run(self) -> None:
        asyncio.run(self._poll())

    async def _poll(self) -> None:
        from onvif import ONVIFCamera

        cam = ONVIFCamera("127.0.0.1", self.cam.onvif_port, USERNAME, PASSWORD)
        await cam.update_xaddrs()
        ptz = await cam.create_ptz_service()
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                if not self._cut.is_set():
                    sent = dt.datetime.now(dt.UTC)
                    try:
                        status = await ptz.GetStatus({"ProfileToken": PROFILE})
                    except Exception:
                        self.errors += 1
                    else:
                        got = dt.datetime.now(dt.UTC)
                        pos = status.Position
                        pose = self.calibration.from_generic(
                            float(pos.PanTilt.x), float(pos.PanTilt.y), float(pos.Zoom.x)
                        )
                        move = status.MoveStatus
                        moving = str(move.PanTilt) == "MOVING" or str(move.Zoom) == "MOVING"
                        self.polls += 1
                        # The camera read its pose between sending and receiving.
                        self._add(PoseSample(pose, sent + (got - sent) / 2, moving))
                await asyncio.sleep(max(0.0, self.period - (time.monotonic() - began)))
        finally:
            await cam.close()


@pytest.fixture
def sim() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera("cam1", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()

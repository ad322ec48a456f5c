"""Recorder fixtures: services on SQLite with camera control (issue 4) and the recorder
installed, the simulator onboarded in the camera registry, the real pose tracker polling
it, and the recorder recording the registry's cameras.

Every fixture tears down: recorder, tracker and ONVIF loop stopped, simulator stopped,
services closed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from onvif_control.cameras import calibration_from_simulator
from onvif_control.plugin import CameraControl
from onvif_control.plugin import get as get_control
from onvif_control.pose import PoseTracker
from onvif_control.simulator import SimulatedCamera
from privacy_masks.geometry import SpherePolygon
from privacy_masks.service import MaskService
from recorder.engine import Recorder
from recorder.engine import get as get_recorder
from tests.conftest import make_config
from vms.audit.log import SYSTEM_ROLE, Who
from vms.camera_model import Pose, PoseSample
from vms.services import Services

USERNAME = "admin"
PASSWORD = "pw-recorder-test"
SETUP = Who("recorder-test", SYSTEM_ROLE)


def sqlite_services(tmp: Path, **overrides: object) -> Services:
    data = tmp / "var"
    config = make_config(data, f"sqlite:///{data / 'vms.db'}", **overrides)
    services = Services.open(config)
    services.migrate()
    return services


def wait_for(predicate: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {seconds:.0f} s: {what}"
        time.sleep(0.05)


class TrackerView:
    """The pose tracker as the recorder sees it, with test-only faults: ``delay`` makes
    measured samples visible that much later (injected pose latency; commanded samples,
    which our own system knows at once, stay immediate); ``cut()`` hides every sample
    from then on, as a control channel down does (the tracker then gets no replies)."""

    def __init__(self, tracker: PoseTracker) -> None:
        self.tracker = tracker
        self.delay = 0.0
        self._cut_at: dt.datetime | None = None
        self._lock = threading.Lock()

    def cut(self, down: bool = True) -> None:
        with self._lock:
            self._cut_at = dt.datetime.now(dt.UTC) if down else None

    def _visible(self, sample: PoseSample) -> bool:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            cut_at = self._cut_at
        if cut_at is not None and sample.at > cut_at:
            return False
        return sample.commanded or sample.at <= now - dt.timedelta(seconds=self.delay)

    def latest(self, camera_id: str) -> PoseSample | None:
        visible = self.history(camera_id, dt.datetime.min.replace(tzinfo=dt.UTC))
        return visible[-1] if visible else None

    def history(self, camera_id: str, since: dt.datetime) -> list[PoseSample]:
        return [s for s in self.tracker.history(camera_id, since) if self._visible(s)]


@dataclasses.dataclass
class Rig:
    """A recorded, tracked, onboarded simulated camera."""

    services: Services
    sim: SimulatedCamera
    control: CameraControl
    recorder: Recorder
    camera_id: str
    view: TrackerView

    @property
    def tracker(self) -> PoseTracker:
        return self.control.tracker

    def expect(self, pose: Pose | None = None) -> None:
        """Record a command before sending it (the PoseSource contract for masks)."""
        latest = self.tracker.latest(self.camera_id)
        target = pose or (latest.pose if latest is not None else Pose(0.0, 0.0, 0.0))
        self.tracker.expect(self.camera_id, target)

    def wait_streaming(self, seconds: float = 20.0) -> None:
        pipeline = self.recorder.pipeline(self.camera_id)
        wait_for(lambda: pipeline.status.state == "streaming", seconds, "streaming")


def onboard(services: Services, sim: SimulatedCamera, name: str = "sim") -> str:
    control = get_control(services)
    calibration = calibration_from_simulator(sim.state()["calibration"])
    body = control.cameras.onboard(SETUP, name, sim.onvif_url, USERNAME, PASSWORD, calibration)
    return body.id


@pytest.fixture
def sim() -> Iterator[SimulatedCamera]:
    cam = SimulatedCamera("cam1", size=(320, 180), fps=10, username=USERNAME, password=PASSWORD)
    cam.start()
    try:
        yield cam
    finally:
        cam.stop()


@pytest.fixture
def rig_settings() -> dict[str, object]:
    return {"VMS_RECORDER_SEGMENT_SECONDS": "20", "VMS_CAMERAS_POSE_FAST_HZ": "10"}


@contextlib.contextmanager
def rigged(services: Services, sim: SimulatedCamera) -> Iterator[Rig]:
    """The simulator onboarded, its private zones as masks, poses tracked, recorded
    (call ``rig.recorder.start()``); recorder and camera control stopped after."""
    control = get_control(services)
    recorder = get_recorder(services)
    try:
        camera_id = onboard(services, sim)
        zones = [SpherePolygon(z.name, z.polygon) for z in sim.scene.private_zones]
        services.ports.get(MaskService).replace_all(camera_id, zones, SETUP)
        control.start_media()
        wait_for(lambda: control.tracker.latest(camera_id) is not None, 20, "a first pose")
        view = TrackerView(control.tracker)
        recorder.pose_source = view
        assert recorder.add_registered() == [camera_id]
        yield Rig(services, sim, control, recorder, camera_id, view)
    finally:
        recorder.stop()
        control.close()


@pytest.fixture
def rig(sim: SimulatedCamera, tmp_path: Path, rig_settings: dict[str, object]) -> Iterator[Rig]:
    services = sqlite_services(tmp_path, **rig_settings)
    try:
        with rigged(services, sim) as rig:
            yield rig
    finally:
        services.close()

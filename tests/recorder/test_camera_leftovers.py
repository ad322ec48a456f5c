"""A camera deleted from the registry leaves nothing of its masks in a media engine that
runs for months: cameras are onboarded and deleted through the API as an admin does,
the recorder following the registry (its reconcile), and once it has stopped them the
masks it read for them (``MaskService``'s masks in force) are gone with them. The
reads themselves are the recorder's every-second rounds (recorder/polls.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from onvif_control.simulator import SimulatedCamera
from privacy_masks.service import MaskService
from recorder.engine import get as get_recorder
from recorder.polls import CameraPolls
from tests.recorder.conftest import PASSWORD, USERNAME, wait_for
from vms.clock import ManualClock
from vms.services import Services

CAMERAS = 3


@pytest.mark.timeout(120)
def test_deleted_cameras_leave_no_masks_kept_PSCS_1(
    services: Services, client: Any, tokens: dict[str, str], sim: SimulatedCamera
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    recorder = get_recorder(services)
    masks = services.ports.get(MaskService)
    recorder.follow_registry()  # what `vms serve` does for the media role
    recorder.start()
    try:
        made = []
        for i in range(CAMERAS):
            r = client.post(
                "/api/v1/cameras",
                json={
                    "name": f"short-lived-{i}",
                    "onvif_url": sim.onvif_url,
                    "username": USERNAME,
                    "password": PASSWORD,
                },
                headers=admin,
            )
            assert r.status_code == 201, r.get_json()
            made.append(r.get_json()["id"])
        wait_for(lambda: set(made) <= set(recorder.camera_ids()), 20, "the cameras recorded")
        wait_for(lambda: set(made) <= set(masks._in_force), 20, "their masks read")
        for camera_id in made:
            assert client.delete(f"/api/v1/cameras/{camera_id}", headers=admin).status_code == 204
        wait_for(lambda: not set(made) & set(recorder.camera_ids()), 20, "the cameras stopped")
        assert not set(made) & set(masks._in_force), "masks kept of deleted cameras"
    finally:
        recorder.stop()


def test_a_camera_forgotten_during_a_round_is_not_kept_again() -> None:
    """A round that began before a camera was removed from the engine answers for it
    after: neither the round's board nor the masks' reader keeps it (it would be read
    every second, for good)."""
    kept: set[str] = set()
    polls: CameraPolls

    def read_masks(cameras: Any) -> dict[str, Any]:
        cameras = list(cameras)
        if "gone" in cameras and len(cameras) > 1:
            polls.forget("gone")  # removed while this round reads
        kept.update(cameras)  # what MaskService.current_all keeps, as its read ends
        return dict.fromkeys(cameras, "masks")

    polls = CameraPolls(
        read_masks,
        lambda cameras: dict.fromkeys(cameras, True),
        ManualClock(dt.datetime(2026, 12, 6, tzinfo=dt.UTC)),
        forget_masks=kept.discard,
    )
    polls.masks("gone"), polls.masks("stays")  # first asks: read at once
    polls.poll()
    assert kept == {"stays"}
    polls.poll()
    assert kept == {"stays"}

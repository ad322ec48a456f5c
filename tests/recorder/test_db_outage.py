"""The recorder while the database does not answer its every-second polls: a camera goes
on recording, masked by the masks it had (PSCS-1, INV-5), instead of restarting its
stream (the restart reads the masks first, and failed as long as the database was out).
The segment writer's side is in test_salvage.py (an unreadable recording state)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from privacy_masks.model import MaskSet
from privacy_masks.stage import MaskStage
from recorder.pipeline import CameraPipeline
from tests.recorder.conftest import Rig, wait_for


def streaming_masked(rig: Rig) -> tuple[CameraPipeline, MaskStage]:
    """The rig's camera recording, its masks painted (the window zone is in view)."""
    rig.recorder.start()
    rig.wait_streaming()
    pipeline = rig.recorder.pipeline(rig.camera_id)
    wait_for(lambda: pipeline.status.packets > 20, 20, "packets")
    stage = pipeline.stage
    assert stage is not None and stage.painted is not None and stage.painted.cells > 0
    return pipeline, stage


def test_masks_unreadable_mid_stream_keep_the_stream_recording_masked_PSCS_1(rig: Rig) -> None:
    pipeline, stage = streaming_masked(rig)
    reconnects, version = pipeline.status.reconnects, pipeline.status.mask_version
    readable = pipeline._masks

    def unreadable(camera_id: str) -> object:
        raise RuntimeError("database is locked (planted)")

    # The fake is the mask read only: what is examined is what the pipeline does then.
    pipeline._masks = unreadable  # type: ignore[assignment]
    try:
        packets = pipeline.status.packets
        time.sleep(3.5)  # three re-reads (mask_reload_seconds 1)
        assert pipeline.status.state == "streaming"
        assert pipeline.status.reconnects == reconnects
        assert pipeline.status.packets > packets + 20  # 10 fps
        # Still masked by the set in force (the window zone is in view at home), or
        # blanked whole, never painted with nothing.
        assert pipeline.stage is stage and stage.stats.frames > packets
        painted = stage.painted
        assert painted is None or painted.cells > 0
        assert pipeline.status.mask_version == version
    finally:
        pipeline._masks = readable
    packets = pipeline.status.packets
    time.sleep(1.5)
    assert pipeline.status.state == "streaming" and pipeline.status.reconnects == reconnects
    assert pipeline.status.packets > packets


def test_a_hung_mask_read_holds_no_stream_and_lifts_no_mask_once_stale_PSCS_1(
    rig: Rig,
) -> None:
    """The engine reads every camera's masks in one thread (recorder/polls.py): a read
    that hangs (a database that does not answer) holds that thread only. The stream goes
    on, masked by the masks it had, and once the newest reading is older than
    ``stale_seconds`` it takes the masks as unreadable: no mask lifted (PSCS-1). When the
    reads come back, so does the stream's reading."""
    pipeline, stage = streaming_masked(rig)
    reconnects = pipeline.status.reconnects
    board = rig.recorder.polls._boards[0]
    read, gate = board._read, threading.Event()

    def hung(camera_ids: Iterable[str]) -> dict[str, MaskSet]:
        gate.wait(60)
        return read(camera_ids)

    # The fake is the database's answer only: what is examined is what the engine does.
    board._read = hung  # type: ignore[assignment]
    try:
        wait_for(lambda: pipeline._masks_unread, 15, "the masks taken as unreadable")
        packets = pipeline.status.packets
        time.sleep(1.0)
        assert pipeline.status.state == "streaming"
        assert pipeline.status.reconnects == reconnects
        assert pipeline.status.packets > packets + 5  # 10 fps, never held by the read
        painted = stage.painted
        assert pipeline.stage is stage and (painted is None or painted.cells > 0)
    finally:
        board._read = read  # type: ignore[assignment]
        gate.set()
    wait_for(lambda: not pipeline._masks_unread, 10, "the masks readable again")
    assert pipeline.status.state == "streaming" and pipeline.status.reconnects == reconnects

"""The recorder while the database does not answer its every-second polls: a camera goes
on recording, masked by the masks it had (PSCS-1, INV-5), instead of restarting its
stream (the restart reads the masks first, and failed as long as the database was out).
The segment writer's side is in test_salvage.py (an unreadable recording state)."""

from __future__ import annotations

import time

from tests.recorder.conftest import Rig, wait_for


def test_masks_unreadable_mid_stream_keep_the_stream_recording_masked_PSCS_1(rig: Rig) -> None:
    rig.recorder.start()
    rig.wait_streaming()
    pipeline = rig.recorder.pipeline(rig.camera_id)
    wait_for(lambda: pipeline.status.packets > 20, 20, "packets")
    stage = pipeline.stage
    assert stage is not None and stage.painted is not None and stage.painted.cells > 0
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

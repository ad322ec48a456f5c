"""The server's clock stepped back (NTP correcting a clock that ran ahead, an operator
fixing a wrong date) while the camera's last segment is catalogued at the old, later
time (INV-7, OPS-4, RET-1).

The segment writer never starts a segment before where the camera's recording is known
to have got to (its floor, read from the catalog at start): capture times from the
stepped-back clock all lie before it. Segments must still close every
``segment_seconds`` of video and be catalogued with the span they hold.
"""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from recorder.fanout import PacketHub
from tests.recorder.test_reliability import assert_complete, gaps
from tests.recorder.test_salvage import FPS, T0, assert_no_overlaps, ingest_segment, publish_frames
from tests.recorder.test_salvage import writer_for as salvage_writer_for
from vms.services import Services


def test_segments_still_close_after_the_clock_stepped_back_an_hour_INV_7_OPS_4(
    services: Services,
) -> None:
    """Before: the writer started the segment at the floor and rotated it when a packet's
    capture time was ``segment_seconds`` past that start, which no capture time from the
    stepped-back clock reached for an hour: nothing was catalogued until the recorder
    stopped (no playback, the spool file growing), and the one segment then was
    catalogued as a single frame (0.1 s) whatever it held."""
    camera = "cam-stepped"
    ahead = T0 + dt.timedelta(hours=1)  # recorded while the clock ran an hour ahead
    ingest_segment(services, camera, ahead - dt.timedelta(seconds=10), 10)
    hub = PacketHub(camera)
    writer = salvage_writer_for(services, camera, hub, segment_seconds=1.0)
    writer.start()
    base = np.random.default_rng(11).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    # 4.5 s of video (a keyframe each second), captured on the corrected clock.
    publish_frames(hub, T0, [np.roll(base, i, axis=1) for i in range(int(4.5 * FPS))])
    writer.stop()

    rows = assert_complete(services, camera)
    new = [r for r in rows if r.recorded_start >= ahead]
    assert len(new) == 5, [(r.recorded_start, r.recorded_end) for r in new]
    spans = [(r.recorded_end - r.recorded_start).total_seconds() for r in new]  # type: ignore[operator]
    assert spans[:4] == [1.0, 1.0, 1.0, 1.0], spans
    assert abs(spans[4] - 0.5) < 1e-6, spans
    assert new[0].recorded_start == ahead
    for before, after in itertools.pairwise(new):
        assert before.recorded_end == after.recorded_start
    assert_no_overlaps(services, camera)
    assert [g.cause for g in gaps(services, camera)][:1] == ["restart"]

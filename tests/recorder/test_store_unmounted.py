"""Recording while the media store's volume is not mounted (vms/store_guard.py): the
ingest refuses each segment (StoreNotThere). The recorder set a refused segment aside
into the store's quarantine, which with the volume away is a folder under the bare
mount point: the footage went where nobody looks (``vms catalog check`` lists the
mounted store's quarantine) and was hidden again once the volume was back. It must stay
in the spool, and be catalogued by the salvage at the next start (INV-1, OPS-4)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np

from recorder.fanout import PacketHub
from recorder.recording import RecordingLog
from recorder.segments import SegmentWriter
from tests.recorder.conftest import wait_for
from tests.recorder.test_reliability import items
from tests.recorder.test_salvage import publish_frames, spool_dir, start_writer, writer_for
from tests.retention.conftest import ingest
from vms.clock import ManualClock
from vms.services import Services

BASE = np.random.default_rng(7).integers(0, 255, (120, 160, 3), dtype=np.uint8)


def test_a_segment_refused_by_an_unmounted_store_stays_in_the_spool_INV_1(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    ingest(services, recorded_at=clock.now() - dt.timedelta(days=1))  # a catalog with items
    media = services.store.root
    volume = tmp_path / "volume"
    media.rename(volume)
    media.mkdir()  # the bare mount point

    hub = PacketHub("c1")
    writer = writer_for(services, "c1", hub)
    writer.start()
    publish_frames(hub, clock.now(), [np.roll(BASE, 3 * i, axis=1) for i in range(30)])
    writer.stop()

    hidden = [p for p in media.rglob("*") if p.is_file()]
    assert hidden == [], f"footage left under the bare mount point: {hidden}"
    assert len(list(spool_dir(services, "c1").glob("*.mp4"))) == 1

    shutil.rmtree(media)
    volume.rename(media)  # the volume is back; the recorder starts again
    start_writer(services, "c1")
    assert len(items(services, "c1")) == 1
    assert not list(spool_dir(services, "c1").glob("*.mp4"))


def test_a_segment_kept_while_the_volume_is_away_is_catalogued_when_it_is_back_INV_1(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    """StoreNotThere is a StoreUnavailable: the writer keeps the segment for retry (as
    for an object store that does not answer, recording.md 4a), so it is catalogued once
    the volume is mounted again, without waiting for a restart."""
    ingest(services, recorded_at=clock.now() - dt.timedelta(days=1))
    media = services.store.root
    volume = tmp_path / "volume"
    media.rename(volume)
    media.mkdir()

    hub = PacketHub("c1")
    writer = SegmentWriter(
        "c1",
        hub,
        spool_dir(services, "c1"),
        services.ingestor,
        services.store,
        services.ports.get(RecordingLog),
        services.events,
        services.clock,
        segment_seconds=1.0,
        retry_seconds=0.5,
    )
    writer.start()
    try:
        # Three seconds of video: two segments closed (keyframe every second) while the
        # writer runs, each refused by the bare mount point and kept.
        publish_frames(hub, clock.now(), [np.roll(BASE, 3 * i, axis=1) for i in range(30)])
        wait_for(lambda: writer.status.kept >= 2, 30, "the segments kept for retry")
        assert [p for p in media.rglob("*") if p.is_file()] == []
        shutil.rmtree(media)
        volume.rename(media)  # mounted again while the writer runs
        wait_for(lambda: len(items(services, "c1")) == 2, 30, "the kept segments catalogued")
        assert writer.status.kept == 0
    finally:
        writer.stop()

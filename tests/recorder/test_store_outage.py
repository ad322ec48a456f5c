"""Recorder segments while the S3 object store is out (INV-1, INV-9, OPS-4).

The store is the real SeaweedFS behind the fault proxy of
tests/peers/seaweedfs/faults.py. A segment whose ingest fails because the store does not
answer (503, a timeout, a refused connection: ``Unavailable``) is no refusal of its
content: the segment stays in the node's spool and is ingested again, through the one
ingest path, once the store answers, its ``store_unavailable`` gap taken back out of the
timeline. Before, it went to the node-local quarantine and was never catalogued: the
footage was lost to the catalog (never found, held or purged) although its bytes were
on the node. And a hung store held the segment writer for up to 3 x 120 s per segment
while its queue holds about 200 s of packets: the S3 client's timeouts and attempts for
segment ingest are bounded (``[store] segment_timeout_seconds``, ``segment_attempts``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from recorder.fanout import PacketHub
from recorder.recording import STORE_UNAVAILABLE, RecordingLog
from recorder.segments import SegmentWriter
from tests.conftest import make_config, s3_overrides
from tests.peers.seaweedfs import SeaweedS3
from tests.peers.seaweedfs.faults import FaultyS3
from tests.recorder.conftest import wait_for
from tests.recorder.leases import LEASE, nodes
from tests.recorder.test_reliability import gaps, items
from tests.recorder.test_salvage import (
    FPS,
    assert_no_overlaps,
    publish_frames,
    quarantine_audits,
    spool_dir,
    spool_name,
    write_spool_file,
)
from vms.clock import ManualClock
from vms.config import Config
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def faulty(seaweedfs: SeaweedS3) -> Iterator[FaultyS3]:
    with FaultyS3(seaweedfs.endpoint) as proxy:
        try:
            yield proxy
        finally:
            proxy.down = proxy.hang_object_writes = False


@pytest.fixture
def config(database: tuple[str, Path], seaweedfs: SeaweedS3, faulty: FaultyS3) -> Config:
    url, data_dir = database
    settings = s3_overrides(seaweedfs)
    settings["VMS_STORE_ENDPOINT"] = faulty.endpoint
    settings["VMS_STORE_SEGMENT_TIMEOUT_SECONDS"] = "1"
    settings["VMS_STORE_SEGMENT_ATTEMPTS"] = "1"
    return make_config(data_dir, url, **settings)


def writer(services: Services, camera_id: str, hub: PacketHub) -> SegmentWriter:
    return SegmentWriter(
        camera_id,
        hub,
        spool_dir(services, camera_id),
        services.ingestor,
        services.store,
        services.ports.get(RecordingLog),
        services.events,
        services.clock,
        segment_seconds=1.0,
        retry_seconds=0.5,
    )


def frames(seconds: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    return [np.roll(base, i * 4, axis=1) for i in range(seconds * FPS)]


def assert_catalogued_once_no_gap(services: Services, camera: str, seconds: int) -> None:
    """Every segment catalogued once, back to back from T0, no gap but the stop's."""
    rows = items(services, camera)
    spans = [(r.recorded_start, r.recorded_end) for r in rows]
    assert len({r.sha256 for r in rows}) == len(rows), spans
    assert spans[0][0].replace(tzinfo=dt.UTC) == T0, spans
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start == end, f"segments not back to back: {spans}"
    last_end = spans[-1][1]
    assert last_end is not None
    covered = last_end.replace(tzinfo=dt.UTC) - T0
    assert covered >= dt.timedelta(seconds=seconds - 1), spans
    found = [(g.cause, g.start, g.end, g.detail) for g in gaps(services, camera)]
    assert [g[0] for g in found] == ["stopped"], found
    assert_no_overlaps(services, camera)
    assert quarantine_audits(services, camera) == []
    assert list(services.store.iter_quarantined()) == []
    assert list(spool_dir(services, camera).glob("*.mp4")) == []


def test_segments_refused_while_the_store_is_down_are_catalogued_when_it_answers_INV_1_OPS_4(
    services: Services, faulty: FaultyS3
) -> None:
    camera = "cam-s3-down"
    hub = PacketHub(camera)
    w = writer(services, camera, hub)
    w.start()
    try:
        faulty.down = True  # 503 ServiceUnavailable to every request
        publish_frames(hub, T0, frames(4, seed=1))
        wait_for(lambda: faulty.refused >= 3, 30, "the store refusing segments")
        wait_for(
            lambda: any(g.cause == STORE_UNAVAILABLE for g in gaps(services, camera)),
            30,
            "the span of a segment kept for retry shown as a gap",
        )
        assert items(services, camera) == []
        faulty.down = False
        wait_for(lambda: len(items(services, camera)) >= 3, 30, "the kept segments catalogued")
    finally:
        w.stop()
    assert_catalogued_once_no_gap(services, camera, 4)


def test_a_hung_store_holds_the_segment_writer_for_seconds_not_minutes_INV_1_OPS_4(
    services: Services, faulty: FaultyS3
) -> None:
    """A store that takes the upload and never answers: the segment's ingest gives up
    within ``segment_timeout_seconds`` x ``segment_attempts`` (1 s here; it was 3 x 120 s
    whatever the setting), the segment is kept for retry, and once the store answers
    again it is catalogued once (its late upload, which the store kept, is no second
    item)."""
    camera = "cam-s3-hung"
    hub = PacketHub(camera)
    w = writer(services, camera, hub)
    w.start()
    try:
        faulty.hang_object_writes = True
        started = time.monotonic()
        publish_frames(hub, T0, frames(3, seed=2))
        wait_for(
            lambda: any(g.cause == STORE_UNAVAILABLE for g in gaps(services, camera)),
            20,
            "the segment writer giving up on a hung store",
        )
        assert time.monotonic() - started < 20
        faulty.hang_object_writes = False
        wait_for(lambda: len(items(services, camera)) >= 2, 30, "the kept segments catalogued")
    finally:
        faulty.hang_object_writes = False
        w.stop()
    assert_catalogued_once_no_gap(services, camera, 3)


def test_a_segment_kept_at_the_stop_is_catalogued_by_the_next_starts_salvage_OPS_4(
    services: Services, faulty: FaultyS3
) -> None:
    """The recorder stops while the store is still out: the kept segments wait in the
    spool (never quarantined), and the next start's salvage catalogues them with their
    ``store_unavailable`` gaps taken back, never overlapping them (OPS-4)."""
    camera = "cam-s3-stop"
    hub = PacketHub(camera)
    w = writer(services, camera, hub)
    w.start()
    faulty.down = True
    publish_frames(hub, T0, frames(3, seed=3))
    w.stop()
    assert items(services, camera) == []
    assert len(list(spool_dir(services, camera).glob("*.mp4"))) == 3
    assert [g.cause for g in gaps(services, camera)] == [STORE_UNAVAILABLE] * 3 + ["stopped"]

    faulty.down = False
    again = writer(services, camera, PacketHub(camera))
    again.start()
    again.stop()

    rows = items(services, camera)
    assert len(rows) == 3 and len({r.sha256 for r in rows}) == 3
    assert STORE_UNAVAILABLE not in [g.cause for g in gaps(services, camera)]
    assert_no_overlaps(services, camera)
    assert list(services.store.iter_quarantined()) == []
    assert list(spool_dir(services, camera).glob("*.mp4")) == []


def test_a_kept_segment_whose_lease_passed_on_is_not_catalogued_INV_9(
    services: Services, clock: ManualClock, faulty: FaultyS3
) -> None:
    """INV-9 holds for the retry: node A kept its segments while the store was out, then
    lost the camera to node B; when the store answers, A's retry is refused by the
    fence, and the footage goes to quarantine (kept, audited), never catalogued under
    a lease another node holds."""
    camera = "c1"
    a, b = nodes(services, clock, "node-a", "node-b")
    token = a.round([camera])[camera]
    hub = PacketHub(camera)
    w = writer(services, camera, hub)
    w.fence = token
    w.start()
    try:
        faulty.down = True
        publish_frames(hub, T0, frames(3, seed=4))
        wait_for(lambda: w.status.kept >= 2, 30, "segments kept for retry")
        clock.advance(LEASE + dt.timedelta(seconds=1))  # A stalled: B takes c1 over
        assert b.round([camera]) == {camera: token + 1}
        faulty.down = False
        wait_for(lambda: len(quarantine_audits(services, camera)) >= 2, 30, "the retry refused")
    finally:
        w.stop()
    assert items(services, camera) == []
    for entry in quarantine_audits(services, camera):
        assert "lease" in entry.details["reason"], entry.details


def test_a_start_while_the_store_is_down_keeps_the_spool_and_catalogues_it_later_INV_1(
    services: Services, faulty: FaultyS3
) -> None:
    """A recorder killed mid-segment restarts while the store is out: the start's
    salvage keeps the whole spool file in the spool (its span a ``store_unavailable``
    gap) and the writer catalogues it once the store answers, its gap taken back.
    Before, the salvage took the store's 503 for a refusal of the bytes and moved the
    file to quarantine, never catalogued."""
    camera = "cam-s3-crash"
    spool = spool_dir(services, camera)
    spool.mkdir(parents=True)
    write_spool_file(spool / spool_name(T0), seconds=2.0)
    faulty.down = True
    w = writer(services, camera, PacketHub(camera))
    w.start()
    try:
        assert list(services.store.iter_quarantined()) == []
        assert [p.name for p in spool.glob("*.mp4")] == [spool_name(T0)]
        assert STORE_UNAVAILABLE in [g.cause for g in gaps(services, camera)]
        faulty.down = False
        wait_for(lambda: len(items(services, camera)) == 1, 30, "the spool file catalogued")
    finally:
        w.stop()
    [row] = items(services, camera)
    assert row.recorded_start.replace(tzinfo=dt.UTC) == T0
    assert STORE_UNAVAILABLE not in [g.cause for g in gaps(services, camera)]
    assert_no_overlaps(services, camera)
    assert quarantine_audits(services, camera) == []
    assert list(spool.glob("*.mp4")) == []

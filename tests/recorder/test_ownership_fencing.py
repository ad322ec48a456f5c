"""The camera lease's fencing token (issue 13, item 1; INV-9): checked at segment ingest
and at gaps (a node that lost its camera catalogues nothing and writes no gap in the new
holder's recording, OPS-4), and at the salvage of crash leftovers, whose spool names
keep the token. The leases themselves are in ``test_ownership.py``."""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from recorder.fanout import PacketHub
from recorder.ownership import Ownership
from recorder.recording import RecordingLog
from recorder.segments import SegmentWriter, StopReason
from recorder.spool import SpoolName
from tests.media import make_video
from tests.recorder.leases import LEASE, NOW, nodes
from tests.recorder.test_reliability import gaps, items
from vms.audit.log import Who
from vms.clock import ManualClock
from vms.db.models import MediaItem, SourceKind
from vms.ingest import IngestRequest
from vms.leases import LeaseLost
from vms.services import Services

BASE = np.random.default_rng(5).integers(0, 255, (120, 160, 3), dtype=np.uint8)


# -- fencing at ingest ----------------------------------------------------------------------


def segment(services: Services, fence: int | None, seed: int) -> Callable[[], str]:
    return lambda: (
        services.ingestor.ingest(
            io.BytesIO(make_video(seconds=0.5, seed=seed)),
            IngestRequest(source=SourceKind.FIXED, device_id="c1", recorded_at=NOW, fence=fence),
            Who("recorder", "system"),
        ).media_id
    )


def test_a_segment_recorded_under_a_lost_lease_is_not_catalogued(
    services: Services, clock: ManualClock
) -> None:
    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    assert segment(services, token_a, 1)()  # a holds it: catalogued
    clock.advance(LEASE + dt.timedelta(seconds=1))  # a stalls; b takes over
    token_b = b.round(["c1"])["c1"]
    with pytest.raises(LeaseLost, match=f"token {token_a}.*node-b"):
        segment(services, token_a, 2)()
    assert segment(services, token_b, 3)()
    with services.db.session() as s:
        assert s.query(MediaItem).filter(MediaItem.device_id == "c1").count() == 2
    assert list(services.store.iter_objects()) and len(list(services.store.iter_objects())) == 2


def test_a_gap_opened_or_closed_under_a_lost_lease_is_refused_OPS_4(
    services: Services, clock: ManualClock
) -> None:
    """The camera's gaps are its holder's: a node that lost the lease writes none, or
    its gap (from its own last packet) would overlap the new holder's segments."""
    recording = services.ports.get(RecordingLog)
    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    gap = recording.open_gap("c1", NOW, "handed over", "test", token_a)  # a holds it
    clock.advance(LEASE + dt.timedelta(seconds=1))
    token_b = b.round(["c1"])["c1"]
    with pytest.raises(
        LeaseLost, match=f"this gap was written under \\(token {token_a}\\).*node-b"
    ):
        recording.open_gap("c1", NOW, "stopped", "test", token_a)
    with pytest.raises(LeaseLost, match="not closed"):
        recording.close_gap(gap, NOW + dt.timedelta(seconds=5), token_a)
    [left] = recording.open_gaps("c1")
    assert left.id == gap and left.end is None  # for the new holder to continue
    # Nor does it settle them at a start: a later gap would close this one there.
    later = recording.open_gap("c1", NOW + dt.timedelta(seconds=5), "stopped", "test", token_b)
    with pytest.raises(LeaseLost, match="not settled"):
        recording.settle_open_gaps("c1", token_a)
    assert [g.end for g in recording.open_gaps("c1")] == [None, None]
    assert recording.settle_open_gaps("c1", token_b) == (
        later,
        "stopped",
        NOW + dt.timedelta(seconds=5),
    )
    [left] = recording.open_gaps("c1")
    assert left.id == later
    recording.close_gap(later, NOW + dt.timedelta(seconds=6), token_b)
    assert recording.open_gaps("c1") == []


def test_a_writer_started_under_a_lost_lease_takes_up_no_gap_OPS_4(
    services: Services, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A node slow to start a camera whose lease has meanwhile passed on neither
    settles nor continues the camera's open gap: the new holder does (_resume_gap)."""
    from tests.recorder.test_salvage import writer_for

    recording = services.ports.get(RecordingLog)
    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    gap = recording.open_gap("c1", NOW, "stopped", "test", token_a)
    clock.advance(LEASE + dt.timedelta(seconds=1))
    b.round(["c1"])
    writer = writer_for(services, "c1", PacketHub("c1"))
    writer.fence = token_a
    with caplog.at_level(logging.WARNING, logger="recorder.segments"):
        writer.start()
        writer.stop()
    assert not writer.status.gap_open
    assert "not settled; no gap settled or opened at the start" in caplog.text
    assert [(g.id, g.end) for g in recording.open_gaps("c1")] == [(gap, None)]


def test_a_node_that_lost_its_camera_while_stopping_it_writes_no_gap_in_the_new_holders_OPS_4(
    services: Services, clock: ManualClock
) -> None:
    """What the cluster test once found (session 22): node A was slow to stop a camera
    it handed over, its lease ran out, node B took the camera and recorded; then A's
    writer stopped and opened its gap at its own last packet, 2.8 s inside B's segment.
    Now A's last segment is quarantined (not catalogued twice) and A writes no gap."""
    from tests.recorder.test_salvage import assert_no_overlaps, publish_frames, writer_for

    recording = services.ports.get(RecordingLog)
    a, b = nodes(services, clock, "node-a", "node-b")
    images = [np.roll(BASE, 3 * i, axis=1) for i in range(30)]  # 3 s at 10 fps
    hub_a, hub_b = PacketHub("c1"), PacketHub("c1")
    writer_a = writer_for(services, "c1", hub_a)
    writer_a.fence = a.round(["c1"])["c1"]
    writer_a.start()
    clock.advance(LEASE + dt.timedelta(seconds=1))  # A is slow to stop it: the lease runs out
    writer_b = writer_for(services, "c1", hub_b)
    writer_b.fence = b.round(["c1"])["c1"]
    writer_b.start()
    publish_frames(hub_b, NOW + dt.timedelta(seconds=1), images)  # B records 1-4 s
    publish_frames(hub_a, NOW, images)  # A's last seconds, 0-3 s
    writer_a.stop(reason=StopReason("handed over", "recorded by another media node"))
    writer_b.stop()

    assert_no_overlaps(services, "c1")
    # A's start left c1 (never recorded) an "added" gap, which B continued and closed at
    # its first packet; then B's stop, at its last packet.
    assert [g.cause for g in gaps(services, "c1")] == ["added", "stopped"]
    assert [i.recorded_start for i in items(services, "c1")] == [NOW + dt.timedelta(seconds=1)]
    assert len(list(services.store.iter_quarantined())) == 1  # A's, kept
    assert recording.open_gaps("c1")[0].start >= NOW + dt.timedelta(seconds=4)


# -- crash salvage under the fence (INV-9) ----------------------------------------------------


def crash_leftover(services: Services, token: int, seconds: float = 3.0) -> None:
    """The spool file a media node killed mid-segment leaves, recorded under ``token``
    from NOW for ``seconds`` (procedure 5 of docs/design/recording.md)."""
    from tests.recorder.test_salvage import spool_dir, write_spool_file

    spool = spool_dir(services, "c1")
    spool.mkdir(parents=True, exist_ok=True)
    write_spool_file(spool / SpoolName(NOW, 0, False, token).file_name(), seconds=seconds)


def record_elsewhere(
    services: Services,
    node: Ownership,
    spool: Path,
    start: dt.datetime,
    seconds: int,
    taken_from: str | None = None,
) -> None:
    """``node`` (with its own data folder, ``spool``) records c1 for ``seconds`` from
    ``start`` under the lease it holds (``taken_from``: the node it took c1 over from,
    as the engine says, ``Ownership.taken_over``), then stops."""
    from tests.recorder.test_salvage import publish_frames

    hub = PacketHub("c1")
    writer = SegmentWriter(
        "c1",
        hub,
        spool,
        services.ingestor,
        services.store,
        services.ports.get(RecordingLog),
        services.events,
        services.clock,
    )
    writer.fence = node.tokens["c1"]
    writer.taken_from = taken_from
    writer.start()
    publish_frames(hub, start, [np.roll(BASE, 3 * i, axis=1) for i in range(seconds * 10)])
    writer.stop()


def salvage_as_started(services: Services, fence: int | None) -> None:
    """The restarted node's salvage of c1's spool: by its segment writer when it holds
    the camera again (``fence``), else at the recorder's start, as a camera it does not
    record (``Recorder._salvage_unrecorded``)."""
    from recorder.engine import get as get_recorder
    from tests.recorder.test_salvage import writer_for

    if fence is None:
        recorder = get_recorder(services)
        recorder.start()
        recorder.stop()
        return
    writer = writer_for(services, "c1", PacketHub("c1"))
    writer.fence = fence
    writer.start()
    writer.stop()


@pytest.mark.parametrize("holds_it_again", [False, True], ids=["held-by-b", "reclaimed"])
def test_a_stalled_nodes_crash_leftover_is_not_catalogued_over_the_new_holders_INV_9(
    services: Services, clock: ManualClock, tmp_path: Path, holds_it_again: bool
) -> None:
    """INV-9 against crash salvage: node A recorded c1 under its token, stalled past its
    lease, node B took c1 over and recorded the same seconds, then A was killed
    mid-segment. Restarted, A salvages its spool, whether B still holds c1 (the recorder
    salvages it as a camera it does not record) or A has claimed it back since (its
    writer salvages it under the new token): the footage was written under a lease that
    passed through another node, so it is quarantined (kept, audited) like a live
    segment refused by the fence, never catalogued over B's. Before: the salvage
    ingested it unfenced, two writers' segments for one camera and time."""
    from tests.recorder.test_salvage import assert_no_overlaps, quarantine_audits

    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    crash_leftover(services, token_a)  # A's last seconds, 0-3 s, left by the kill
    clock.advance(LEASE + dt.timedelta(seconds=1))  # A stalled: B takes c1 over
    assert b.round(["c1"]) == {"c1": token_a + 1}
    record_elsewhere(services, b, tmp_path / "node-b" / "c1", NOW + dt.timedelta(seconds=1), 3)
    fence = None
    if holds_it_again:
        b.release_all()  # B stops; A, restarted, claims c1 back
        (again,) = nodes(services, clock, "node-a")
        fence = again.round(["c1"])["c1"]
        assert fence == token_a + 2

    salvage_as_started(services, fence)

    assert_no_overlaps(services, "c1")
    assert [i.recorded_start for i in items(services, "c1")] == [NOW + dt.timedelta(seconds=1)]
    [kept] = list(services.store.iter_quarantined())
    assert kept.name.startswith(NOW.strftime("%Y%m%dT%H%M%S"))
    [entry] = quarantine_audits(services, "c1")
    reason = entry.details["reason"]
    assert reason.startswith("recorded under a lease another media node has claimed since")
    assert f"the lease this segment was written under (token {token_a})" in reason
    assert "crash" not in [g.cause for g in gaps(services, "c1")]  # B recorded those seconds


def catalogued_before(services: Services, token: int, end: float = 0) -> None:
    """The segment node A catalogued under ``token`` before its leftover: 3 s to ``end``
    seconds from NOW."""
    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=3, seed=7)),
        IngestRequest(
            source=SourceKind.FIXED,
            device_id="c1",
            recorded_at=NOW + dt.timedelta(seconds=end - 3),
            recorded_end=NOW + dt.timedelta(seconds=end),
            fence=token,
        ),
        Who("recorder", "system"),
    )


@pytest.mark.parametrize(
    ("holds_it_again", "before_ends"),
    [(False, 0), (True, 0), (False, -1)],
    ids=["held-by-b", "reclaimed", "a-second-lost-before-it"],
)
def test_a_killed_nodes_leftover_from_before_the_takeover_is_catalogued_in_its_gap_INV_9_OPS_4(
    services: Services, clock: ManualClock, tmp_path: Path, holds_it_again: bool, before_ends: int
) -> None:
    """The common failover: node A is killed mid-segment (not stalled), its lease runs
    out, node B takes c1 over and records from its first packet, then A restarts. A's
    leftover ends before B's first packet (A was dead meanwhile): it is catalogued, and
    B's ``takeover`` gap is trimmed to the dead time, from the leftover's end to B's
    first packet, keeping its cause (OPS-4); time lost before the leftover (A's segment
    before it ended a second earlier) stays a takeover gap too. Nothing overlaps.
    Before: the leftover was quarantined, the last seconds before the crash missing
    from the catalog under a gap that said nothing was recorded."""
    from tests.recorder.test_salvage import assert_complete, assert_no_overlaps, custody

    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    catalogued_before(services, token_a, before_ends)
    crash_leftover(services, token_a)  # A's last seconds, 0-3 s, left by the kill
    clock.advance(LEASE + dt.timedelta(seconds=1))  # A is dead: B takes c1 over
    assert b.round(["c1"]) == {"c1": token_a + 1}
    assert b.taken_over == {"c1": "node-a"}
    first = NOW + LEASE + dt.timedelta(seconds=2)  # B's first packet
    record_elsewhere(services, b, tmp_path / "node-b" / "c1", first, 3, taken_from="node-a")
    fence = None
    if holds_it_again:
        b.release_all()  # B stops; A, restarted, claims c1 back
        (again,) = nodes(services, clock, "node-a")
        fence = again.round(["c1"])["c1"]
        assert fence == token_a + 2

    salvage_as_started(services, fence)

    assert_no_overlaps(services, "c1")
    before, leftover, recorded_by_b = assert_complete(services, "c1")
    assert (before.recorded_end, leftover.recorded_start) == (
        NOW + dt.timedelta(seconds=before_ends),
        NOW,
    )
    assert recorded_by_b.recorded_start == first
    assert list(services.store.iter_quarantined()) == []
    assert custody(services, leftover.id)["lease"].startswith("claimed since by another")
    spans = [(g.cause, g.start, g.end) for g in gaps(services, "c1")]
    assert ("takeover", leftover.recorded_end, first) in spans  # the dead time, its cause
    lost_before = [("takeover", before.recorded_end, NOW)] if before_ends else []
    assert spans[: len(lost_before)] == lost_before
    assert [cause for cause, _, _ in spans] == ["takeover"] * (1 + len(lost_before)) + ["stopped"]


def test_a_stalled_nodes_leftover_past_the_new_holders_first_packet_stays_quarantined_INV_9(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    """Fail closed: node A stalled, B took c1 over (its ``takeover`` gap from A's last
    segment) and recorded from 1 s; A's leftover (0-3 s) runs past B's first packet, so
    it may overlap what B recorded: quarantined, B's gap as it was."""
    from tests.recorder.test_salvage import assert_no_overlaps, quarantine_audits

    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    catalogued_before(services, token_a)
    crash_leftover(services, token_a)
    clock.advance(LEASE + dt.timedelta(seconds=1))
    b.round(["c1"])
    first = NOW + dt.timedelta(seconds=1)
    record_elsewhere(services, b, tmp_path / "node-b" / "c1", first, 3, taken_from="node-a")

    salvage_as_started(services, None)

    assert_no_overlaps(services, "c1")
    assert [i.recorded_start for i in items(services, "c1")] == [
        NOW - dt.timedelta(seconds=3),
        first,
    ]
    assert len(list(services.store.iter_quarantined())) == 1
    [entry] = quarantine_audits(services, "c1")
    assert "it runs past takeover gap" in entry.details["reason"]
    spans = [(g.cause, g.start, g.end) for g in gaps(services, "c1")]
    assert spans[0] == ("takeover", NOW, first)


def test_a_killed_nodes_leftover_stays_quarantined_while_the_new_holder_has_no_packet_INV_9(
    services: Services, clock: ManualClock
) -> None:
    """Fail closed: node B has taken c1 over and opened its ``takeover`` gap but has no
    first packet yet (the gap is open): nothing proves A's leftover ends before what B
    records, so it is quarantined as before, and B's gap is left as it was."""
    from tests.recorder.test_salvage import assert_no_overlaps, writer_for

    a, b = nodes(services, clock, "node-a", "node-b")
    token_a = a.round(["c1"])["c1"]
    catalogued_before(services, token_a)
    crash_leftover(services, token_a)
    clock.advance(LEASE + dt.timedelta(seconds=1))
    token_b = b.round(["c1"])["c1"]
    writer_b = writer_for(services, "c1", PacketHub("c1"))
    writer_b.spool = services.config.data_dir / "node-b" / "c1"  # B's own data folder
    writer_b.fence, writer_b.taken_from = token_b, "node-a"
    writer_b._resume_gap(clock.now(), crashed=False)  # B's start: its takeover gap, open

    salvage_as_started(services, None)

    assert_no_overlaps(services, "c1")
    assert [i.recorded_start for i in items(services, "c1")] == [NOW - dt.timedelta(seconds=3)]
    assert len(list(services.store.iter_quarantined())) == 1
    assert [(g.cause, g.start, g.end) for g in gaps(services, "c1")] == [("takeover", NOW, None)]


@pytest.mark.parametrize("holds_it_again", [False, True], ids=["lease-unclaimed", "reclaimed"])
def test_a_killed_nodes_crash_leftover_is_salvaged_when_no_other_node_held_the_camera_INV_9(
    services: Services, clock: ManualClock, holds_it_again: bool
) -> None:
    """The legitimate crash, under camera ownership: node A killed mid-segment and
    restarted, with no other node holding c1 since. Its spool is catalogued, whether A
    has not claimed c1 yet (its old lease not expired: salvaged at the recorder's start
    under the token it was written under, still the camera's) or has claimed it back
    (the next token, straight from A's: salvaged by its writer)."""
    from tests.recorder.test_salvage import assert_complete, assert_no_overlaps

    (a,) = nodes(services, clock, "node-a")
    token_a = a.round(["c1"])["c1"]
    crash_leftover(services, token_a)
    fence = None
    if holds_it_again:
        clock.advance(LEASE + dt.timedelta(seconds=1))
        (again,) = nodes(services, clock, "node-a")
        fence = again.round(["c1"])["c1"]
        assert fence == token_a + 1

    salvage_as_started(services, fence)

    [item] = assert_complete(services, "c1")
    assert item.recorded_start == NOW
    assert list(services.store.iter_quarantined()) == []
    assert_no_overlaps(services, "c1")


def test_a_crash_leftover_kept_for_want_of_space_stays_the_nodes_through_its_claims_INV_9(
    services: Services, clock: ManualClock
) -> None:
    """Procedure 5e with 5f: the node claimed the camera back straight from the token of
    its leftover, but the ingest found no room, so the file stays in the spool, renamed
    to the new token. At the next start (one more claim of its own) it is still this
    node's and catalogued, not quarantined as a lease another node held between."""
    from tests.recorder.test_salvage import assert_complete, spool_dir

    (a,) = nodes(services, clock, "node-a")
    token = a.round(["c1"])["c1"]
    crash_leftover(services, token)
    for attempt, reserve in enumerate((10**18, 0), start=1):
        clock.advance(LEASE + dt.timedelta(seconds=1))  # killed again; restarted
        (again,) = nodes(services, clock, "node-a")
        fence = again.round(["c1"])["c1"]
        services.ingestor.reserve_bytes = reserve
        salvage_as_started(services, fence)
        if attempt == 1:
            assert [p.name for p in spool_dir(services, "c1").glob("*.mp4")] == [
                SpoolName(NOW, 0, False, token + 1).file_name()
            ]
    [item] = assert_complete(services, "c1")
    assert item.recorded_start == NOW
    assert list(services.store.iter_quarantined()) == []


def test_a_spool_file_name_keeps_the_lease_token_and_older_names_still_parse_INV_9() -> None:
    named = SpoolName(NOW, 3, True, 12)
    assert named.file_name() == "20261120T120000.000000Z.v3.m.f12.mp4"
    assert SpoolName.parse(named.file_name()) == named
    assert SpoolName.parse("20261120T120000.000000Z.v3.m.mp4") == SpoolName(NOW, 3, True)
    for bad in ("20261120T120000.000000Z.v3.x.f12.mp4", "20261120T120000.000000Z.f12.mp4"):
        with pytest.raises(ValueError):
            SpoolName.parse(bad)

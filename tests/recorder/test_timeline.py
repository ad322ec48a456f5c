"""A camera's timeline (``RecordingLog.timeline``, issue 15.1) at agency scale: what it
costs the database does not grow with the camera's history (PostgreSQL, EXPLAIN)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import insert

from recorder.recording import RecordingLog, TimelineWindow
from tests.statements import analyze, captured, rows_read
from vms.auth.permissions import Actor
from vms.db.models import CustodyEvent, Device, MediaItem
from vms.services import Services

CAMERA = "cam-history"
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def _history(services: Services, minutes: int) -> None:
    """One 60 s segment a minute for ``minutes`` before T0, each with its ingest event."""
    items, events = [], []
    for n in range(minutes):
        start = T0 - (minutes - n) * MINUTE
        media_id = f"seg-{n:06d}"
        items.append(
            {
                "id": media_id,
                "source": "fixed",
                "media_type": "video",
                "content_type": "video/mp4",
                "device_id": CAMERA,
                "recorded_start": start,
                "recorded_end": start + MINUTE,
                "duration_seconds": 60.0,
                "size_bytes": 1000,
                "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
                "ingested_at": start + MINUTE,
                "ingested_by": "recorder",
                "recorded_start_origin": "container",
                "evidence": False,
                "restricted": False,
            }
        )
        events.append(
            {
                "media_id": media_id,
                "at": start + MINUTE,
                "actor": "recorder",
                "action": "ingested",
                "details": {"mask_version": 0},
            }
        )
    with services.db.transaction() as s:
        s.add(Device(id=CAMERA, kind="fixed", name=CAMERA, created_at=T0 - 30 * 1440 * MINUTE))
        s.flush()
        s.execute(insert(MediaItem), items)
        s.execute(insert(CustodyEvent), events)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_the_last_hour_reads_an_hour_of_segments_not_the_cameras_history(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The timeline of the last hour of a camera recorded for 10 days reads about 60
    segments and their 60 ingest events. It bounded the segments only by ``recorded_start
    < end``, so it read the camera's whole history before the window (and PostgreSQL,
    expecting thousands of rows, hashed every custody event of the catalog): 1.2 s for a
    day's timeline in a catalog of 200,000 items, growing with every minute recorded."""
    _history(services, 10 * 1440)
    analyze(services.db.engine)
    log = services.ports.find(RecordingLog)
    assert log is not None
    with captured(services.db.engine) as sent:
        timeline = log.timeline(
            actors["investigator"], CAMERA, TimelineWindow(start=T0 - 60 * MINUTE, end=T0)
        )
    assert len(timeline.segments) == 60
    assert timeline.segments[0].start == T0 - 60 * MINUTE
    media = events = 0
    for statement, parameters in sent.matching("FROM media_items"):
        media += rows_read(services.db.engine, statement, parameters, "media_items")
        events += rows_read(services.db.engine, statement, parameters, "custody_events")
    assert media <= 70 and events <= 70, f"read {media} segments, {events} custody events"


def test_a_longer_window_costs_no_more_statements(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A day of one camera is 1,440 segments: the timeline loaded each as a whole
    catalog item, with its categories and expiry (eager ``selectin`` loads, 500 ids a
    statement), none of which it shows; its statements grew with the window (16 for a
    day at 200,000 items, bench_catalog_scale)."""
    _history(services, 1500)
    log = services.ports.find(RecordingLog)
    assert log is not None

    def statements(minutes: int) -> int:
        with captured(services.db.engine) as sent:
            timeline = log.timeline(
                actors["investigator"],
                CAMERA,
                TimelineWindow(start=T0 - minutes * MINUTE, end=T0),
            )
        assert len(timeline.segments) == minutes
        return len(sent)

    hour, day = statements(60), statements(1440)
    assert day == hour, f"{hour} statements for an hour, {day} for a day"

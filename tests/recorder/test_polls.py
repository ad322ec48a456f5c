"""recorder.polls: every camera's masks and recording state read once a round for all the
cameras of an engine, never older than what a camera was handed, and failing closed
(PSCS-1) when the database fails or hangs. The recorder's side (a hung read holds no
stream) is in test_db_outage.py."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from privacy_masks.geometry import SpherePolygon
from privacy_masks.model import MaskSet, NewLift, NewMask
from privacy_masks.service import MaskService
from recorder.polls import CameraPolls
from recorder.recording import RecordingLog, SetRecording
from tests.statements import captured
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db import engine as db_engine
from vms.errors import Unavailable
from vms.services import Services

T0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
SQUARE = ((10.0, -5.0), (20.0, -5.0), (20.0, 5.0), (10.0, 5.0))
CAMERAS = ("cam-a", "cam-b", "cam-c")


@contextlib.contextmanager
def counted_polls(services: Services) -> Iterator[list[int]]:
    """Counts the transactions on the process's poll connection (``Database.poll``)."""
    db = services.db
    poll = db.poll
    count = [0]

    @contextlib.contextmanager
    def counting() -> Iterator[Any]:
        count[0] += 1
        with poll() as reader:
            yield reader

    db.poll = counting  # type: ignore[method-assign]
    try:
        yield count
    finally:
        db.poll = poll  # type: ignore[method-assign]


def test_every_camera_is_read_in_one_transaction_a_round(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Three cameras cost two poll transactions a round (masks, recording state), not
    two each; what each camera is handed is what ``MaskService.current`` and
    ``RecordingLog.enabled`` say, lifts included, and a change shows at the next round."""
    masks, recording = services.ports.get(MaskService), services.ports.get(RecordingLog)
    admin = actors["admin"]
    window = masks.create(admin, "cam-a", NewMask("window", polygon=SQUARE))
    masks.lift(admin, "cam-a", NewLift(window.id, "warrant 7", 10))
    masks.create(admin, "cam-b", NewMask("door", polygon=SQUARE))
    recording.set_enabled(admin, "cam-c", SetRecording(False, "test"))
    polls = CameraPolls(masks.current_all, recording.enabled_all, services.clock)
    with counted_polls(services) as count:
        for camera_id in CAMERAS:  # first asks: each read at once, on the asking thread
            assert polls.masks(camera_id) == masks.current(camera_id)
            assert polls.enabled(camera_id) is recording.enabled(camera_id)
        count[0] = 0
        for _ in range(3):
            polls.poll()
        assert count[0] == 3 * 2
    assert polls.masks("cam-a").lifts and [p.name for p in polls.masks("cam-a").polygons] == [
        "window"
    ]
    assert not polls.masks("cam-c").masked and polls.enabled("cam-c") is False
    assert polls.enabled("cam-a") is True

    masks.create(admin, "cam-c", NewMask("porch", polygon=SQUARE))
    recording.set_enabled(admin, "cam-c", SetRecording(True, "test"))
    assert not polls.masks("cam-c").masked  # memory until the next round
    polls.poll()
    assert [p.name for p in polls.masks("cam-c").polygons] == ["porch"]
    assert polls.enabled("cam-c") is True


def test_a_camera_whose_masks_cannot_be_read_costs_the_others_nothing_PSCS_1(
    services: Services, actors: dict[str, Actor]
) -> None:
    """One camera's rows that cannot be made into masks (here a polygon written wrong
    behind the service's back) leave that camera out of the round: asking for it raises
    (its stream keeps its masks without lifts), and every other camera is read, a mask
    added to one of them included. Once its rows read again, so does it."""
    masks, recording = services.ports.get(MaskService), services.ports.get(RecordingLog)
    admin = actors["admin"]
    for camera_id in ("cam-x", "cam-y"):
        masks.create(admin, camera_id, NewMask("window", polygon=SQUARE))
    polls = CameraPolls(masks.current_all, recording.enabled_all, services.clock)
    assert polls.masks("cam-x").masked and polls.masks("cam-y").masked
    with services.db.transaction() as s:
        s.execute(
            text("UPDATE privacy_masks SET polygon = :bad WHERE camera_id = 'cam-x'"),
            {"bad": '[["north", 1.0]]'},
        )
        s.execute(text("UPDATE mask_versions SET version = 99 WHERE camera_id = 'cam-x'"))
    masks.create(admin, "cam-y", NewMask("door", polygon=SQUARE))
    polls.poll()
    with pytest.raises(Unavailable, match="the masks of camera cam-x unreadable"):
        polls.masks("cam-x")
    assert sorted(p.name for p in polls.masks("cam-y").polygons) == ["door", "window"]
    with services.db.transaction() as s:
        s.execute(
            text("UPDATE privacy_masks SET polygon = :good WHERE camera_id = 'cam-x'"),
            {"good": json.dumps([list(v) for v in SQUARE])},
        )
    polls.poll()
    assert polls.masks("cam-x").version == 99 and polls.masks("cam-x").masked


def test_a_round_costs_the_same_statements_for_any_number_of_cameras_PSCS_1(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A media engine's round (masks with their lifts, recording state) and its first
    read of every camera's masks (a start) ask the database in batches of cameras, not
    one statement or transaction per camera: an agency's hundreds of cameras were
    hundreds of statements every second. What each camera is handed is unchanged."""
    masks, recording = services.ports.get(MaskService), services.ports.get(RecordingLog)
    admin = actors["admin"]
    polled = [0]
    fetch = db_engine._fetch

    def counting(connection: Any, sql: str, args: Any) -> list[Any]:
        polled[0] += 1
        return fetch(connection, sql, args)

    monkeypatch.setattr(db_engine, "_fetch", counting)

    def cost(n: int) -> tuple[int, int]:
        cameras = [f"cam-{n}-{i}" for i in range(n)]
        for camera_id in cameras:
            masks.create(admin, camera_id, NewMask("window", polygon=SQUARE))
        lifted = masks.list_masks(admin, cameras[0]).masks[0]
        masks.lift(admin, cameras[0], NewLift(lifted.id, "warrant 7", 10))
        fresh = MaskService(services.db, services.audit, services.clock, services.authoriser)
        polled[0] = 0
        with captured(services.db.engine) as sent:
            started = fresh.current_all(cameras)  # a start: every camera's masks read
            fresh.current_all(cameras)  # a round
            enabled = recording.enabled_all(cameras)
        counted = polled[0], len(sent)
        assert started == {c: masks.current(c) for c in cameras}
        assert started[cameras[0]].lifts and not started[cameras[1]].lifts
        assert enabled == dict.fromkeys(cameras, True)
        return counted

    few = cost(3)
    many = cost(90)
    assert many == few, f"(poll statements, session statements): {few} for 3 cameras, {many} for 90"


class Scripted:
    """A reader whose reads return ``value`` once let through: what is examined is the
    board's ordering and failure rules, not the database."""

    def __init__(self, value: MaskSet) -> None:
        self.value = value
        self.gate: threading.Event | None = None
        self.error: Exception | None = None
        self.entered = threading.Event()

    def __call__(self, camera_ids: Iterable[str]) -> dict[str, MaskSet]:
        value, gate, error = self.value, self.gate, self.error
        self.entered.set()
        if gate is not None:
            assert gate.wait(10)
        if error is not None:
            raise error
        return {camera_id: value for camera_id in camera_ids}


def _set(version: int) -> MaskSet:
    return MaskSet("cam", version, (SpherePolygon("m", SQUARE),), ())


def test_a_read_begun_before_a_newer_one_never_replaces_it() -> None:
    """A round that began before a camera's own first read and ends after it keeps the
    newer reading: a mask set handed out is never followed by an older one (a mask added
    is not dropped again by a slower read of before it)."""
    clock = ManualClock(T0)
    reader = Scripted(_set(1))
    polls = CameraPolls(reader, lambda ids: dict.fromkeys(ids, True), clock)
    assert polls.masks("cam").version == 1
    gate = reader.gate = threading.Event()
    reader.entered.clear()
    slow = threading.Thread(target=polls.poll)
    slow.start()  # begins reading version 1, and is held ...
    assert reader.entered.wait(10)
    clock.advance(0.5)
    reader.value, reader.gate = _set(2), None
    polls.forget("cam")
    assert polls.masks("cam").version == 2  # ... a first ask after it reads version 2 ...
    clock.advance(0.5)
    gate.set()
    slow.join(10)
    assert not slow.is_alive()
    # ... and the older read, ending last, does not replace it.
    assert polls.masks("cam").version == 2


def test_a_failed_read_fails_the_askers_closed_until_a_read_succeeds_PSCS_1() -> None:
    clock = ManualClock(T0)
    reader = Scripted(_set(1))
    polls = CameraPolls(reader, lambda ids: dict.fromkeys(ids, True), clock)
    assert polls.masks("cam").version == 1
    clock.advance(1.0)
    reader.error = RuntimeError("database is locked (planted)")
    polls.poll()  # logged, not raised
    with pytest.raises(Unavailable, match="masks unreadable: RuntimeError: database is locked"):
        polls.masks("cam")
    assert polls.enabled("cam") is True  # the other kind read fine
    clock.advance(1.0)
    reader.error = None
    reader.value = _set(3)
    polls.poll()
    assert polls.masks("cam").version == 3


def test_a_hung_read_holds_the_polling_thread_and_goes_stale_never_the_asker() -> None:
    """A read that does not return holds the polling thread only: the askers are
    answered from memory at once, then, ``stale_seconds`` after the last read began,
    refused (Unavailable), as when the read fails."""
    clock = ManualClock(T0)
    reader = Scripted(_set(1))
    polls = CameraPolls(reader, lambda ids: dict.fromkeys(ids, True), clock, stale_seconds=5.0)
    assert polls.masks("cam").version == 1
    reader.gate = threading.Event()
    reader.entered.clear()
    hung = threading.Thread(target=polls.poll, daemon=True)
    hung.start()
    assert reader.entered.wait(10)
    clock.advance(4.0)
    assert polls.masks("cam").version == 1  # answered while the read hangs
    clock.advance(1.5)
    with pytest.raises(Unavailable, match=r"masks not read for 5\.5 s"):
        polls.masks("cam")
    reader.gate.set()
    hung.join(10)
    # What the hung read returned is as old as its start: still refused. The next round
    # answers again.
    with pytest.raises(Unavailable):
        polls.masks("cam")
    reader.gate, reader.value = None, _set(2)
    polls.poll()
    assert polls.masks("cam").version == 2


def test_the_polling_thread_reads_every_period_and_stops() -> None:
    clock = ManualClock(T0)
    reader = Scripted(_set(1))
    polls = CameraPolls(reader, lambda ids: dict.fromkeys(ids, True), clock, period=0.05)
    polls.masks("cam")
    polls.start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if polls.rounds >= 3:
                break
            deadline.wait(0.05)
        assert polls.rounds >= 3
    finally:
        polls.stop()
    rounds = polls.rounds
    threading.Event().wait(0.2)
    assert polls.rounds == rounds

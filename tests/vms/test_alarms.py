"""Alarms (vms/alarms.py, issue 12.3): raised and cleared from the events the system
publishes, one open alarm per kind and camera, listed with filters, acknowledged once
with an audit entry (ACC-6, INV-4); refusals audited (ACC-1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.camera_rows import add_camera_row
from vms.alarms import Alarm, AlarmChange, AlarmKind, AlarmQuery, change_from_event
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import AlarmRow, AuditEntry, Role
from vms.errors import Conflict, NotFound, PermissionDenied
from vms.services import Services

AT = "2026-11-20T10:00:00Z"
TEN = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


def test_events_map_to_alarm_changes() -> None:
    health = change_from_event(
        "camera.health", {"camera_id": "c1", "health": "offline", "detail": "timeout", "at": AT}
    )
    assert health == AlarmChange(
        AlarmKind.CAMERA_OFFLINE,
        "c1",
        True,
        "timeout",
        dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
    )
    back = change_from_event("camera.health", {"camera_id": "c1", "health": "online"})
    assert back is not None and not back.active
    lost = change_from_event("recorder.video", {"camera_id": "c1", "state": "lost", "seconds": 3})
    assert lost is not None and lost.kind is AlarmKind.VIDEO_LOST and lost.active
    assert lost.detail == "no video packet for 3 s"
    gap = change_from_event("recorder.gap", {"camera_id": "c1", "cause": "stalled", "start": AT})
    assert gap is not None and gap.active and gap.detail == "recording stopped: stalled"
    closed = change_from_event("recorder.gap", {"camera_id": "c1", "cause": "x", "end": AT})
    assert closed is not None and not closed.active
    # Recording switched off by an admin is recorded as a gap (OPS-4), not an alarm.
    assert change_from_event("recorder.gap", {"camera_id": "c1", "cause": "recording_off"}) is None
    disk = change_from_event(
        "retention.disk_alarm", {"free_bytes": 5, "threshold_bytes": 10, "active": True}
    )
    assert disk is not None and disk.camera_id is None and disk.kind is AlarmKind.DISK_ALARM
    blank = change_from_event(
        "mask.blanking", {"camera_id": "c1", "active": True, "reason": "pose stale"}
    )
    assert blank is not None and blank.detail == "mask stage blanks the picture: pose stale"
    assert change_from_event("ptz.pose", {"camera_id": "c1"}) is None
    # A malformed time falls back to the service's clock, never an error.
    odd = change_from_event("camera.health", {"camera_id": "c1", "health": "offline", "at": "x"})
    assert odd is not None and odd.at is None


def test_a_no_keyframes_alarm_is_raised_and_cleared_at_the_events_time_OPS_1() -> None:
    """The picture watch publishes when the camera stopped giving keyframes (``at``); the
    alarm took the alarm service's clock instead, unlike every other camera alarm."""
    raised = change_from_event(
        "recorder.keyframes",
        {"camera_id": "c1", "active": True, "detail": "no keyframe for 30 s", "at": AT},
    )
    assert raised == AlarmChange(AlarmKind.NO_KEYFRAMES, "c1", True, "no keyframe for 30 s", TEN)
    cleared = change_from_event("recorder.keyframes", {"camera_id": "c1", "active": False})
    assert cleared == AlarmChange(AlarmKind.NO_KEYFRAMES, "c1", False, None, None)


def _camera(services: Services, health: str = "online") -> str:
    return add_camera_row(services, health=health)


def every(services: Services) -> list[Alarm]:
    admin = Actor(user_id=0, username="test", role=Role.ADMIN)
    return services.alarms.list_alarms(admin, AlarmQuery())


def _published(services: Services) -> list[tuple[str, dict[str, Any]]]:
    heard: list[tuple[str, dict[str, Any]]] = []
    services.events.subscribe(
        lambda topic, p: heard.append((topic, p)) if topic.startswith("alarm.") else None
    )
    return heard


def test_raise_once_clear_and_raise_again(services: Services, clock: ManualClock) -> None:
    heard = _published(services)
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "lost", "seconds": 10})
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "lost", "seconds": 10})
    alarms = every(services)
    assert [(a.kind, a.open) for a in alarms] == [(AlarmKind.VIDEO_LOST, True)]
    assert [t for t, _ in heard] == ["alarm.raised"]
    clock.advance(dt.timedelta(seconds=30))
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "ok"})
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "ok"})
    (cleared,) = every(services)
    assert cleared.cleared_at == cleared.raised_at + dt.timedelta(seconds=30)
    assert [t for t, _ in heard] == ["alarm.raised", "alarm.cleared"]
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "lost"})
    assert [a.open for a in every(services)] == [True, False]


def test_video_lost_says_whether_onvif_answers(services: Services) -> None:
    camera_id = _camera(services, health="online")
    alarm = services.alarms.apply(AlarmChange(AlarmKind.VIDEO_LOST, camera_id, True, "no video"))
    assert alarm is not None
    assert alarm.detail == "no video; ONVIF answers" and alarm.camera_name == "Main St"


def test_the_unique_open_key_keeps_one_open_alarm(services: Services) -> None:
    """Two processes raising at once: the second insert hits the unique key; no error."""
    services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    with pytest.raises(IntegrityError), services.db.transaction() as s:
        s.add(
            AlarmRow(
                kind="disk_alarm",
                camera_id=None,
                open_key="disk_alarm:-",
                raised_at=dt.datetime.now(dt.UTC),
            )
        )
    assert len(every(services)) == 1


def test_list_filters(services: Services, actors: dict[str, Actor]) -> None:
    apply = services.alarms.apply
    apply(AlarmChange(AlarmKind.CAMERA_OFFLINE, "c1", True, "down"))
    apply(AlarmChange(AlarmKind.CAMERA_OFFLINE, "c1", False))
    apply(AlarmChange(AlarmKind.VIDEO_LOST, "c2", True, "no video"))
    dispatcher = actors["dispatcher"]
    one = services.alarms.list_alarms(dispatcher, AlarmQuery(open=True))
    assert [(a.kind, a.camera_id) for a in one] == [(AlarmKind.VIDEO_LOST, "c2")]
    services.alarms.acknowledge(dispatcher, one[0].id)

    def cameras(query: AlarmQuery) -> list[str | None]:
        return [a.camera_id for a in services.alarms.list_alarms(dispatcher, query)]

    assert cameras(AlarmQuery(open=False)) == ["c1"]
    assert cameras(AlarmQuery(acknowledged=True)) == ["c2"]
    assert cameras(AlarmQuery(acknowledged=False)) == ["c1"]
    assert cameras(AlarmQuery(camera_id="c1")) == ["c1"]
    assert len(services.alarms.list_alarms(dispatcher, AlarmQuery(limit=1))) == 1


def test_acknowledge_is_audited_once_ACC_6(
    services: Services, actors: dict[str, Actor], clock: ManualClock
) -> None:
    alarm = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert alarm is not None
    heard = _published(services)
    done = services.alarms.acknowledge(actors["sergeant"], alarm.id)
    assert done.acknowledged_by == "sergeant" and done.acknowledged_at == clock.now()
    assert done.open  # acknowledging does not clear: the condition may still hold
    assert heard == [("alarm.acknowledged", done.as_json())]
    with pytest.raises(Conflict, match="already acknowledged by sergeant"):
        services.alarms.acknowledge(actors["dispatcher"], alarm.id)
    with pytest.raises(NotFound, match="alarm 999 not found"):
        services.alarms.acknowledge(actors["dispatcher"], 999)
    with services.db.session() as s:
        entries = s.execute(
            select(AuditEntry.actor, AuditEntry.target, AuditEntry.outcome).where(
                AuditEntry.action == "alarms.ack"
            )
        ).all()
    assert entries == [("sergeant", f"alarm:{alarm.id}", "ok")]


def test_the_acknowledge_form_sent_again_is_answered_with_the_first_ACC_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    """ACC-6: the page form's one-time key (``form_key``) tells the form sent again from
    a second attempt: the first is answered with the alarm, acknowledged, audited and
    published once; another key, no key or another user is refused (409)."""
    alarm = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert alarm is not None
    heard = _published(services)
    done = services.alarms.acknowledge(actors["sergeant"], alarm.id, form_key="key-1")
    assert services.alarms.acknowledge(actors["sergeant"], alarm.id, form_key="key-1") == done
    assert heard == [("alarm.acknowledged", done.as_json())]
    for user, key in (("sergeant", "key-2"), ("sergeant", None), ("dispatcher", "key-1")):
        with pytest.raises(Conflict, match="already acknowledged by sergeant"):
            services.alarms.acknowledge(actors[user], alarm.id, form_key=key)
    with services.db.session() as s:
        acks = s.execute(select(AuditEntry).where(AuditEntry.action == "alarms.ack"))
        assert [e.details.get("form_key") for e in acks.scalars()] == ["key-1"]


def test_roles_without_the_right_are_refused_and_audited_ACC_1(
    services: Services, actors: dict[str, Actor]
) -> None:
    alarm = services.alarms.apply(AlarmChange(AlarmKind.DISK_ALARM, None, True, "full"))
    assert alarm is not None
    with pytest.raises(PermissionDenied):
        services.alarms.list_alarms(actors["officer"], AlarmQuery())
    # Auditors read the list but acknowledge nothing.
    assert len(services.alarms.list_alarms(actors["auditor"], AlarmQuery())) == 1
    with pytest.raises(PermissionDenied):
        services.alarms.acknowledge(actors["auditor"], alarm.id)
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry.actor, AuditEntry.action).where(AuditEntry.outcome == "denied")
        ).all()
    assert set(denied) == {("officer", "alarms.read"), ("auditor", "alarms.ack")}


def test_a_system_event_in_another_process_is_not_written_here(services: Services) -> None:
    """The alarms listen locally: an event delivered from another process (Redis) is that
    process's to write (one row per fact across a deployment)."""
    services.events._deliver("recorder.video", {"camera_id": "c9", "state": "lost"})
    assert every(services) == []
    services.events.publish("recorder.video", {"camera_id": "c9", "state": "lost"})
    assert len(every(services)) == 1


def test_a_deleted_camera_has_its_open_alarms_cleared(services: Services) -> None:
    services.alarms.apply(AlarmChange(AlarmKind.CAMERA_OFFLINE, "c1", True, "down"))
    services.alarms.apply(AlarmChange(AlarmKind.VIDEO_LOST, "c1", True, "no video"))
    services.alarms.apply(AlarmChange(AlarmKind.VIDEO_LOST, "c2", True, "no video"))
    heard = _published(services)
    services.events.publish("camera.deleted", {"camera_id": "c1"})
    assert sorted((a.camera_id, a.open) for a in every(services)) == [
        ("c1", False),
        ("c1", False),
        ("c2", True),
    ]
    assert [t for t, _ in heard] == ["alarm.cleared", "alarm.cleared"]


def test_a_stream_certificate_alarm_is_raised_with_its_action_and_cleared_by_video_OPS_1(
    services: Services,
) -> None:
    """``recorder.certificate`` raises ``stream_certificate`` with the watch's detail
    (what was refused and the action); one left open by an earlier run (a restart: no
    watch remembers it) is cleared once video flows again, since the stream then passed
    its certificate check (docs/design/security.md, "Camera certificates", 10)."""
    detail = "rtsps stream certificate changed; ... vms camera accept-certificate c1 ..."
    services.events.publish(
        "recorder.certificate", {"camera_id": "c1", "active": True, "detail": detail}
    )
    (alarm,) = every(services)
    assert (alarm.kind, alarm.open, alarm.detail) == (AlarmKind.STREAM_CERTIFICATE, True, detail)
    assert alarm.label == "stream certificate not accepted"
    services.events.publish("recorder.video", {"camera_id": "c1", "state": "ok"})
    assert [(a.kind, a.open) for a in every(services)] == [(AlarmKind.STREAM_CERTIFICATE, False)]


def _certificate(services: Services, detail: str) -> None:
    services.events.publish(
        "recorder.certificate", {"camera_id": "c1", "active": True, "detail": detail}
    )


def test_an_open_alarm_raised_for_another_reason_shows_the_current_one_ACC_6(
    services: Services, actors: dict[str, Actor], clock: ManualClock
) -> None:
    """The camera presents yet another certificate while its alarm is open: the alarm
    (same id, raised at the same time) shows the current fingerprint, not the first,
    stale one; the operator acknowledged the first one's, not this, so the acknowledgement
    is withdrawn, audited (ACC-6), and the change published for the pages."""
    _certificate(services, "certificate AA:01 refused; accept AA:01")
    (first,) = every(services)
    services.alarms.acknowledge(actors["sergeant"], first.id)
    heard = _published(services)
    clock.advance(dt.timedelta(seconds=5))
    _certificate(services, "certificate BB:02 refused; accept BB:02")
    (now,) = every(services)
    assert (now.id, now.raised_at, now.open) == (first.id, first.raised_at, True)
    assert now.detail == "certificate BB:02 refused; accept BB:02"
    assert (now.acknowledged_by, now.acknowledged_at) == (None, None)
    assert heard == [("alarm.changed", now.as_json())]
    _certificate(services, "certificate BB:02 refused; accept BB:02")  # the same: nothing
    assert every(services) == [now] and len(heard) == 1
    with services.db.session() as s:
        entries = s.execute(
            select(AuditEntry.actor, AuditEntry.target, AuditEntry.details).where(
                AuditEntry.action == "alarm.acknowledgement_withdrawn"
            )
        ).all()
    assert [(actor, target) for actor, target, _ in entries] == [("alarms", f"alarm:{now.id}")]
    details = entries[0][2]
    assert details["acknowledged_by"] == "sergeant"
    assert details["detail_before"] == "certificate AA:01 refused; accept AA:01"
    services.alarms.acknowledge(actors["dispatcher"], now.id)  # acknowledged anew


def test_a_changed_reason_keeps_the_acknowledgement_of_other_kinds(
    services: Services, actors: dict[str, Actor]
) -> None:
    """A backup that fails again for another reason: the current reason is shown; the
    acknowledgement stays (the operator's decision, look at the backups, is the same)."""
    change = AlarmChange(AlarmKind.BACKUP_FAILED, None, True, "folder /b not writable")
    alarm = services.alarms.apply(change)
    assert alarm is not None
    services.alarms.acknowledge(actors["sergeant"], alarm.id)
    changed = services.alarms.apply(replace(change, detail="set 2026-12-07 incomplete"))
    assert changed is not None and changed.id == alarm.id
    assert (changed.detail, changed.acknowledged_by) == ("set 2026-12-07 incomplete", "sergeant")

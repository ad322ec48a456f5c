"""The agency's time zone (configuration ``time_zone``; docs/design/time.md): a monthly
report's month runs between the agency's midnights (OPS-7, TAG-7, OPS-6) and the PTZ
report's normal hours are the agency's wall-clock hours (PSCS-5), daylight saving
included; times stay UTC everywhere else (INV-7).

Before the setting, a Chicago agency's December report ran from 18:00 on November 30 to
18:00 on December 31 local time, and "06:00-22:00" meant 00:00-16:00 on its clock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from onvif_control.report import Entry, Settings, build, within_hours
from tests.conftest import make_config
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.bounded import parse_month
from vms.clock import ManualClock, agency_zone
from vms.config import Config
from vms.db.models import Device, MediaItem
from vms.errors import InvalidArgument
from vms.ports import TaggingReport
from vms.services import Services

UTC = dt.UTC
CHICAGO = agency_zone("America/Chicago")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("zone", "month", "start", "end"),
    [
        ("UTC", "2026-11", "2026-11-01T00:00Z", "2026-12-01T00:00Z"),
        # US daylight saving ends on Sunday 2026-11-01 at 02:00: that midnight is CDT.
        ("America/Chicago", "2026-11", "2026-11-01T05:00Z", "2026-12-01T06:00Z"),
        ("America/Chicago", "2026-12", "2026-12-01T06:00Z", "2027-01-01T06:00Z"),
        # East of Greenwich the month starts the day before in UTC.
        ("Asia/Tokyo", "2026-12", "2026-11-30T15:00Z", "2026-12-31T15:00Z"),
        ("Europe/London", "2026-07", "2026-06-30T23:00Z", "2026-07-31T23:00Z"),
    ],
)
def test_a_month_runs_between_the_agencys_midnights(
    zone: str, month: str, start: str, end: str
) -> None:
    got = parse_month(month, "month", agency_zone(zone))
    assert got == (at(start), at(end))
    assert all(t.tzinfo is UTC for t in got)  # INV-7: given in UTC


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime"])
def test_an_unknown_time_zone_is_refused_at_load_naming_the_key_and_value(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="time_zone"):
        agency_zone(name)
    with pytest.raises(InvalidArgument) as caught:
        make_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", VMS_TIME_ZONE=name)
    assert "time_zone" in caught.value.message and repr(name) in caught.value.message


def test_the_normal_hours_are_the_agencys_wall_clock_hours_PSCS_5() -> None:
    six, ten = dt.time(6), dt.time(22)
    # 03:00Z on a July night is 22:00 the evening before in Chicago (CDT): outside.
    assert not within_hours(at("2026-07-02T03:00Z"), six, ten, CHICAGO)
    # 02:30Z is 21:30 CDT: inside, though outside the same window in UTC.
    assert within_hours(at("2026-07-02T02:30Z"), six, ten, CHICAGO)
    assert not within_hours(at("2026-07-02T02:30Z"), six, ten)
    # 11:30Z in January is 05:30 CST (UTC-6): outside; in July 06:30 CDT: inside.
    assert not within_hours(at("2026-01-15T11:30Z"), six, ten, CHICAGO)
    assert within_hours(at("2026-07-15T11:30Z"), six, ten, CHICAGO)


def _session(opened: dt.datetime, sid: str) -> list[Entry]:
    d = {"session_id": sid, "camera_id": "CAM-1"}
    return [
        Entry(opened, "ann", "dispatcher", "ptz.session.open", "ok", {**d, "purpose": "event"}),
        Entry(opened + dt.timedelta(minutes=1), "ann", "dispatcher", "ptz.command", "ok", d),
        Entry(opened + dt.timedelta(minutes=9), "ann", "dispatcher", "ptz.session.close", "ok", d),
    ]


def test_the_ptz_report_counts_use_outside_the_agencys_hours_PSCS_5() -> None:
    # 05:30 CST (outside in Chicago, 11:30 in UTC) and 17:30 CST (23:30Z: outside in UTC).
    entries = [*_session(at("2026-12-10T11:30Z"), "s1"), *_session(at("2026-12-10T23:30Z"), "s2")]
    start, end = at("2026-12-01T06:00Z"), at("2027-01-01T06:00Z")
    local = build(entries, start, end, Settings(zone=CHICAGO))
    (row,) = local.rows
    assert (row.sessions, row.sessions_outside_hours, row.commands_outside_hours) == (2, 1, 1)
    assert local.time_zone == "America/Chicago"
    (utc_row,) = build(entries, start, end, Settings()).rows
    assert (utc_row.sessions_outside_hours, utc_row.commands_outside_hours) == (1, 1)
    # The one counted differs: in Chicago the 05:30 session, in UTC the 23:30Z one.
    early = build(entries[:3], start, end, Settings(zone=CHICAGO)).rows[0]
    assert early.sessions_outside_hours == 1
    assert build(entries[:3], start, end, Settings()).rows[0].sessions_outside_hours == 0


# -- the services and the web, on both databases ----------------------------------------


@pytest.fixture
def config(database: tuple[str, Path]) -> Config:
    url, data_dir = database
    return make_config(data_dir, url, VMS_TIME_ZONE="America/Chicago")


def _untagged_fixed_item(services: Services, recorded: dt.datetime) -> str:
    media_id = str(uuid.uuid4())
    with services.db.transaction() as s:
        s.add(Device(id="CAM-1", kind="fixed", name="CAM-1", created_at=recorded))
        s.flush()
        s.add(
            MediaItem(
                id=media_id,
                source="fixed",
                media_type="video",
                content_type="video/mp4",
                device_id="CAM-1",
                recorded_start=recorded,
                size_bytes=1,
                sha256=uuid.uuid4().hex + uuid.uuid4().hex,
                ingested_at=recorded,
                ingested_by="test",
                recorded_start_origin="ingest",
            )
        )
    return media_id


def test_reports_and_the_page_follow_the_agencys_calendar_OPS_7_TAG_7(
    services: Services, clock: ManualClock, actors: dict[str, Actor], client: FlaskClient
) -> None:
    auditor, admin = actors["auditor"], actors["admin"]
    assert services.reviews.zone == CHICAGO  # OPS-6: ?month= of the reviews listing
    # TAG-7: a fixed camera's untagged video recorded at 21:00 on November 30 in Chicago
    # (03:00Z on December 1) belongs to November's report there, not December's.
    _untagged_fixed_item(services, at("2026-12-01T03:00Z"))
    tagging = services.ports.find(TaggingReport)
    assert tagging is not None
    assert tagging.monthly(admin, "2026-11").untagged_not_requiring_tags == {"fixed": 1}
    assert tagging.monthly(admin, "2026-12").untagged_not_requiring_tags == {}

    # PSCS-5: a PTZ session at 05:30 CST (11:30Z) is use outside 06:00-22:00 there.
    def entry(when: str, action: str, **details: Any) -> None:
        clock.set(at(when))
        d = {"session_id": "s1", "camera_id": "CAM-1", **details}
        services.audit.record(
            services.db, Who("dispatcher", "dispatcher"), action, "camera:CAM-1", details=d
        )

    entry("2026-12-10T11:30Z", "ptz.session.open", purpose="event")
    entry("2026-12-10T11:31Z", "ptz.command", op="stop")
    entry("2026-12-10T11:40Z", "ptz.session.close", reason="done")

    # 21:00 on December 31 in Chicago: the previous month there is November.
    clock.set(at("2027-01-01T03:00Z"))
    report = services.monthly_audit.report(auditor, "2026-12")
    assert (report.month, report.time_zone) == ("2026-12", "America/Chicago")
    assert (report.start, report.end) == (at("2026-12-01T06:00Z"), at("2027-01-01T06:00Z"))
    assert report.ptz is not None
    (ptz,) = report.ptz
    assert (ptz.sessions, ptz.sessions_outside_hours) == (1, 1)

    token = services.users.issue_token(auditor).token
    h = {"Authorization": f"Bearer {token}"}
    body = client.get("/api/v1/reports/monthly-audit?month=2026-12", headers=h).get_json()
    assert body["time_zone"] == "America/Chicago"
    assert (body["start"], body["end"]) == ("2026-12-01T06:00:00Z", "2027-01-01T06:00:00Z")
    r = client.get(
        "/api/v1/audit/ptz/report?start=2026-12-01T06:00Z&end=2027-01-01T06:00Z", headers=h
    )
    assert r.status_code == 200, r.get_json()
    ptz_report = r.get_json()
    assert ptz_report["time_zone"] == "America/Chicago"
    assert ptz_report["rows"][0]["commands_outside_hours"] == 1
    page = client.get("/audit/monthly", headers=h)
    assert page.status_code == 200
    assert "<h1>Monthly audit 2026-11 " in page.get_data(as_text=True)
    assert "(America/Chicago)" in page.get_data(as_text=True)

"""The PTZ audit for auditors: the report's figures on a scripted session (pure and
through the API against the simulator), JSON and CSV export, ``vms audit ptz`` and
``vms audit verify`` over the entries (INV-6, PSCS-2, PSCS-5)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest

from onvif_control.report import Entry, Settings, build, inside, parse_hours, within_hours
from vms.ports import MaskZones
from web.contract import parse_model
from web.schemas.ptz import OpenSessionIn, PtzCommandIn

pytestmark = pytest.mark.timeout(180)

T0 = dt.datetime(2026, 11, 20, 21, 50, tzinfo=dt.UTC)
ZONE = [(20.0, -20.0), (40.0, -20.0), (40.0, 0.0), (20.0, 0.0)]


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def ctx(sid="s1", user="ann", incident=None):
    return {
        "session_id": sid,
        "camera_id": "c1",
        "user": user,
        "purpose": "event",
        "incident_number": incident,
    }


def command(minutes, pan, tilt, zoom, before_zoom, outcome="ok", **extra):
    return Entry(
        at(minutes),
        "ann",
        "dispatcher",
        "ptz.command",
        outcome,
        {
            **ctx(),
            "op": "absolute",
            "target": {"pan": pan, "tilt": tilt, "zoom": zoom},
            "pose_before": {"pan": 0.0, "tilt": 0.0, "zoom": before_zoom},
            **extra,
        },
    )


def scripted() -> list[Entry]:
    return [
        Entry(at(0), "ann", "dispatcher", "ptz.session.open", "ok", ctx()),
        command(1, 0.0, -10.0, 0.2, 0.0),  # wide
        command(2, 30.0, -10.0, 0.8, 0.2),  # zoomed in, aimed into the zone (after 21:52)
        command(5, 0.0, -10.0, 0.1, 0.8),  # back out after 3 minutes zoomed in
        command(12, 10.0, -10.0, 0.9, 0.1),  # 22:02: outside hours, zoomed in till the end
        command(13, 0.0, 0.0, 0.0, 0.9, outcome="refused"),
        Entry(at(15), "ann", "dispatcher", "ptz.session.close", "ok", {**ctx(), "reason": "x"}),
        Entry(at(20), "bob", "supervisor", "ptz.session.open", "ok", {**ctx("s2", "bob", "I-7")}),
    ]


def test_report_figures_on_a_scripted_session_PSCS_5():
    settings = Settings(
        zoom_threshold=0.5, allowed_from=dt.time(6), allowed_to=dt.time(22), zones={"c1": [ZONE]}
    )
    report = build(scripted(), at(0), at(30), settings)
    ann, bob = report.rows
    assert ann.user == "ann" and ann.camera_id == "c1"
    assert ann.sessions == 1 and ann.sessions_without_incident == 1
    assert ann.commands == 4 and ann.commands_refused == 1
    assert ann.seconds_in_control == 15 * 60
    assert ann.seconds_zoomed_in == 3 * 60 + 3 * 60  # 21:52-21:55 and 22:02-22:05
    assert ann.commands_outside_hours == 1  # the 22:02 command
    assert ann.commands_into_masks == 1
    assert bob.sessions == 1 and bob.sessions_without_incident == 0
    assert bob.sessions_outside_hours == 1  # started 22:10
    assert bob.seconds_in_control == 10 * 60  # still open at the period end
    assert [t.user for t in report.timeline] == ["ann", "bob"]
    assert len(report.timeline[0].commands) == 4


def _lift_entry(action, minutes, lift_id="L1", ended=None):
    details = {
        "lift_id": lift_id,
        "camera_id": "c1",
        "mask_id": "m1",
        "mask_name": "window",
        "reason": "warrant 7",
        "granted_by": "root",
        "starts_at": at(0).isoformat(),
        "ends_at": at(30).isoformat(),
        "from_version": 4,
        "to_version": None if ended is None else 5,
        "ended_at": None if ended is None else at(ended).isoformat(),
        "ended_by": None if ended is None else "root",
    }
    return Entry(at(minutes), "root", "admin", action, "ok", details)


def test_report_lists_mask_lifts_overlapping_the_period_PSCS_1():
    entries = [
        _lift_entry("mask.lift.create", 0),
        _lift_entry("mask.lift.end", 12, ended=12),
        _lift_entry("mask.lift.create", 0, lift_id="L2"),  # still running
    ]
    report = build(entries, at(5), at(60), Settings())
    assert [(r.lift_id, r.ended_by, r.ended_at) for r in report.mask_lifts] == [
        ("L1", "root", at(12)),
        ("L2", None, None),
    ]
    assert report.mask_lifts[0].reason == "warrant 7" and report.mask_lifts[0].from_version == 4
    # Ended before the period: not listed; running lifts overlap any later period.
    later = build(entries, at(20), at(60), Settings())
    assert [r.lift_id for r in later.mask_lifts] == ["L2"]
    assert build(entries, at(40), at(60), Settings()).mask_lifts == ()


def test_report_clips_to_the_period():
    settings = Settings(zones={})
    report = build(scripted(), at(3), at(10), settings)
    ann = report.rows[0]
    assert ann.sessions == 0  # opened before the period
    assert ann.seconds_in_control == 7 * 60
    assert ann.seconds_zoomed_in == 2 * 60  # 21:53-21:55
    assert ann.commands == 1


def test_hours_and_polygons():
    start, end = parse_hours("22:00-06:00")
    assert within_hours(dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC), start, end)
    assert not within_hours(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC), start, end)
    assert inside(30.0, -10.0, ZONE) and not inside(50.0, -10.0, ZONE)
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hours("all day")


def _wait_idle(control, camera_id):
    for _ in range(50):
        if not control.engine.status(camera_id).moving:
            return
        time.sleep(0.1)


def test_report_and_exports_through_the_api_on_the_simulator_INV_6(
    api, bearer, svc, control, camera, people, clock, sim
):
    """The report counts commands into the camera's real privacy masks: one drawn by the
    admin through the masks API, read through the wiring ``Services.open`` installs, no
    test-only zone source (#10.15, PSCS-5)."""
    assert svc.ports.find(MaskZones) is not None  # installed by the plugins, not by this test
    zone = [list(v) for v in sim.state()["private_zones"][0]["polygon"]]
    made = api.post(
        f"/api/v1/cameras/{camera.id}/masks",
        json={"name": "window", "polygon": zone},
        headers=bearer["admin"],
    )
    assert made.status_code == 201, made.json
    pan, tilt = (sum(c) / len(c) for c in zip(*zone, strict=True))
    clock.set(dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC))
    sid = control.ptz.open_session(
        people["dispatcher"],
        camera.id,
        parse_model(OpenSessionIn, {"purpose": "event"}).command(),
    ).session_id
    clock.advance(dt.timedelta(seconds=10))
    control.ptz.command(
        people["dispatcher"],
        camera.id,
        parse_model(
            PtzCommandIn,
            {
                "session_id": sid,
                "op": "absolute",
                "pan": pan,
                "tilt": tilt,
                "zoom": 0.7,
                "units": "degrees",
            },
        ).command(),
    )
    _wait_idle(control, camera.id)
    clock.advance(dt.timedelta(seconds=20))
    control.ptz.command(
        people["dispatcher"],
        camera.id,
        parse_model(
            PtzCommandIn,
            {"session_id": sid, "op": "absolute", "pan": 0.0, "tilt": 0.0, "zoom": 0.0},
        ).command(),
    )
    _wait_idle(control, camera.id)
    clock.advance(dt.timedelta(seconds=5))
    control.ptz.close_session(people["dispatcher"], camera.id)
    # PSCS-1 exception: an admin lifts the mask for 10 minutes; it expires on the clock.
    lifted = api.post(
        f"/api/v1/cameras/{camera.id}/mask-lifts",
        json={"mask_id": made.json["id"], "reason": "Warrant SW-12", "minutes": 10},
        headers=bearer["admin"],
    )
    assert lifted.status_code == 201, lifted.json
    clock.advance(dt.timedelta(minutes=11))
    assert (
        api.get(
            f"/api/v1/cameras/{camera.id}/mask-lifts?running=true", headers=bearer["admin"]
        ).json["lifts"]
        == []
    )

    q = "start=2026-11-20T11:00:00Z&end=2026-11-20T13:00:00Z"
    assert api.get(f"/api/v1/audit/ptz/report?{q}", headers=bearer["dispatcher"]).status_code == 403
    report = api.get(f"/api/v1/audit/ptz/report?{q}", headers=bearer["auditor"]).json
    (row,) = report["rows"]
    assert row["user"] == "dispatcher" and row["camera_id"] == camera.id
    assert row["sessions"] == 1 and row["commands"] == 2
    assert row["seconds_in_control"] == 35.0 and row["seconds_zoomed_in"] == 20.0
    assert row["commands_into_masks"] == 1 and row["sessions_without_incident"] == 1
    assert report["mask_zones_known"] is True
    # PSCS-5: the auditor reads which camera by its name (the page showed an id).
    assert report["camera_names"] == {camera.id: camera.name}
    (lift,) = report["mask_lifts"]
    assert (lift["lift_id"], lift["camera_id"], lift["mask_name"]) == (
        lifted.json["id"],
        camera.id,
        "window",
    )
    assert lift["reason"] == "Warrant SW-12" and lift["granted_by"] == "admin"
    assert lift["ended_by"] == "mask-lift-expiry" and lift["ended_at"] == lift["ends_at"]

    listed = api.get(
        f"/api/v1/audit/ptz?camera={camera.id}&user=dispatcher", headers=bearer["auditor"]
    ).json["entries"]
    # The dispatcher's entries and what the system did to their session: the arbiter's
    # stop at its end names the session (INV-6, PSCS-5).
    assert [e["action"] for e in listed] == [
        "ptz.session.open",
        "ptz.command",
        "ptz.command",
        "ptz.session.close",
        "ptz.command",
    ]
    assert listed[-1]["actor"] == "ptz-arbiter" and listed[-1]["op"] == "stop"
    assert listed[-1]["pose_after_pan"] is not None
    assert listed[1]["pose_before_pan"] is not None and listed[1]["target_zoom"] == 0.7
    got = api.get(f"/api/v1/audit/ptz?format=csv&{q}", headers=bearer["admin"])
    assert got.status_code == 200 and got.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(got.get_data(as_text=True))))
    # Everyone's entries: the dispatcher's, then the arbiter's stop at the session's end.
    assert [r["action"] for r in rows] == [e["action"] for e in listed]
    assert rows[-1]["actor"] == "ptz-arbiter" and rows[-1]["user"] == "dispatcher"
    assert rows[1]["purpose"] == "event" and rows[1]["op"] == "absolute"
    assert svc.audit.verify(svc.db) is None


def test_cli_audit_ptz_csv_and_verify(svc, control, camera, people, capsys, monkeypatch):
    from vms.cli import main

    sid = control.ptz.open_session(
        people["sergeant"],
        camera.id,
        parse_model(
            OpenSessionIn, {"purpose": "investigation", "incident_number": "C-9"}
        ).command(),
    )
    control.ptz.command(
        people["sergeant"],
        camera.id,
        parse_model(PtzCommandIn, {"session_id": sid.session_id, "op": "stop"}).command(),
    )
    control.ptz.close_session(people["sergeant"], camera.id)
    env = {
        "VMS_DATA_DIR": str(svc.config.data_dir),
        "VMS_DATABASE_URL": svc.config.database_url,
        "VMS_INGEST_MIN_FREE_BYTES": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert (
        main(
            [
                "audit",
                "ptz",
                "--from",
                "2026-11-20T00:00:00Z",
                "--to",
                "2026-11-21T00:00Z",
                "--format",
                "csv",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["action"] for r in rows] == [
        "ptz.session.open",
        "ptz.command",
        "ptz.session.close",
        "ptz.command",  # the arbiter stops whatever the ended session left moving
    ]
    assert rows[1]["incident_number"] == "C-9" and rows[1]["user"] == "sergeant"
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out
    assert main(["camera", "list"]) == 0
    assert "sim-1" in capsys.readouterr().out

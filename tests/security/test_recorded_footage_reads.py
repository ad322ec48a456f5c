"""Reads of a fixed camera's recorded footage by roles that may not view it (ACC-1,
ACC-6, INV-4): the answer must not tell them when the camera recorded, and the refusal
is audited."""

from __future__ import annotations

import datetime as dt
import io

from flask.testing import FlaskClient
from sqlalchemy import select

from tests.media import make_video
from vms.audit.log import Who
from vms.db.models import AuditEntry, Device, SourceKind
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
CAMERA = "CAM-READS"


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def z(at: dt.datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_recording_at_does_not_tell_a_role_without_access_when_the_camera_recorded_ACC_1(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """``GET /cameras/{id}/recording?at=`` looked the segment up before any role check: a
    dispatcher or an officer (no fixed camera's footage: its segments are nobody's own;
    their timeline lists none) got 403 where the camera recorded and 404 "no recording
    at or after" where it did not, so probing ``at`` mapped the camera's recording. They
    must get the same audited 403 either way; an investigator still gets the 404."""
    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=3, fps=10)),
        IngestRequest(source=SourceKind.FIXED, device_id=CAMERA, recorded_at=T0),
        Who("setup", "admin"),
    )
    recorded, later = T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(days=1)
    for name in ("dispatcher", "officer", "sergeant"):
        answers = []
        for at in (recorded, later):
            got = client.get(
                f"/api/v1/cameras/{CAMERA}/recording?at={z(at)}&purpose=investigation",
                headers=bearer(tokens, name),
            )
            answers.append((got.status_code, got.get_json()["error"]["message"]))
            got.close()
        assert answers[0][0] == 403, (name, answers)
        assert answers[1] == answers[0], (name, answers)  # nothing tells them apart
    with services.db.session() as s:
        denied = s.execute(
            select(AuditEntry.actor).where(
                AuditEntry.target == f"camera:{CAMERA}", AuditEntry.outcome == "denied"
            )
        ).scalars()
        assert sorted(set(denied)) == ["dispatcher", "officer", "sergeant"]
    got = client.get(
        f"/api/v1/cameras/{CAMERA}/recording?at={z(later)}&purpose=investigation",
        headers=bearer(tokens, "investigator"),
    )
    assert got.status_code == 404 and "no recording" in got.get_json()["error"]["message"]


def test_a_playlist_does_not_tell_a_role_without_access_when_the_camera_recorded_ACC_1(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """``GET /cameras/{id}/playback.m3u8`` checked only the role before looking up the
    window: an officer or a supervisor (who may view their own or their officers' items,
    never a fixed camera's) got 403 for a window with recording and 404 "no recording
    between" for one without. The same audited 403 either way; an unknown camera too."""
    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=4, fps=10)),
        IngestRequest(source=SourceKind.FIXED, device_id=CAMERA, recorded_at=T0),
        Who("setup", "admin"),
    )
    with services.db.session() as s:  # the ingest registers the device
        assert s.get(Device, CAMERA) is not None
    hour = dt.timedelta(hours=1)
    windows = [(T0 - hour, T0 + hour), (T0 + 2 * hour, T0 + 3 * hour)]
    for name in ("officer", "sergeant"):
        answers = []
        for camera in (CAMERA, "CAM-NONE"):
            for start, end in windows:
                got = client.get(
                    f"/api/v1/cameras/{camera}/playback.m3u8?start={z(start)}&end={z(end)}"
                    "&purpose=investigation",
                    headers=bearer(tokens, name),
                )
                answers.append((got.status_code, got.get_json()["error"]["message"]))
        assert answers[0][0] == 403, (name, answers)
        assert all(a == answers[0] for a in answers), (name, answers)
    got = client.get(
        f"/api/v1/cameras/{CAMERA}/playback.m3u8?start={z(windows[1][0])}&end={z(windows[1][1])}"
        "&purpose=investigation",
        headers=bearer(tokens, "investigator"),
    )
    assert got.status_code == 404 and "no recording" in got.get_json()["error"]["message"]


def test_a_head_of_a_playlist_is_not_recorded_as_a_playback_ACC_6(
    client: FlaskClient, services: Services, tokens: dict[str, str]
) -> None:
    """A HEAD of ``playback.m3u8`` is answered by the GET view with the body dropped: no
    playlist, so no segment link, leaves. It recorded ``media.playback`` all the same,
    a viewing that never happened in the audit trail and the monthly viewing report
    (OPS-7). It must record nothing; the GET after it records one playback."""
    services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=5, fps=10)),
        IngestRequest(source=SourceKind.FIXED, device_id=CAMERA, recorded_at=T0),
        Who("setup", "admin"),
    )
    hour = dt.timedelta(hours=1)
    url = (
        f"/api/v1/cameras/{CAMERA}/playback.m3u8?start={z(T0 - hour)}&end={z(T0 + hour)}"
        "&purpose=investigation"
    )

    def playbacks() -> list[str]:
        with services.db.session() as s:
            return list(
                s.execute(
                    select(AuditEntry.actor).where(AuditEntry.action == "media.playback")
                ).scalars()
            )

    head = client.head(url, headers=bearer(tokens, "investigator"))
    assert head.status_code == 200 and head.data == b""
    assert playbacks() == []
    got = client.get(url, headers=bearer(tokens, "investigator"))
    assert got.status_code == 200 and got.data.startswith(b"#EXTM3U")
    assert playbacks() == ["investigator"]

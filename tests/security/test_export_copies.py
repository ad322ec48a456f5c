"""An export's copies keep their sources' protections (ACC-7, ACC-11): a court copy is
the same pictures, so whoever may not open the original may not open the copy either
through the catalog (``/media/{id}/content``)."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select

from tests.media import make_video
from vms.access import CriticalIncidentChange, NewApproval
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.catalog_values import RestrictionChange
from vms.db.models import AuditEntry, MediaItem, SourceKind
from vms.exports.service import ExportQuery, ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def bearer(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def exported_copies(services: Services, actors: dict[str, Actor], media_id: str) -> list[str]:
    """The media ids of the clip and the package of an investigator's export of
    ``media_id``, run to the end."""
    record = services.exports.create(
        actors["investigator"],
        NewExport(purpose="court copy", sources=(ExportSource(None, media_id),)),
    )
    assert services.exports.run_pending() == 1
    done = services.exports.get(actors["investigator"], record.id)
    assert done.state == "done", done.error
    with services.db.session() as s:
        return list(
            s.execute(
                select(MediaItem.id).where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalars()
        )


def test_an_export_copy_of_a_privacy_sensitive_item_stays_closed_to_its_officer_ACC_11(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """Officer B1's own recording is flagged privacy-sensitive (ACC-11: not for the officer
    or their supervisor); an investigator exports it for court. The export's clip is the
    same pictures under B1's badge: B1 and the sergeant must not play it either."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=5, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    r = client.put(
        f"/api/v1/media/{bwc}/privacy",
        json={"privacy_sensitive": True, "reason": "person in a state of undress"},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 200, r.get_json()
    assert (
        client.get(f"/api/v1/media/{bwc}/content", headers=bearer(tokens, "officer")).status_code
        == 403
    )
    copies = exported_copies(services, actors, bwc)
    assert len(copies) == 2  # the clip and the package
    for copy in copies:
        for name in ("officer", "sergeant"):
            got = client.get(f"/api/v1/media/{copy}/content", headers=bearer(tokens, name))
            assert got.status_code == 403, (name, copy, got.status_code)
            assert "ACC-11" in got.get_json()["error"]["message"]


def test_restricting_an_exported_original_closes_its_copies_too_ACC_7(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """An investigator exports a recording; an admin then restricts it (ACC-7: only
    administration may view it). The investigator must lose the copies as well: the
    clip through the catalog and the package through the export's download."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=6, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    copies = exported_copies(services, actors, bwc)
    [export_id] = [
        e.id for e in services.exports.list_exports(actors["admin"], ExportQuery()).exports
    ]
    package = f"/api/v1/exports/{export_id}/package"
    got = client.get(package, headers=bearer(tokens, "investigator"))
    assert got.status_code == 200
    got.close()
    r = client.put(
        f"/api/v1/media/{bwc}/restricted",
        json={"restricted": True, "reason": "internal affairs matter"},
        headers=bearer(tokens, "admin"),
    )
    assert r.status_code == 200, r.get_json()
    for copy in copies:
        got = client.get(
            f"/api/v1/media/{copy}/content?purpose=investigation",
            headers=bearer(tokens, "investigator"),
        )
        assert got.status_code == 403, (copy, got.status_code)
    got = client.get(package, headers=bearer(tokens, "investigator"))
    assert got.status_code == 403, got.status_code
    assert "ACC-7" in got.get_json()["error"]["message"]
    got = client.get(package, headers=bearer(tokens, "admin"))
    assert got.status_code == 200
    got.close()


def test_flagging_an_exported_original_flags_its_copies_too_ACC_11(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """The flag placed after the export reaches the export's copies: officer B1 no longer
    plays the court copy of their own recording, and the change is audited on it."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=7, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    copies = exported_copies(services, actors, bwc)
    clip = next(
        c for c in copies if services.catalog.get(actors["admin"], c).content_type == "video/mp4"
    )
    got = client.get(f"/api/v1/media/{clip}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 200
    got.close()
    r = client.put(
        f"/api/v1/media/{bwc}/privacy",
        json={"privacy_sensitive": True, "reason": "person in a state of undress"},
        headers=bearer(tokens, "sergeant"),
    )
    assert r.status_code == 200, r.get_json()
    got = client.get(f"/api/v1/media/{clip}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 403 and "ACC-11" in got.get_json()["error"]["message"]
    with services.db.session() as s:
        entries = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "media.privacy", AuditEntry.target == f"media:{clip}"
            )
        ).scalars()
        assert [e.details["carried_from"] for e in entries] == [bwc]


def test_an_export_copy_of_a_critical_incident_recording_needs_the_approval_too_ACC_2(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """Officer B1's own recording is flagged a critical incident (ACC-2: B1 reviews it only
    with a written approval recorded in the system); an investigator exports it for
    court. The export's clip is the same pictures under B1's badge: B1 must not play it
    without the approval either, and plays it once the approval of the original is
    recorded (audited naming the approval). The package stays closed to B1: it is the
    investigator's (docs/design/exports.md, "Reading")."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=8, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    services.catalog.set_critical_incident(
        actors["investigator"], bwc, CriticalIncidentChange(True, "officer-involved shooting")
    )
    copies = exported_copies(services, actors, bwc)
    assert len(copies) == 2  # the clip and the package
    for copy in copies:
        got = client.get(f"/api/v1/media/{copy}/content", headers=bearer(tokens, "officer"))
        assert got.status_code == 403, (copy, got.status_code)
        assert "ACC-2" in got.get_json()["error"]["message"]
    approval = services.review_access.approve(
        actors["sergeant"], bwc, NewApproval(reason="report writing", document_ref="MEMO-9")
    )
    with services.db.session() as s:
        [package] = s.execute(
            select(MediaItem.id).where(
                MediaItem.id.in_(copies), MediaItem.content_type == "application/zip"
            )
        ).scalars()
    got = client.get(f"/api/v1/media/{package}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 403, got.status_code
    assert "export package" in got.get_json()["error"]["message"]
    for copy in copies:
        if copy == package:
            continue
        got = client.get(f"/api/v1/media/{copy}/content", headers=bearer(tokens, "officer"))
        assert got.status_code == 200, (copy, got.status_code)
        got.close()
        with services.db.session() as s:
            viewed = s.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "media.view",
                    AuditEntry.target == f"media:{copy}",
                    AuditEntry.actor == "officer",
                    AuditEntry.outcome == "ok",
                )
            ).scalar_one()
        assert viewed.details["review_approval"] == approval.id


def test_flagging_an_exported_original_critical_closes_its_copies_to_the_officer_ACC_2(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """The critical-incident flag placed after the export reaches the export's copies:
    officer B1 no longer plays the court copy of their own recording without approval,
    and plays it again once the flag of the original is cleared."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=9, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    copies = exported_copies(services, actors, bwc)
    clip = next(
        c for c in copies if services.catalog.get(actors["admin"], c).content_type == "video/mp4"
    )
    got = client.get(f"/api/v1/media/{clip}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 200
    got.close()
    services.catalog.set_critical_incident(
        actors["sergeant"], bwc, CriticalIncidentChange(True, "serious bodily injury")
    )
    got = client.get(f"/api/v1/media/{clip}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 403 and "ACC-2" in got.get_json()["error"]["message"]
    services.catalog.set_critical_incident(
        actors["admin"], bwc, CriticalIncidentChange(False, "no injury after all")
    )
    got = client.get(f"/api/v1/media/{clip}/content", headers=bearer(tokens, "officer"))
    assert got.status_code == 200
    got.close()


def test_a_head_of_the_package_is_not_recorded_as_a_download_ACC_6(
    client: FlaskClient,
    services: Services,
    actors: dict[str, Actor],
    tokens: dict[str, str],
) -> None:
    """A HEAD sends no package: no ``media.export.download`` entry, no custody event
    saying the package was downloaded; the GET after it is recorded."""
    bwc = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=10, fps=10)),
        IngestRequest(source=SourceKind.BWC, device_id="BWC-1", officer_badge="B1", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    exported_copies(services, actors, bwc)
    [export_id] = [
        e.id for e in services.exports.list_exports(actors["admin"], ExportQuery()).exports
    ]
    package = f"/api/v1/exports/{export_id}/package"
    head = client.head(package, headers=bearer(tokens, "investigator"))
    assert head.status_code == 200 and head.data == b""
    head.close()

    def downloads() -> list[AuditEntry]:
        with services.db.session() as s:
            return list(
                s.execute(
                    select(AuditEntry).where(AuditEntry.action == "media.export.download")
                ).scalars()
            )

    assert downloads() == []
    got = client.get(package, headers=bearer(tokens, "investigator"))
    assert got.status_code == 200
    got.close()
    assert len(downloads()) == 1


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_source_restricted_while_its_export_finishes_locks_the_copies_ACC_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    """PostgreSQL, two writers at once: an export of a camera's two segments finishes
    while an admin restricts the second segment. The restriction reaches a copy through
    its links, which the export commits only when it finishes (its clip and package name
    the first segment as their origin), so whichever commits first, the copies must end
    restricted: the export had read the segment's flag before the restriction and
    carried the stale one, leaving the investigator a clip of restricted footage."""
    seg1 = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=11, fps=10)),
        IngestRequest(source=SourceKind.FIXED, device_id="CAM-RACE", recorded_at=T0),
        Who("setup", "admin"),
    ).media_id
    seg2 = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=2.0, seed=12, fps=10)),
        IngestRequest(
            source=SourceKind.FIXED,
            device_id="CAM-RACE",
            recorded_at=T0 + dt.timedelta(seconds=2),
        ),
        Who("setup", "admin"),
    ).media_id
    services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy",
            sources=(ExportSource("CAM-RACE", None, T0, T0 + dt.timedelta(seconds=4)),),
        ),
    )
    exporter = threading.get_ident()
    finishing = threading.Event()  # the export marked itself done: its last transaction
    restricted = threading.Event()
    errors: list[BaseException] = []

    def restrict() -> None:
        try:
            services.catalog.set_restricted(
                actors["admin"], seg2, RestrictionChange(True, "internal affairs matter")
            )
        except BaseException as exc:  # reported by the test, in its thread
            errors.append(exc)
        finally:
            restricted.set()

    racer = threading.Thread(target=restrict, name="restrict-racer")

    def pause(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if threading.get_ident() != exporter:
            return
        if statement.lstrip().upper().startswith("UPDATE EXPORTS") and (
            isinstance(params, dict) and params.get("state") == "done"
        ):
            finishing.set()  # running -> done, in the transaction that finishes it
        elif (
            finishing.is_set()
            and not racer.is_alive()
            and not restricted.is_set()
            and statement.lstrip().upper().startswith("SELECT")
            and seg2 in str(params)
        ):
            # The export has just read the second segment: the admin restricts it now.
            racer.start()
            restricted.wait(timeout=2)  # blocks only if the export holds its row

    event.listen(services.db.engine, "after_cursor_execute", pause)
    try:
        assert services.exports.run_pending() == 1
    finally:
        event.remove(services.db.engine, "after_cursor_execute", pause)
    racer.join(timeout=30)
    assert racer.ident is not None and not racer.is_alive() and not errors, errors
    with services.db.session() as s:
        copies = list(
            s.execute(
                select(MediaItem).where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalars()
        )
        assert len(copies) == 2 and s.get_one(MediaItem, seg2).restricted
        assert [c.restricted for c in copies] == [True, True], seg1

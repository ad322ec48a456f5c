"""The export service and job on both databases (issue 15, items 4 and 6): bad input
refused up front with no job left behind (404/400/403, refusals audited), a full run
producing a package ``verify.py`` accepts, derived items linked to every source (INV-2),
both held as evidence (REL-2), a custody event on every source and the ``media.export``
audit entry (ACC-10), progress published as ``export.progress``."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.media import make_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.clock import ManualClock
from vms.db.models import AuditEntry, CustodyEvent, Export, MediaItem, MediaLink, SourceKind
from vms.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from vms.exports import verify
from vms.exports.credentials import read_credentials
from vms.exports.service import ExportSource, NewExport
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def ingest(
    services: Services,
    source: SourceKind,
    device: str,
    at: dt.datetime,
    *,
    badge: str | None = None,
    seed: int = 1,
    seconds: float = 2.0,
) -> str:
    result = services.ingestor.ingest(
        io.BytesIO(make_video(seconds=seconds, seed=seed, fps=10)),
        IngestRequest(source=source, device_id=device, officer_badge=badge, recorded_at=at),
        Who("setup", "admin"),
    )
    return result.media_id


def exports_count(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Export)).scalar_one())


def denied_entries(services: Services) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
            ).scalar_one()
        )


def test_bad_input_is_refused_up_front_and_leaves_no_job_issue_15_6(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Each bad input of item 6 is a clear 4xx naming the problem; no row is left."""
    cam = ingest(services, SourceKind.FIXED, "CAM-1", T0)
    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seed=2)
    locked = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seed=3)
    with services.db.transaction() as s:
        row = s.get(MediaItem, locked)
        assert row is not None
        row.restricted = True  # ACC-7
    investigator = actors["investigator"]
    exports = services.exports

    def refused(kind: type[Exception], source: ExportSource, *words: str, **kw: Any) -> None:
        actor = kw.pop("actor", investigator)
        command = NewExport(purpose=kw.pop("purpose", "court"), sources=(source,), **kw)
        with pytest.raises(kind) as caught:
            exports.create(actor, command)
        message = str(caught.value)
        for word in words:
            assert word in message, message

    later = T0 + dt.timedelta(seconds=1)
    refused(InvalidArgument, ExportSource("CAM-1", None, later, T0), "sources[0].end", "inverted")
    refused(InvalidArgument, ExportSource("CAM-1", None, T0, T0), "empty")
    refused(
        InvalidArgument,
        ExportSource("CAM-1", None, T0, T0 + dt.timedelta(hours=25)),
        "25 h",
        "[exports] max_hours",
    )
    refused(NotFound, ExportSource("CAM-404", None, T0, later), "'CAM-404'", "camera")
    refused(NotFound, ExportSource(None, "no-such-item"), "'no-such-item'", "does not exist")
    refused(
        NotFound,
        ExportSource("CAM-1", None, T0 - dt.timedelta(hours=2), T0 - dt.timedelta(hours=1)),
        "no recording",
    )
    refused(
        NotFound, ExportSource(None, bwc, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2))
    )
    refused(InvalidArgument, ExportSource("CAM-1", bwc, T0, later), "exactly one")
    refused(InvalidArgument, ExportSource("CAM-1", None, T0, later), "purpose", purpose="  ")
    refused(InvalidArgument, ExportSource("CAM-1", None, T0, later), "cut", cut="smooth")
    before = denied_entries(services)
    refused(PermissionDenied, ExportSource(None, locked), "restricted")  # ACC-7
    refused(PermissionDenied, ExportSource(None, bwc), actor=actors["officer"])
    refused(PermissionDenied, ExportSource(None, bwc), actor=actors["auditor"])
    assert denied_entries(services) == before + 3  # every refusal audited (INV-4)
    assert exports_count(services) == 0  # no job left behind
    # The admin may export the restricted item (ACC-7); the camera's own item is fine.
    assert exports.create(actors["admin"], NewExport("court", (ExportSource(None, locked),)))
    assert exports.create(
        investigator, NewExport("court", (ExportSource("CAM-1", None, T0, later),))
    )
    assert cam


def test_an_export_runs_to_a_verified_package_of_derived_items_REL_2_ACC_10(
    services: Services, actors: dict[str, Actor], clock: ManualClock, tmp_path: Path
) -> None:
    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seconds=3.0)
    events: list[dict[str, Any]] = []
    services.events.subscribe(
        lambda topic, p: events.append(p) if topic == "export.progress" else None
    )
    record = services.exports.create(
        actors["investigator"],
        NewExport(
            purpose="court copy for the DA",
            sources=(ExportSource(None, bwc, T0 + dt.timedelta(seconds=0.5), None),),
            case_number="C-7",
            include_audit=True,
        ),
    )
    assert record.state == "queued" and record.progress == 0
    assert services.exports.run_pending() == 1
    done = services.exports.get(actors["investigator"], record.id)
    assert done.state == "done" and done.progress == 1.0 and done.package, done.error
    assert [e["state"] for e in events][-1] == "done"
    assert any(e["state"] == "running" and 0 < e["progress"] < 1 for e in events)
    assert all(e["created_by"] == "investigator" for e in events)
    # The package: stored, verified by the standalone verifier, clips with valid C2PA.
    download = services.exports.package(actors["investigator"], record.id, remote="test")
    assert download.sha256 == done.package.sha256 and download.path.stat().st_size == download.size
    assert verify.main([str(download.path)]) == 0
    with zipfile.ZipFile(download.path) as zf:
        names = zf.namelist()
        assert "c2pa-ca.pem" in names
        clips = [n for n in names if n.startswith("clips/")]
        assert len(clips) == 1
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(zf.read(clips[0]))
        ca = zf.read("c2pa-ca.pem")
    report = read_credentials(clip, ca)
    assert report.state == "Trusted" and "c2pa.edited" in report.actions, report
    # Catalog: the package and the clip are derived items linked to the source (INV-2).
    with services.db.session() as s:
        derived = list(
            s.execute(
                select(MediaItem).where(MediaItem.source == SourceKind.EXPORT.value)
            ).scalars()
        )
        assert len(derived) == 2
        assert {d.content_type for d in derived} == {"application/zip", "video/mp4"}
        for item in derived:
            assert item.derived_from_id == bwc and item.evidence  # REL-2
            links = s.execute(select(MediaLink.source_id).where(MediaLink.media_id == item.id))
            assert list(links.scalars()) == [bwc]
        source = s.get(MediaItem, bwc)
        assert source is not None and source.evidence  # REL-2: the original held too
        custody = s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == bwc, CustodyEvent.action == "exported"
            )
        ).scalar_one()
        assert custody.details["export_id"] == record.id
        audit = s.execute(
            select(AuditEntry).where(AuditEntry.action == "media.export")
        ).scalar_one()  # ACC-10
        assert audit.target == f"export:{record.id}" and audit.actor == "investigator"
        assert audit.details["package_media_id"] == done.package.media_id
        downloads = s.execute(
            select(AuditEntry).where(AuditEntry.action == "media.export.download")
        ).scalars()
        assert len(list(downloads)) == 1
    # The creator sees it in the list, another investigator-level user not; admins all.
    assert [e.id for e in services.exports.list_exports(actors["admin"], _q()).exports] == [
        record.id
    ]
    assert services.exports.list_exports(actors["investigator"], _q()).exports != ()
    with pytest.raises(PermissionDenied):  # records commanders do not view media
        services.exports.list_exports(actors["commander"], _q())
    with pytest.raises(PermissionDenied):
        services.exports.get(actors["commander"], record.id)
    with pytest.raises(PermissionDenied):  # auditors read exports, not their content
        services.exports.package(actors["auditor"], record.id, remote="test")
    assert services.exports.get(actors["auditor"], record.id).state == "done"
    # The case page's provider lists it.
    assert [e.id for e in services.exports.for_case("C-7")] == [record.id]


def _q() -> Any:
    from vms.exports.service import ExportQuery

    return ExportQuery()


def test_an_item_restricted_while_its_export_is_filed_gets_no_export_ACC_7(
    services: Services, actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An investigator asks for an export of a BWC recording at the moment an admin
    restricts it (ACC-7: administration only; an export is a copy of the content). The
    request was checked on the item as read before its transaction, so the export was
    filed and audited (and its job cut the restricted content) after the restriction
    that forbids the investigator the item. It is refused (403, audited) as one sent
    after the restriction is, and no job is left."""
    from tests.races import restricted_after_check
    from vms.auth.permissions import Action

    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seed=2)
    armed = restricted_after_check(
        monkeypatch, services, services.authoriser, Action.EXPORTS_CREATE, actors["admin"], bwc
    )
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.exports.create(
            actors["investigator"],
            NewExport(purpose="court copy", sources=(ExportSource(None, bwc),)),
        )
    assert not armed[0]
    assert exports_count(services) == 0
    with services.db.session() as s:
        assert not s.execute(
            select(AuditEntry.seq).where(
                AuditEntry.action == "export.create", AuditEntry.outcome == "ok"
            )
        ).first()
    assert denied_entries(services) == 1


def test_a_package_restricted_while_it_is_downloaded_is_not_handed_over_ACC_7(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The investigator downloads their export's package (the web route authorises it,
    builds the response, then records the download just before the file goes out) at
    the moment an admin restricts its source, which restricts the package with it
    (ACC-7: administration only). The record did not look again: the package went out,
    its download audited after the restriction. Recording decides again: a 403
    (audited), so the file is not handed over."""
    from vms.catalog_values import RestrictionChange

    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seed=2)
    investigator = actors["investigator"]
    record = services.exports.create(
        investigator, NewExport(purpose="court copy", sources=(ExportSource(None, bwc),))
    )
    assert services.exports.run_pending() == 1
    download = services.exports.authorise_package(investigator, record.id)
    services.catalog.set_restricted(actors["admin"], bwc, RestrictionChange(True, "IA"))
    with pytest.raises(PermissionDenied, match="ACC-7"):
        services.exports.record_download(investigator, download, remote="127.0.0.1")
    with services.db.session() as s:
        outcomes = s.execute(
            select(AuditEntry.outcome).where(AuditEntry.action == "media.export.download")
        ).scalars()
        assert list(outcomes) == ["denied"]


@pytest.mark.parametrize(
    ("change", "refused", "match"),
    [
        ("disabled", PermissionDenied, "disabled"),
        ("demoted", PermissionDenied, "officer"),
        ("promoted", Conflict, "try again"),
    ],
)
def test_a_user_disabled_or_demoted_while_their_export_is_filed_gets_no_export_ACC_1(
    services: Services,
    actors: dict[str, Actor],
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    refused: type[Exception],
    match: str,
) -> None:
    """An investigator asks for an export at the moment an admin disables them, or makes
    them an officer (ACC-1: access only by authorised personnel; officers make no
    exports). The request was authorised with the role it started with, so the export
    was filed and audited after the change that forbids it. The writing transaction
    holds the user's row anyway (the repeat check): it decides again on the user as
    stored, and the request is refused (403, audited) as one sent after the change.
    Made an admin instead: still allowed, but authorised (and audited) with the role it
    started with; a 409 (try again), nothing filed, nothing refused."""
    from tests.races import user_changed_after_check
    from vms.auth.permissions import Action

    bwc = ingest(services, SourceKind.BWC, "BWC-1", T0, badge="B1", seed=2)
    armed = user_changed_after_check(
        monkeypatch, services, services.authoriser, Action.EXPORTS_CREATE, "investigator", change
    )
    with pytest.raises(refused, match=match):
        services.exports.create(
            actors["investigator"],
            NewExport(purpose="court copy", sources=(ExportSource(None, bwc),)),
        )
    assert not armed[0]
    assert exports_count(services) == 0
    assert denied_entries(services) == (refused is PermissionDenied)

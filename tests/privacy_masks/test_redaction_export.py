"""Redaction of an export's clip (issue 16 item 3, ``{media_id | export_id}``; on both
databases): the source is the clip the export catalogued (a derived item of source
``export``), the redacted item is derived from and linked to that clip (INV-2), its
Content Credentials name the clip's hash; an export of several clips needs ``clip``;
bad input (unknown export, export not done, both or neither source, a clip out of
range) is a clear 4xx naming the field, with nothing stored."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from sqlalchemy import select

from privacy_masks.redaction import NewRedaction, RedactionService
from tests.privacy_masks.redaction_media import street_video
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import AuditEntry, Export, MediaItem, MediaLink, SourceKind
from vms.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from vms.exports.credentials import CA_CERT, read_credentials
from vms.exports.service import ExportSource, NewExport, export_clips
from vms.ingest import IngestRequest
from vms.services import Services

T0 = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)


def _ingest(services: Services, minute: int, *, badge: str = "B1") -> str:
    return services.ingestor.ingest(
        io.BytesIO(street_video()),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge=badge,
            recorded_at=T0 + dt.timedelta(minutes=minute),
            original_filename=f"street-{minute}.mp4",
            title="street",
        ),
        Who("setup", "admin"),
    ).media_id


def _export(services: Services, actor: Actor, *media_ids: str) -> str:
    record = services.exports.create(
        actor, NewExport("records request", tuple(ExportSource(None, m) for m in media_ids))
    )
    assert services.exports.run(record.id).state == "done"
    return record.id


def _clips(services: Services, export_id: str) -> list[str]:
    with services.db.session() as s:
        row = s.get(Export, export_id)
        assert row is not None
        return export_clips(row)


def test_redaction_of_an_export_clip_links_to_the_clip_INV_2(
    services: Services, actors: dict[str, Actor]
) -> None:
    """``export_id`` of a one-clip export: the job's source is the clip; the rendered
    item is derived from it and linked to it (INV-2), custody and audit on the clip,
    and its C2PA redaction record names the clip's SHA-256 (not the recording's)."""
    original = _ingest(services, 0)
    investigator = actors["investigator"]
    export_id = _export(services, investigator, original)
    clips = _clips(services, export_id)
    assert len(clips) == 1 and clips[0] != original
    service = services.ports.get(RedactionService)
    job = service.create(
        actors["commander"], NewRedaction(None, ("faces", "plates"), "solid", export_id=export_id)
    )
    assert (job.media_id, job.export_id, job.clip) == (clips[0], export_id, 0)
    assert service.run_pending() == 1
    review = service.get(actors["commander"], job.id)
    assert review.state == "review", review.error
    assert review.video is not None and review.video.frames == 30
    service.render(actors["commander"], job.id)
    assert service.run_pending() == 1
    done = service.get(actors["commander"], job.id)
    assert done.state == "done" and done.rendered_media_id, done.error
    with services.db.session() as s:
        derived = s.get(MediaItem, done.rendered_media_id)
        clip = s.get(MediaItem, clips[0])
        assert derived is not None and clip is not None
        assert clip.source == SourceKind.EXPORT.value
        assert derived.source == SourceKind.REDACTED.value
        assert derived.derived_from_id == clip.id  # INV-2
        links = s.execute(select(MediaLink.source_id).where(MediaLink.media_id == derived.id))
        assert list(links.scalars()) == [clip.id]
        created = s.execute(
            select(AuditEntry).where(AuditEntry.action == "redaction.create")
        ).scalar_one()
        assert created.target == f"media:{clip.id}"
        assert created.details["export"] == {"id": export_id, "clip": 0}
        redacted = s.execute(select(AuditEntry).where(AuditEntry.action == "media.redact"))
        assert redacted.scalar_one().target == f"media:{clip.id}"
        rendered = services.store.path_for(derived.sha256)
        clip_sha = clip.sha256
    ca = (services.config.secrets_dir / CA_CERT).read_bytes()
    report = read_credentials(rendered, ca)
    assert report.state == "Trusted" and not report.failures, report
    record = next(
        a["data"] for a in report.manifest["assertions"] if a["label"] == "org.vms.redaction"
    )
    assert record["original"] == {"media_id": clip.id, "sha256": clip_sha}


def test_export_source_bad_input_is_refused_up_front_issue_16_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Both or neither source, an unknown export (404), an export not done (409), an
    export of two clips without ``clip`` or with one out of range (400), ``clip`` with
    ``media_id`` (400): each names the field, nothing is stored. ``clip`` picks one of
    several; a clip of a restricted source stays admin-only (ACC-7, 403 audited)."""
    first, second = _ingest(services, 0), _ingest(services, 5)
    investigator, commander = actors["investigator"], actors["commander"]
    two = _export(services, investigator, first, second)
    clips = _clips(services, two)
    assert len(clips) == 2
    queued = services.exports.create(
        investigator, NewExport("later", (ExportSource(None, first),))
    ).id
    service = services.ports.get(RedactionService)

    def refused(kind: type[Exception], command: NewRedaction, *words: str) -> None:
        with pytest.raises(kind) as caught:
            service.create(commander, command)
        for word in words:
            assert word in str(caught.value), str(caught.value)

    refused(InvalidArgument, NewRedaction(first, ("faces",), export_id=two), "both given")
    refused(InvalidArgument, NewRedaction(None, ("faces",)), "media_id, export_id", "neither")
    refused(NotFound, NewRedaction(None, ("faces",), export_id="nope"), "export_id", "'nope'")
    refused(Conflict, NewRedaction(None, ("faces",), export_id=queued), "export_id", "queued")
    refused(InvalidArgument, NewRedaction(None, ("faces",), export_id=two), "clip", "2 clips")
    refused(
        InvalidArgument,
        NewRedaction(None, ("faces",), export_id=two, clip=2),
        "clip: 2 is not a clip",
        "0..1",
    )
    refused(InvalidArgument, NewRedaction(first, ("faces",), clip=0), "clip", "export_id")
    with services.db.session() as s:
        made = select(AuditEntry).where(AuditEntry.action == "redaction.create")
        assert s.execute(made).all() == []
    job = service.create(commander, NewRedaction(None, ("faces",), export_id=two, clip=1))
    assert (job.media_id, job.clip) == (clips[1], 1)
    # ACC-7: the clip of a restricted recording is restricted; admins only.
    locked = _ingest(services, 10, badge="B2")
    locked_export = _export(services, actors["admin"], locked)
    with services.db.transaction() as s:
        for media_id in _clips(services, locked_export):
            item = s.get(MediaItem, media_id)
            assert item is not None
            item.restricted = True
    refused(PermissionDenied, NewRedaction(None, ("faces",), export_id=locked_export))
    admin = service.create(actors["admin"], NewRedaction(None, ("faces",), export_id=locked_export))
    assert admin.export_id == locked_export


def test_redaction_api_from_an_export_issue_16_3(
    client: Any, tokens: dict[str, str], services: Services, actors: dict[str, Actor]
) -> None:
    """``POST /api/v1/redactions {export_id}`` -> 202; GET shows ``export_id`` and
    ``clip``; both or neither source 400, unknown export 404, unfinished export 409."""
    media_id = _ingest(services, 0)
    export_id = _export(services, actors["investigator"], media_id)
    h = {"Authorization": f"Bearer {tokens['commander']}"}
    r = client.post(
        "/api/v1/redactions", json={"export_id": export_id, "detect": ["faces"]}, headers=h
    )
    assert r.status_code == 202, r.get_json()
    body = client.get(f"/api/v1/redactions/{r.get_json()['id']}", headers=h).get_json()
    assert body["export_id"] == export_id and body["clip"] == 0
    assert body["media_id"] == _clips(services, export_id)[0]
    queued = services.exports.create(
        actors["investigator"], NewExport("later", (ExportSource(None, media_id),))
    ).id
    for payload, status, words in (
        ({"detect": ["faces"]}, 400, "neither"),
        ({"media_id": media_id, "export_id": export_id, "detect": ["faces"]}, 400, "both"),
        ({"export_id": "nope", "detect": ["faces"]}, 404, "export_id: 'nope'"),
        ({"export_id": queued, "detect": ["faces"]}, 409, "is queued"),
        ({"export_id": export_id, "clip": 3, "detect": ["faces"]}, 400, "clip: 3"),
        ({"export_id": export_id, "clip": -1, "detect": ["faces"]}, 400, "clip"),
    ):
        r = client.post("/api/v1/redactions", json=payload, headers=h)
        assert r.status_code == status, (payload, r.get_json())
        assert words in r.get_json()["error"]["message"], r.get_json()

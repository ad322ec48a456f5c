"""Redaction jobs on both databases (issue 16, item 3, and item 8 for it): bad input
refused up front with nothing stored (404/400/403, refusals audited), an undecodable
video fails its job with nothing in the catalog, render before review is a 409, a killed
job is failed on the jobs role's start; and a full run: analyse, disable a track, add a
manual one, render, and the rendered derived item has the enabled objects' signature
colours gone, the disabled one's still visible, is linked to the original (INV-2), with
the custody event, the audit entry and Content Credentials naming the redaction (REL-3)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from privacy_masks.redaction import (
    EditRedaction,
    ManualTrack,
    NewRedaction,
    RedactionService,
    TrackToggle,
    interpolate,
)
from tests.media import make_audio, make_pdf
from tests.privacy_masks.redaction_media import (
    FPS,
    audio_of,
    frames_of,
    moov_before_mdat,
    scene,
    stream_info,
    street_video,
)
from tests.privacy_masks.scenes import signature_pixels
from vms.audit.log import Who
from vms.auth.permissions import Actor
from vms.db.models import (
    AuditEntry,
    CustodyEvent,
    MediaItem,
    MediaLink,
    Redaction,
    SourceKind,
)
from vms.errors import Conflict, InvalidArgument, NotFound, PermissionDenied, RateLimited
from vms.exports.credentials import CA_CERT, read_credentials
from vms.ingest import IngestRequest
from vms.services import Services

# Signature colours after H.264 (4:2:0 and quantisation): a tolerance wide enough to find
# every visible object pixel, far from the solid fill and the muted background.
TOL = 24


def redactions(services: Services) -> RedactionService:
    return services.ports.get(RedactionService)


def ingest(services: Services, data: bytes, *, badge: str = "B1", name: str = "s.mp4") -> str:
    return services.ingestor.ingest(
        io.BytesIO(data),
        IngestRequest(
            source=SourceKind.BWC,
            device_id="BWC-1",
            officer_badge=badge,
            original_filename=name,
            title="street",
        ),
        Who("setup", "admin"),
    ).media_id


def rows(services: Services) -> int:
    with services.db.session() as s:
        return int(s.execute(select(func.count()).select_from(Redaction)).scalar_one())


def denied(services: Services) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "denied")
            ).scalar_one()
        )


def derived_count(services: Services) -> int:
    with services.db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(MediaItem)
                .where(MediaItem.source == SourceKind.REDACTED.value)
            ).scalar_one()
        )


def test_bad_input_is_refused_up_front_issue_16_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    """Unknown item 404, not a video 400, restricted item by a non-admin 403 (audited),
    bad classes, method and audio ranges 400 naming the field: no job left behind."""
    video = ingest(services, street_video())
    locked = ingest(services, street_video(audio=True), name="locked.mp4", badge="B2")
    with services.db.transaction() as s:
        row = s.get(MediaItem, locked)
        assert row is not None
        row.restricted = True  # ACC-7
    pdf = services.ingestor.ingest(
        io.BytesIO(make_pdf()),
        IngestRequest(source=SourceKind.HANDHELD, device_id="SCAN-1"),
        Who("setup", "admin"),
    ).media_id
    service = redactions(services)
    investigator = actors["investigator"]

    def refused(kind: type[Exception], command: NewRedaction, *words: str, **kw: Any) -> None:
        with pytest.raises(kind) as caught:
            service.create(kw.get("actor", investigator), command)
        for word in words:
            assert word in str(caught.value), str(caught.value)

    refused(NotFound, NewRedaction("no-such-item", ("faces",)), "media_id", "'no-such-item'")
    refused(InvalidArgument, NewRedaction(pdf, ("faces",)), "media_id", "document")
    # Sound alone: no picture to redact, said as such, not "is a audio item".
    sound = ingest(services, make_audio(seconds=2.0), name="interview.m4a")
    refused(InvalidArgument, NewRedaction(sound, ("faces",)), "no video stream", "aac")
    refused(InvalidArgument, NewRedaction(video, ()), "detect")
    refused(InvalidArgument, NewRedaction(video, ("faces", "ghosts")), "detect[1]", "'ghosts'")
    refused(InvalidArgument, NewRedaction(video, ("screens",)), "detect[0]", "[redaction] model")
    refused(InvalidArgument, NewRedaction(video, ("faces",), "smudge"), "method", "'smudge'")
    refused(
        InvalidArgument,
        NewRedaction(video, ("faces",), audio_mute=((2.0, 1.0),)),
        "audio_mute[0]",
        "[2, 1]",
    )
    refused(
        InvalidArgument,
        NewRedaction(video, ("faces",), audio_mute=((0.0, 1.0), (9.0, 10.0))),
        "audio_mute[1]",
        "after the item's end",
    )
    before = denied(services)
    refused(PermissionDenied, NewRedaction(locked, ("faces",)), "restricted")  # ACC-7
    refused(PermissionDenied, NewRedaction(video, ("faces",)), actor=actors["officer"])
    refused(PermissionDenied, NewRedaction(video, ("faces",)), actor=actors["auditor"])
    assert denied(services) == before + 3  # every refusal audited (INV-4)
    assert rows(services) == 0
    # Records commanders prepare releases (REL-1, REL-3): they may; admins the locked one.
    assert service.create(actors["commander"], NewRedaction(video, ("faces",))).state == "queued"
    assert service.create(actors["admin"], NewRedaction(locked, ("faces",))).state == "queued"
    # Whoever may redact the item reads the job; others 403 (audited), unknown 404.
    locked_job = service.create(actors["admin"], NewRedaction(locked, ("plates",)))
    assert service.get(actors["admin"], locked_job.id).media_id == locked
    with pytest.raises(PermissionDenied, match="restricted"):
        service.get(investigator, locked_job.id)
    with pytest.raises(PermissionDenied):
        service.get(actors["auditor"], locked_job.id)
    with pytest.raises(NotFound):
        service.get(investigator, "nope")


def test_an_undecodable_video_fails_its_job_and_leaves_nothing_issue_16_8(
    services: Services, actors: dict[str, Actor]
) -> None:
    media_id = ingest(services, street_video())
    with services.db.session() as s:
        item = s.get(MediaItem, media_id)
        assert item is not None
        path = services.store.path_for(item.sha256)
    path.chmod(0o600)
    path.write_bytes(b"\x00" * 4096)  # the stored file rotted after ingest
    service = redactions(services)
    job = service.create(actors["investigator"], NewRedaction(media_id, ("faces",)))
    with pytest.raises(Conflict, match="renders once its analysis"):
        service.render(actors["investigator"], job.id)  # 409 before analysis
    assert service.run_pending() == 1
    failed = service.get(actors["investigator"], job.id)
    assert failed.state == "failed"
    assert failed.error and media_id in failed.error and "cannot be read" in failed.error
    assert derived_count(services) == 0
    with pytest.raises(Conflict):
        service.render(actors["investigator"], job.id)


def test_a_killed_job_is_failed_on_the_jobs_role_start(
    services: Services, actors: dict[str, Actor]
) -> None:
    media_id = ingest(services, street_video())
    service = redactions(services)
    job = service.create(actors["investigator"], NewRedaction(media_id, ("faces",)))
    queued = service.create(actors["investigator"], NewRedaction(media_id, ("plates",)))
    with services.db.transaction() as s:
        row = s.get(Redaction, job.id)
        assert row is not None
        row.state = "rendering"  # as a SIGKILL mid-render leaves it
    (service.work_dir / job.id).mkdir(parents=True)
    assert service.recover_interrupted() == [job.id]
    after = service.get(actors["investigator"], job.id)
    assert after.state == "failed" and after.error == "interrupted by a restart"
    assert not (service.work_dir / job.id).exists()
    assert service.get(actors["investigator"], queued.id).state == "queued"  # still to run


def test_one_user_has_at_most_max_pending_per_user_jobs_queued_or_running(
    services: Services, actors: dict[str, Actor]
) -> None:
    """The jobs role analyses and renders one job after another: one investigator
    queueing jobs in a loop (each minutes of detection on a long video) used to hold
    everyone else's behind theirs. One more than ``[redaction] max_pending_per_user``,
    or a render beyond it, is RateLimited (429) naming the limit, audited, nothing
    stored; another user still redacts; a job that reaches review frees its place."""
    service = redactions(services)
    limit = service.config.max_pending_per_user
    assert limit == 5  # the default
    media_id = ingest(services, street_video())
    investigator = actors["investigator"]
    muted = iter(range(1, 100))

    def new() -> NewRedaction:
        # Each a request of its own (the same one again while queued is that one).
        return NewRedaction(media_id, ("faces",), audio_mute=((0.0, 0.1 * next(muted)),))

    jobs = [service.create(investigator, new()) for _ in range(limit)]
    before = (rows(services), denied(services))
    with pytest.raises(RateLimited) as refused:
        service.create(investigator, new())
    message = refused.value.message
    assert f"[redaction] max_pending_per_user = {limit}" in message
    assert f"investigator has {limit} redaction jobs queued or running" in message
    assert (rows(services), denied(services)) == (before[0], before[1] + 1)
    with services.db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalar_one()
    assert (entry.actor, entry.action, entry.target) == (
        "investigator",
        "redaction.create",
        f"media:{media_id}",
    )
    assert "max_pending_per_user" in entry.details["reason"]
    other = service.create(actors["admin"], NewRedaction(media_id, ("faces",)))  # per user
    # The first job analysed: in review, it waits for a person and holds no place.
    with services.db.transaction() as s:
        for job in [*jobs[1:], other]:  # the others wait behind it
            row = s.get(Redaction, job.id)
            assert row is not None
            row.state = "failed"
    assert service.run_pending() == 1
    assert service.get(investigator, jobs[0].id).state == "review"
    later = [service.create(investigator, new()) for _ in range(limit)]
    with pytest.raises(RateLimited):  # its render would be one more
        service.render(investigator, jobs[0].id)
    assert service.get(investigator, jobs[0].id).state == "review"
    assert denied(services) == before[1] + 2
    with services.db.transaction() as s:
        row = s.get(Redaction, later[0].id)
        assert row is not None
        row.state = "failed"
    assert service.render(investigator, jobs[0].id).state == "render_queued"


def test_interpolation_of_manual_keyframes() -> None:
    frames = interpolate([(0.0, 0, 0, 10, 10), (1.0, 30, 15, 10, 10)], 10.0, 100)
    assert len(frames) == 11
    assert frames[0] == [0.0, 0, 0, 10, 10] and frames[-1] == [1.0, 30, 15, 10, 10]
    assert frames[5] == [0.5, 15.0, 7.5, 10, 10]
    assert len(interpolate([(0.0, 0, 0, 10, 10), (1.0, 30, 15, 10, 10)], 10.0, 6)) == 6


def test_full_run_analyse_edit_render_REL_3(
    services: Services, actors: dict[str, Actor], tmp_path: Path
) -> None:
    """Faces detected and tracked; the second face's track disabled (kept visible), the
    plate covered by a manual track from two keyframes; rendered solid: no pixel of an
    enabled object's signature colour left, the disabled face still there; the derived
    item is H.264 yuv420p with faststart, linked to the original, with custody, audit and
    Content Credentials (``c2pa.redacted``, the original's SHA-256); audio muted."""
    media_id = ingest(services, street_video(audio=True))
    events: list[dict[str, Any]] = []
    services.events.subscribe(
        lambda topic, p: events.append(p) if topic == "redaction.progress" else None
    )
    service = redactions(services)
    commander = actors["commander"]
    job = service.create(
        commander, NewRedaction(media_id, ("faces",), "solid", audio_mute=((0.5, 1.0),))
    )
    assert service.run_pending() == 1
    review = service.get(commander, job.id)
    assert review.state == "review", review.error
    assert review.video is not None and review.video.frames == 30 and review.video.has_audio
    assert any(e["state"] == "analysing" and 0 < e["progress"] < 1 for e in events)
    truth = scene().objects
    faces = [t for t in review.tracks if t.cls == "face"]
    assert len(faces) == 2, review.tracks
    # Which track is the second face (it starts on the right).
    second = max(faces, key=lambda t: t.frames[0][1])
    plate = truth[2]
    first_f, last_f = 0, 29
    keys = tuple(
        (f / FPS, b.x - 2, b.y - 2, b.w + 4, b.h + 4)
        for f, b in ((first_f, plate.box(first_f)), (last_f, plate.box(last_f)))
    )
    with pytest.raises(InvalidArgument, match=r"tracks\[0\]\.id: 99"):
        service.edit(commander, job.id, EditRedaction(tracks=(TrackToggle(99, False),)))
    with pytest.raises(InvalidArgument, match=r"add\[0\]\.keyframes\[1\]: t = 0 s is not after"):
        service.edit(
            commander,
            job.id,
            EditRedaction(add=(ManualTrack("plate", ((0.0, 1, 1, 5, 5), (0.0, 2, 2, 5, 5))),)),
        )
    with pytest.raises(InvalidArgument, match=r"outside the 320x180 picture"):
        service.edit(
            commander, job.id, EditRedaction(add=(ManualTrack("plate", ((0.0, 400, 1, 5, 5),)),))
        )
    edited = service.edit(
        commander,
        job.id,
        EditRedaction(tracks=(TrackToggle(second.id, False),), add=(ManualTrack("plate", keys),)),
    )
    manual = [t for t in edited.tracks if t.manual]
    assert len(manual) == 1 and len(manual[0].frames) == 30 and manual[0].enabled
    assert [t.enabled for t in edited.tracks if t.id == second.id] == [False]
    rendering = service.render(commander, job.id)
    assert rendering.state == "render_queued"
    with pytest.raises(Conflict):
        service.edit(commander, job.id, EditRedaction(method="blur"))
    assert service.run_pending() == 1
    done = service.get(commander, job.id)
    assert done.state == "done" and done.rendered_media_id, done.error
    with services.db.session() as s:
        derived = s.get(MediaItem, done.rendered_media_id)
        original = s.get(MediaItem, media_id)
        assert derived is not None and original is not None
        assert derived.source == SourceKind.REDACTED.value
        assert derived.derived_from_id == media_id  # INV-2
        links = s.execute(select(MediaLink.source_id).where(MediaLink.media_id == derived.id))
        assert list(links.scalars()) == [media_id]
        custody = s.execute(
            select(CustodyEvent).where(
                CustodyEvent.media_id == media_id, CustodyEvent.action == "redacted"
            )
        ).scalar_one()
        assert custody.actor == "commander" and custody.details["method"] == "solid"
        assert sorted(t["id"] for t in custody.details["tracks"]) == sorted(
            t.id for t in edited.tracks if t.enabled
        )
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "media.redact")).one()[0]
        assert audit.target == f"media:{media_id}" and audit.actor == "commander"
        assert audit.details["redacted_media_id"] == derived.id
        rendered = services.store.path_for(derived.sha256)
        original_sha = original.sha256
    # The pictures (REL-3): no enabled object's signature left; the disabled face shown.
    info = stream_info(rendered)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["audio"]
    assert moov_before_mdat(rendered)
    pictures = frames_of(rendered)
    assert len(pictures) == 30
    enabled_left = 0
    disabled_seen = 0
    assert truth[1].start[0] > truth[0].start[0]  # truth[1] is the disabled face
    for f, img in enumerate(pictures):
        for obj in truth:
            count = signature_pixels(img, obj.signature, obj.box(f), tol=TOL)
            if obj is truth[1]:
                disabled_seen += count > 0
            else:
                enabled_left += count
    assert enabled_left == 0
    assert disabled_seen >= 25  # the disabled face stays visible (entering/leaving aside)
    # Audio: silent in the muted range, the tone elsewhere.
    samples, rate = audio_of(rendered)
    assert np.abs(samples[int(0.55 * rate) : int(0.95 * rate)]).max() == 0.0
    assert np.abs(samples[int(1.2 * rate) : int(1.5 * rate)]).max() > 0.1
    # Content Credentials: trusted with the agency CA, a redaction action per region.
    ca = (services.config.secrets_dir / CA_CERT).read_bytes()
    report = read_credentials(rendered, ca)
    assert report.state == "Trusted" and not report.failures, report
    assert report.actions[0] == "c2pa.created"
    actions = next(
        a["data"]["actions"]
        for a in report.manifest["assertions"]
        if a["label"].startswith("c2pa.actions")
    )
    redacted = [a for a in actions if a.get("description", "").startswith("redacted: ")]
    assert all(a["action"] == "c2pa.edited" for a in redacted)
    assert len(redacted) == len([t for t in edited.tracks if t.enabled]) + 1  # + audio
    for action in redacted:  # each names the original by its hash
        assert action["parameters"]["org.vms.original"]["sha256"] == original_sha
    record = next(
        a["data"] for a in report.manifest["assertions"] if a["label"] == "org.vms.redaction"
    )
    assert record["original"] == {"media_id": media_id, "sha256": original_sha}
    assert record["method"] == "solid" and record["redacted_by"] == "commander"
    assert events[-1]["state"] == "done" and events[-1]["rendered_media_id"] == derived.id
